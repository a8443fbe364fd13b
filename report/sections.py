"""The page's sections, each a pure function of `ReportData` to HTML: the header, the summary, drift over
time, distributions, performance with its slice table, and the SLO budgets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from report.charts import (
    ALERT_COLOUR,
    CURRENT_COLOUR,
    REFERENCE_COLOUR,
    SERIES_COLOURS,
    WARN_COLOUR,
    BarChart,
    Marker,
    Point,
    Rule,
    Series,
    TimeChart,
    bar_chart,
    budget_chart,
    interval_strip,
    time_chart,
)
from report.data import Distribution, PerfObs, ReportData
from report.health import health_items
from report.text import (
    DASH,
    ESTIMATED,
    TIMES,
    esc,
    fmt_duration,
    fmt_eta,
    fmt_num,
    fmt_pct,
    fmt_span,
    fmt_when,
    metric_name,
    status_badge,
)


def _version_colours(versions: Sequence[str]) -> dict[str, str]:
    """One colour per version, in order, from the colour-blind-safe series palette."""
    return {v: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, v in enumerate(versions)}


def _series_name(version: str, versions: Sequence[str]) -> str:
    """A series label: "version v2" when versions are told apart, else the bare version."""
    return f"version {version}" if len(versions) > 1 else version


def _markers(data: ReportData, start: dt.datetime, end: dt.datetime) -> tuple[Marker, ...]:
    """A deploy marker for each deploy inside [start, end]."""
    return tuple(Marker(f"deploy {v}", at) for v, at in data.deploys if start <= at <= end)


def drift_section(data: ReportData) -> str:
    """Drift over time: one chart per feature of its first statistic, with warn and alert lines."""
    metric, d = data.drift.metrics[0], data.drift
    name = metric_name(metric)
    head = (
        f'<h2>Drift over time</h2><p class="lead">{esc(name)} of each feature against its reference, per '
        f"{esc(fmt_duration(d.window_seconds))} window of event time. Dashed lines: warn at {d.warn:g}, alert at "
        f"{d.alert:g}. Windows with fewer than {d.min_count} values are not plotted.</p>"
    )
    start, end = data.start, data.end
    points = [p for p in data.drift_points if p.metric == metric]
    if start is None or end is None or not points:
        empty = f"No drift windows stored before {esc(fmt_when(data.now))} UTC."
        return f'<section id="drift">{head}<p class="empty">{empty}</p></section>'
    versions = sorted({p.version for p in points})
    colours = _version_colours(versions)
    figures = []
    for feature in data.features:
        mine = [p for p in points if p.feature == feature]
        series = []
        for v in versions:
            pts = tuple(
                Point(
                    p.start,
                    p.end,
                    p.value if p.status != "insufficient_data" else None,
                    note=f"{fmt_span(p.start, p.end)}: {name} {fmt_num(p.value)} ({p.status.replace('_', ' ')}), "
                    f"{p.n_current} values" + (f", version {v}" if len(versions) > 1 else ""),
                )
                for p in mine
                if p.version == v
            )
            if pts:
                series.append(Series(_series_name(v, versions), colours[v], pts))
        judged = [p for p in mine if p.status != "insufficient_data" and p.value is not None]
        over = [p for p in judged if p.status == "alert"]
        newest = max(judged, key=lambda p: (p.start, p.version), default=None)
        desc = (
            f"{name} of {feature} in {len(judged)} windows from {fmt_when(start)} to {fmt_when(end)} UTC; "
            f"{len(over)} over the alert threshold {d.alert:g}"
            + (f", first at {fmt_when(min(p.start for p in over))} UTC" if over else "")
            + (f"; newest {fmt_num(newest.value)} ({newest.status})" if newest else "")
            + "."
        )
        chart = TimeChart(
            kind="drift",
            title=f"{name} of {feature} over time",
            desc=desc,
            y_label=name,
            start=start,
            end=end,
            series=tuple(series),
            rules=(
                Rule(f"warn {d.warn:g}", d.warn, WARN_COLOUR, "warn"),
                Rule(f"alert {d.alert:g}", d.alert, ALERT_COLOUR, "alert"),
            ),
            markers=_markers(data, start, end),
            zero_based=True,
            attrs={"feature": feature},
        )
        badge = status_badge(newest.status) if newest else ""
        figures.append(
            f"<figure><h3>{esc(feature)} {badge}</h3>{time_chart(chart)}"
            f"<figcaption>{esc(desc)}</figcaption></figure>"
        )
    return f'<section id="drift">{head}<div class="grid">{"".join(figures)}</div></section>'


def distribution_section(data: ReportData) -> str:
    """Reference vs current shares per bin in the chosen window, and every statistic of it per feature."""
    head = "<h2>Distributions: reference vs current</h2>"
    if data.distribution_window is None or not data.distributions:
        return f'<section id="distributions">{head}<p class="empty">No window with drift to compare yet.</p></section>'
    version, start, end = data.distribution_window
    metrics = sorted({p.metric for p in data.drift_points}, key=lambda x: (x != data.drift.metrics[0], x))
    lead = (
        f'<p class="lead">Share of values per reference bin in the newest complete window, {esc(fmt_span(start, end))}'
        f" (version {esc(version)}), against the reference the drift was measured with.</p>"
    )
    window_points = {
        (p.feature, p.metric): p for p in data.drift_points if p.start == start and p.version == version
    }
    figures = []
    for dist in data.distributions:
        first = window_points.get((dist.feature, data.drift.metrics[0]))
        score = f"{metric_name(first.metric)} {fmt_num(first.value)}" if first else ""
        desc = (
            f"{dist.feature}: {len(dist.labels)} bins; reference n={dist.reference_n}, current n={dist.current_n}"
            f"; largest share change {_largest_change(dist)}"
            + (f"; {score} ({first.status})" if first else "")
            + "."
        )
        chart = BarChart(
            kind="distribution",
            title=f"Distribution of {dist.feature}: reference vs current",
            desc=desc,
            y_label="Share of values",
            labels=dist.short_labels,
            full_labels=dist.labels,
            groups=(
                ("reference", REFERENCE_COLOUR, dist.reference),
                ("current", CURRENT_COLOUR, dist.current),
            ),
            attrs={"feature": dist.feature},
        )
        missing = (
            f"Missing values: reference {fmt_pct(_share(dist.reference_missing, dist.reference_n))}, current "
            f"{fmt_pct(_share(dist.current_missing, dist.current_n))}."
        )
        badge = status_badge(first.status) if first else ""
        figures.append(
            f"<figure><h3>{esc(dist.feature)} {badge}</h3>{bar_chart(chart)}"
            f"<figcaption>{esc(desc)} {esc(missing)}</figcaption></figure>"
        )
    # the newest window's every metric, one row per feature
    cells = "".join(f'<th scope="col">{esc(metric_name(x))}</th>' for x in metrics)
    rows = []
    for feature in data.features:
        pts = [window_points.get((feature, x)) for x in metrics]
        first = window_points.get((feature, data.drift.metrics[0]))
        if first is None:
            continue
        values = "".join(f'<td class="num">{fmt_num(p.value if p else None)}</td>' for p in pts)
        rows.append(
            f'<tr><th scope="row">{esc(feature)}</th>{values}<td>{status_badge(first.status)}</td>'
            f'<td class="num">{first.n_current}</td></tr>'
        )
    table = (
        f'<table class="data" data-table="drift"><caption>Drift in {esc(fmt_span(start, end))}, every metric '
        f"(the status is judged on {esc(metric_name(data.drift.metrics[0]))})</caption>"
        f'<thead><tr><th scope="col">Feature</th>{cells}<th scope="col">Status</th>'
        f'<th scope="col">Values</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
    return (
        f'<section id="distributions">{head}{lead}<div class="grid">{"".join(figures)}</div>{table}</section>'
    )


def _share(part: int, whole: int) -> float | None:
    """Missing values as a share of all values seen; None when there were none."""
    return part / (part + whole) if part + whole else None


def _largest_change(dist: Distribution) -> str:
    """The bin whose share moved most between reference and current, as text."""
    if not dist.labels:
        return "none"
    i = max(range(len(dist.labels)), key=lambda k: (abs(dist.current[k] - dist.reference[k]), -k))
    return f"{dist.labels[i]} {fmt_pct(dist.reference[i])} → {fmt_pct(dist.current[i])}"


def _perf_metric(points: Sequence[PerfObs]) -> str | None:
    """The headline metric: accuracy for classifiers, MAE for regressors, else the most frequent one."""
    counts: dict[str, int] = {}
    for p in points:
        counts[p.metric] = counts.get(p.metric, 0) + 1
    for headline in ("accuracy", "mae"):
        if headline in counts:
            return headline
    return min(counts, key=lambda k: (-counts[k], k)) if counts else None


def _accuracy_target(data: ReportData, metric: str) -> float | None:
    """The lowest accuracy SLO target of the model, drawn as a rule on the accuracy chart."""
    if metric != "accuracy":
        return None
    targets = sorted({s.target for s, _ in data.slos if s.sli == "accuracy" and s.target is not None})
    return targets[0] if targets else None


def _slice_window(points: Sequence[PerfObs], now: dt.datetime) -> tuple[dt.datetime, str] | None:
    """The newest complete window whose labels matured (else the newest complete, else the newest)."""
    overall = [p for p in points if p.slice == "all"]
    for how, pool in (
        ("matured", [p for p in overall if p.end <= now and p.status == "ok"]),
        ("complete", [p for p in overall if p.end <= now]),
        ("newest", overall or list(points)),
    ):
        if pool:
            return max(p.start for p in pool), how
    return None


def performance_section(data: ReportData) -> str:
    """Realized performance over time with intervals, then the slice table of one window."""
    head = "<h2>Performance</h2>"
    metric = _perf_metric(data.perf_points)
    start, end = data.start, data.end
    if metric is None or start is None or end is None:
        return (
            f'<section id="performance">{head}<p class="empty">No labelled windows yet: performance needs '
            "ground truth (log_labels or replay --label-column).</p></section>"
        )
    name = metric_name(metric)
    overall = [p for p in data.perf_points if p.slice == "all" and p.metric == metric]
    versions = sorted({p.version for p in overall})
    colours = _version_colours(versions)
    series = []
    for v in versions:
        pts = tuple(
            Point(
                p.start,
                p.end,
                p.value if p.status != "insufficient_data" else None,
                p.lower,
                p.upper,
                note=f"{fmt_span(p.start, p.end)}: {name} {fmt_num(p.value)} [{fmt_num(p.lower)}, {fmt_num(p.upper)}], "
                f"{p.support} of {p.total} labelled ({p.status.replace('_', ' ')})",
                hollow=p.status != "ok",
            )
            for p in overall
            if p.version == v
        )
        series.append(Series(_series_name(v, versions), colours[v], pts, band=True))
    series += _estimate_series(data, metric, versions, colours)
    target = _accuracy_target(data, metric)
    rules = (Rule(f"SLO target {target:g}", target, ALERT_COLOUR, "target"),) if target is not None else ()
    shown = [p for p in overall if p.value is not None and p.status != "insufficient_data"]
    low = min(shown, key=lambda p: (p.value or 0.0, p.start), default=None)
    desc = (
        f"Realized {name.lower()} of all predictions in {len(shown)} windows from {fmt_when(start)} to "
        f"{fmt_when(end)} UTC, with 95% intervals"
        + (f"; lowest {fmt_num(low.value)} at {fmt_when(low.start)} UTC" if low else "")
        + (f"; SLO target {target:g}" if target is not None else "")
        + ". Hollow points: labels not matured."
        + (" Dashed: CBPE's estimate from the scores alone, which needs no labels." if len(series) > len(versions)
           else "")
    )
    chart = TimeChart(
        kind="performance",
        title=f"{name} per window",
        desc=desc,
        y_label=name,
        start=start,
        end=end,
        series=tuple(series),
        rules=rules,
        markers=_markers(data, start, end),
        zero_based=metric != "accuracy",
        width=900,
        height=300,
        y_cap=1.0 if metric == "accuracy" else None,
    )
    figure = (
        f'<figure class="wide"><h3>{esc(name)} over time</h3>{time_chart(chart)}'
        f"<figcaption>{esc(desc)}</figcaption></figure>"
    )
    return f'<section id="performance">{head}{figure}{_slice_table(data, metric)}</section>'


def _estimate_series(
    data: ReportData, metric: str, versions: Sequence[str], colours: Mapping[str, str]
) -> list[Series]:
    """CBPE's estimated accuracy per version, dashed beside the realized line (classifiers only)."""
    if metric != "accuracy":
        return []
    estimated = [p for p in data.perf_points if p.slice == "all" and p.metric == ESTIMATED]
    out = []
    for v in versions:
        pts = tuple(
            Point(p.start, p.end, p.value, p.lower, p.upper,
                  note=f"{fmt_span(p.start, p.end)}: CBPE estimate {fmt_num(p.value)} "
                       f"[{fmt_num(p.lower)}, {fmt_num(p.upper)}] from {p.total} scored records")
            for p in estimated
            if p.version == v and p.value is not None
        )  # fmt: skip
        if pts:
            out.append(Series(f"{_series_name(v, versions)} CBPE estimate", colours[v], pts, dashed=True))
    return out


def _versus_target(p: PerfObs, target: float | None) -> str:
    """A slice judged against the accuracy SLO's target: below it (wholly, or with its interval reaching
    it) or meeting it; empty without a target or a value."""
    if target is None or p.value is None or p.status == "insufficient_data":
        return ""
    if p.upper is not None and p.upper < target:
        return status_badge("alert", "below target")
    if p.value < target:
        return f"{status_badge('warn', 'below target')} interval reaches it"
    return status_badge("ok", "meets target")


def _slice_table(data: ReportData, metric: str) -> str:
    """Each slice's value and interval in one window, marked where it lies wholly off the overall one."""
    points = [p for p in data.perf_points if p.metric == metric]
    chosen = _slice_window(points, data.now)
    if chosen is None:
        return ""
    start, how = chosen
    rows_in = sorted(
        (p for p in points if p.start == start),
        key=lambda p: (p.slice != "all", p.slice, p.version),
    )
    versions = sorted({p.version for p in rows_in})
    overall = {p.version: p for p in rows_in if p.slice == "all"}
    bounds = [v for p in rows_in for v in (p.lower, p.upper, p.value) if v is not None]
    lo, hi = (min(bounds), max(bounds)) if bounds else (0.0, 1.0)
    pad = (hi - lo) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad
    end = rows_in[0].end if rows_in else start
    target = _accuracy_target(data, metric)
    rows = []
    for p in rows_in:
        base = overall.get(p.version)
        versus = DASH
        if base is not None and p is not base and None not in (p.upper, p.lower, base.upper, base.lower):
            if (p.upper or 0.0) < (base.lower or 0.0):
                versus = "lower ▼"
            elif (p.lower or 0.0) > (base.upper or 0.0):
                versus = "higher ▲"
        strip = ""
        if p.value is not None and p.lower is not None and p.upper is not None:
            title = f"{p.slice}: {metric} {fmt_num(p.value)}, 95% interval {fmt_num(p.lower)}{DASH}{fmt_num(p.upper)}"
            strip = interval_strip(
                p.value,
                p.lower,
                p.upper,
                lo,
                hi,
                base.value if base is not None and p is not base else None,
                title,
            )
        version_cell = f"<td>{esc(p.version)}</td>" if len(versions) > 1 else ""
        coverage = f" ({fmt_pct(p.support / p.total, 0)})" if p.total else ""
        rows.append(
            f'<tr data-slice="{esc(p.slice)}"><th scope="row">{esc(p.slice)}</th>{version_cell}'
            f'<td class="num">{fmt_num(p.value)}</td><td class="num">[{fmt_num(p.lower)}, {fmt_num(p.upper)}]</td>'
            f'<td class="strip">{strip}</td><td class="num">{p.support} / {p.total}{coverage}</td>'
            f"<td>{status_badge(p.status)}</td><td>{versus}</td>"
            + (f"<td>{_versus_target(p, target)}</td>" if target is not None else "")
            + "</tr>"
        )
    version_head = '<th scope="col">Version</th>' if len(versions) > 1 else ""
    which = {
        "matured": "newest complete window with matured labels",
        "complete": "newest complete window (labels not matured yet)",
    }.get(how, "newest window (not complete yet)")
    return (
        f'<table class="data" data-table="slices"><caption>{esc(metric_name(metric))} per slice, {which}: '
        f"{esc(fmt_span(start, end))}. Intervals are 95%; “vs. all” marks a slice whose interval lies wholly "
        "outside the overall one"
        + (f"; “vs. SLO target” judges each slice against the accuracy SLO's target {target:g}" if target is not None
           else "")
        + ". Status says whether the slice's labels matured.</caption>"
        f'<thead><tr><th scope="col">Slice</th>{version_head}<th scope="col">Value</th>'
        f'<th scope="col">95% interval</th><th scope="col">Interval plot</th><th scope="col">Labelled / records</th>'
        f'<th scope="col">Status</th><th scope="col">vs. all</th>'
        + ('<th scope="col">vs. SLO target</th>' if target is not None else "")
        + f'</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def slo_section(data: ReportData) -> str:
    """Error budget bars and a table of burn rates and firing alerts per SLO."""
    head = "<h2>SLOs: error budgets and burn rates</h2>"
    if not data.slos:
        return f'<section id="slos">{head}<p class="empty">No SLOs for this model in the spec.</p></section>'
    computed = [(s, r) for s, r in data.slos if _budget_shown(r)]
    chart = ""
    if computed:
        desc = "; ".join(f"{s.name}: {fmt_pct(r['remaining'])} left" for s, r in computed) + "."
        bars = [(s.name, float(r["remaining"])) for s, r in computed]
        svg = budget_chart(bars, "Error budget remaining per SLO", desc)
        chart = (
            f'<figure class="half"><h3>Error budget remaining at {esc(fmt_when(data.now))} UTC</h3>{svg}'
            f"<figcaption>{esc(desc)}</figcaption></figure>"
        )
    rows = []
    for s, r in data.slos:
        objective = f"{s.objective:g}% over {esc(r.get('period', ''))}"
        if r.get("remaining") is None:
            rows.append(
                f'<tr data-slo="{esc(s.name)}"><th scope="row">{esc(s.name)}</th><td>{esc(s.sli)}</td>'
                f'<td>{objective}</td><td colspan="5">{esc(s.budgeting)}: judged by Prometheus from the '
                "exported gauges, not stored in the database</td></tr>"
            )
            continue
        events = _period_events(r)
        if not events:
            rows.append(
                f'<tr data-slo="{esc(s.name)}"><th scope="row">{esc(s.name)}</th><td>{esc(s.sli)}</td>'
                f'<td>{objective}</td><td colspan="5">no events in the last {esc(r.get("period", ""))}: '
                "nothing to spend the budget on yet</td></tr>"
            )
            continue
        left = fmt_pct(r["remaining"]) if r.get("budget_ready", True) else "too early"
        burns = " · ".join(f"{esc(w)} {fmt_num(b, 2)}" for w, b in (r.get("burn_rates") or {}).items())
        tte = r.get("time_to_exhaustion_seconds")
        firing = ", ".join(
            f"{esc(f['severity'])} ({esc(f['long_window'])}/{esc(f['short_window'])} {TIMES}{f['factor']:g})"
            for f in r.get("firing", ())
        )
        rows.append(
            f'<tr data-slo="{esc(s.name)}"><th scope="row">{esc(s.name)}</th><td>{esc(s.sli)}</td>'
            f'<td>{objective}</td><td class="num">{left}</td>'
            f'<td class="num">{fmt_pct(r.get("error_ratio"), 3)} of {events:,.0f}</td><td>{burns}</td>'
            f"<td>{esc(fmt_eta(tte))}</td><td>{firing or 'none'}</td></tr>"
        )
    table = (
        '<table class="data" data-table="slos"><caption>Burn rate 1 spends the budget exactly over the period; '
        "the multi-window alerts fire when both of their windows burn faster than their factor. Budget left is "
        "“too early” until events span the fastest alert's long window and the budget allows one bad event."
        "</caption>"
        '<thead><tr><th scope="col">SLO</th><th scope="col">SLI</th><th scope="col">Objective</th>'
        '<th scope="col">Budget left</th><th scope="col">Error ratio (of events)</th>'
        '<th scope="col">Burn rate per window</th><th scope="col">Budget gone in</th>'
        f'<th scope="col">Alerts firing</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
    return f'<section id="slos">{head}{chart}{table}</section>'


def _budget_shown(report: Mapping[str, Any]) -> bool:
    """Whether the SLO's budget left is drawn as a share: computed here, with events, and enough history."""
    return report.get("remaining") is not None and bool(_period_events(report)) and report.get("budget_ready", True)


def _period_events(report: Mapping[str, Any]) -> float:
    """Events the SLO counted over its whole period (0 when nothing was measured yet)."""
    return float((report.get("events") or {}).get(report.get("period", ""), 0.0) or 0.0)


def summary(data: ReportData) -> str:
    """ "At a glance": drift alerts in the newest window, the headline metric and the SLO budgets."""
    items = []
    metric = data.drift.metrics[0]
    if data.distribution_window is not None:
        version, start, end = data.distribution_window
        newest = [
            p for p in data.drift_points if p.metric == metric and p.start == start and p.version == version
        ]
        alerting = sorted(
            (p for p in newest if p.status == "alert"), key=lambda p: (-(p.value or 0.0), p.feature)
        )
        if alerting:
            names = ", ".join(f"{p.feature} ({fmt_num(p.value)})" for p in alerting)
            items.append(
                f"<li>{status_badge('alert')} Drift: {len(alerting)} of {len(newest)} features over the alert "
                f"threshold in {esc(fmt_span(start, end))}: {esc(names)}.</li>"
            )
        else:
            items.append(
                f"<li>{status_badge('ok')} Drift: no feature over the alert threshold in the newest complete "
                "window.</li>"
            )
        first = min(
            (p.start for p in data.drift_points if p.metric == metric and p.status == "alert"), default=None
        )
        if first is not None:
            items.append(f"<li>First window over the alert threshold: {esc(fmt_when(first))} UTC.</li>")
    perf_metric = _perf_metric(data.perf_points)
    if perf_metric is not None:
        chosen = _slice_window([p for p in data.perf_points if p.metric == perf_metric], data.now)
        overall = [
            p
            for p in data.perf_points
            if p.slice == "all" and p.metric == perf_metric and chosen is not None and p.start == chosen[0]
        ]
        which = {"matured": "the newest complete window with matured labels",
                 "complete": "the newest complete window (labels not matured yet)"}.get(
                     chosen[1] if chosen else "", "the newest window (not complete yet)")  # fmt: skip
        target = _accuracy_target(data, perf_metric)
        for p in overall:
            items.append(
                f"<li>{_versus_target(p, target)} {esc(metric_name(perf_metric))} in {which}, "
                f"{esc(fmt_span(p.start, p.end))}: {fmt_num(p.value)} [{fmt_num(p.lower)}, {fmt_num(p.upper)}] "
                f"on {p.support} labels ({esc(p.version)})"
                + (f"; SLO target {target:g}" if target is not None else "")
                + ".</li>"
            )
        items += _estimate_items(data, target)
    items += health_items(data)
    for s, r in data.slos:
        if r.get("remaining") is None or not _period_events(r):
            continue
        firing = r.get("firing") or []
        severities = sorted({str(f["severity"]) for f in firing}, key=lambda x: (x != "page", x))
        alert = f"; firing: {esc(', '.join(severities))}" if firing else ""
        if not _budget_shown(r):
            burn = max((r.get("burn_rates") or {}).values(), default=0.0)
            items.append(
                f"<li>{status_badge('alert' if firing else 'none', 'too early')} {esc(s.name)}: too little history "
                f"for a budget share yet; burning {fmt_num(burn, 1)}{TIMES} at most{alert}.</li>"
            )
            continue
        badge = status_badge("alert" if firing else "warn" if r["remaining"] <= 0.5 else "ok")
        items.append(
            f"<li>{badge} {esc(s.name)}: {fmt_pct(r['remaining'])} of the error budget left{alert}.</li>"
        )
    if not items:
        items.append("<li>No data yet.</li>")
    return f'<section id="summary"><h2>At a glance</h2><ul>{"".join(items)}</ul></section>'


def _estimate_items(data: ReportData, target: float | None) -> list[str]:
    """CBPE's estimate in the newest complete window: what accuracy is heading to before labels arrive."""
    estimated = [p for p in data.perf_points if p.slice == "all" and p.metric == ESTIMATED and p.end <= data.now]
    if not estimated:
        return []
    start = max(p.start for p in estimated)
    return [
        f"<li>{_versus_target(p, target)} Estimated accuracy (CBPE, from scores alone) in the newest complete "
        f"window, {esc(fmt_span(p.start, p.end))}: {fmt_num(p.value)} [{fmt_num(p.lower)}, {fmt_num(p.upper)}] "
        f"on {p.total} records ({esc(p.version)}).</li>"
        for p in sorted(estimated, key=lambda p: p.version)
        if p.start == start
    ]


def header(data: ReportData) -> str:
    """The page header: model, versions, deploys, time range, drift settings and source."""
    start, end = data.start, data.end
    span = f"{fmt_when(start)} to {fmt_when(end)} UTC" if start and end else "no windows yet"
    windows = len(data.window_starts)
    left_out = f" (the {data.windows_left_out} older windows are left out)" if data.windows_left_out else ""
    versions = ", ".join(esc(v) for v in data.versions) or "none seen"
    deploys = "; ".join(f"{esc(v)} first seen {esc(fmt_when(at))} UTC" for v, at in data.deploys)
    runbook = ""
    if data.runbook_url and data.runbook_url.startswith(("https://", "http://")):
        runbook = f'<dt>Runbook</dt><dd><a href="{esc(data.runbook_url)}">{esc(data.runbook_url)}</a></dd>'
    d = data.drift
    settings = (
        f"{esc(', '.join(metric_name(x) for x in d.metrics))} per {esc(fmt_duration(d.window_seconds))} window; "
        f"warn {d.warn:g}, alert {d.alert:g}"
        + ("" if data.in_spec else " (defaults: the model is not in the spec)")
    )
    return (
        f'<header><p class="kicker">Driftline model report</p><h1>{esc(data.model)}</h1><dl class="meta">'
        f"<dt>Versions</dt><dd>{versions}</dd>"
        + (f"<dt>Deploys</dt><dd>{deploys}</dd>" if deploys else "")
        + f"<dt>Time range</dt><dd>{esc(span)}, {windows} windows{esc(left_out)}</dd>"
        f"<dt>Generated</dt><dd>{esc(fmt_when(data.now))} UTC (figures as of this time)</dd>"
        f"<dt>Drift</dt><dd>{settings}</dd>{runbook}"
        f"<dt>Source</dt><dd><code>{esc(data.source)}</code></dd></dl></header>"
    )
