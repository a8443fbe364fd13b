"""The model's inputs beside its outputs: data-quality checks and attributions (mean |SHAP| per feature) of
the newest complete window, as summary lines and as two tables."""

from __future__ import annotations

from report.data import AttributionObs, QualityObs, ReportData
from report.text import esc, fmt_num, fmt_pct, fmt_span, status_badge

#: Features named in the summary's attribution line.
TOP_FEATURES = 3


def _share(q: QualityObs) -> float:
    return q.count / q.total if q.total else 0.0


def _window(points: tuple[QualityObs, ...] | tuple[AttributionObs, ...]) -> str:
    return fmt_span(points[0].start, points[0].end)


def health_items(data: ReportData) -> list[str]:
    """Summary lines: the worst failing data-quality check and the features that drive predictions most."""
    items = []
    if data.quality:
        failing = [q for q in data.quality if q.count]
        if failing:
            worst = failing[0]
            badge = status_badge("warn" if _share(worst) < 0.05 else "alert")
            items.append(
                f"<li>{badge} Data quality in {esc(_window(data.quality))}: {len(failing)} checks fail; worst "
                f"{esc(worst.feature)} {esc(worst.check.replace('_', ' '))} in {fmt_pct(_share(worst))} of "
                f"{worst.total:,} records.</li>"
            )
        else:
            items.append(
                f"<li>{status_badge('ok')} Data quality in {esc(_window(data.quality))}: every check "
                "passes.</li>"
            )
    if data.attributions:
        top = [a for a in data.attributions if a.mean_abs is not None][:TOP_FEATURES]
        drifting = [a.feature for a in data.attributions if a.status == "drift"]
        names = ", ".join(f"{a.feature} ({fmt_num(a.mean_abs)})" for a in top)
        items.append(
            f"<li>Features driving predictions most (mean |SHAP|) in {esc(_window(data.attributions))}: "
            f"{esc(names)}"
            + (f"; attributions drifted for {esc(', '.join(drifting))}" if drifting else "")
            + ".</li>"
        )
    return items


def quality_section(data: ReportData) -> str:
    """The data-quality checks that failed in the newest complete window, worst first, and how many passed."""
    head = "<h2>Data quality</h2>"
    if not data.quality:
        return f'<section id="quality">{head}<p class="empty">No complete window with quality checks yet.</p></section>'
    versions = len({q.version for q in data.quality}) > 1
    failing = [q for q in data.quality if q.count]
    passing = len(data.quality) - len(failing)
    rows = []
    for q in failing:
        badge = status_badge("warn" if _share(q) < 0.05 else "alert")
        version = f"<td>{esc(q.version)}</td>" if versions else ""
        rows.append(
            f'<tr data-check="{esc(q.feature)}:{esc(q.check)}"><th scope="row">{esc(q.feature)}</th>{version}'
            f"<td>{esc(q.check.replace('_', ' '))}</td><td class=\"num\">{q.count:,} / {q.total:,}</td>"
            f'<td class="num">{fmt_pct(_share(q), 2)}</td><td>{badge}</td></tr>'
        )
    version_head = '<th scope="col">Version</th>' if versions else ""
    return (
        f'<section id="quality">{head}<table class="data" data-table="quality"><caption>Failed checks in the '
        f"newest complete window, {esc(_window(data.quality))}, worst first; {passing} other checks pass. Feature "
        "“*” is whole records (for example an undeclared feature).</caption>"
        f'<thead><tr><th scope="col">Feature</th>{version_head}<th scope="col">Check</th>'
        '<th scope="col">Failed / records</th><th scope="col">Share</th><th scope="col">Status</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></section>'
    )


def attribution_section(data: ReportData) -> str:
    """Mean |SHAP| per feature in the newest complete window beside the reference's; empty without SHAP."""
    if not data.attributions:
        return ""
    versions = len({a.version for a in data.attributions}) > 1
    rows = []
    for a in data.attributions:
        version = f"<td>{esc(a.version)}</td>" if versions else ""
        rows.append(
            f'<tr data-feature="{esc(a.feature)}"><th scope="row">{esc(a.feature)}</th>{version}'
            f'<td class="num">{fmt_num(a.mean_abs)}</td><td class="num">{fmt_num(a.reference_mean_abs)}</td>'
            f'<td class="num">{a.n:,}</td><td>{status_badge(a.status)}</td></tr>'
        )
    version_head = '<th scope="col">Version</th>' if versions else ""
    return (
        '<section id="attributions"><h2>What drives predictions</h2><table class="data" data-table="attributions">'
        f"<caption>Mean |SHAP| of each feature on the prediction in the newest complete window, "
        f"{esc(_window(data.attributions))}, largest first, beside the reference's; status is the drift verdict on "
        "the attribution values.</caption>"
        f'<thead><tr><th scope="col">Feature</th>{version_head}<th scope="col">Mean |SHAP|</th>'
        '<th scope="col">Reference</th><th scope="col">Explained records</th><th scope="col">Status</th></tr>'
        f'</thead><tbody>{"".join(rows)}</tbody></table></section>'
    )
