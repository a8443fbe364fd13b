"""`driftline models`: every model the token may read, one line each, from a running collector's API:
versions, records, the newest evaluated window, the features over their alert threshold in it, and
realized accuracy (or MAE) with its interval in the newest window whose labels matured. `driftline status`:
one model at a glance. Both read a running collector's API, or its database directly."""

from __future__ import annotations

from typing import Any, Protocol

#: Drift points read per model to find the newest window (every feature and statistic of a few windows).
DRIFT_POINTS_READ = 500


class ModelReads(Protocol):
    """Where the commands read from: a running collector (`sdk.CollectorClient`) or its database
    (`driftline.store_reads.StoreReads`), both answering with the API's JSON."""

    def models(self) -> list[dict[str, Any]]: ...

    def series(self, model: str, kind: str, *, limit: int = ..., **query: Any) -> list[dict[str, Any]]: ...

    def slos(self) -> list[dict[str, Any]]: ...


def _newest(points: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """The newest window start among `points` of the shortest window length they hold, and its points."""
    if not points:
        return None, []
    first = min(p["window_seconds"] for p in points)  # the API lists every length; show the shortest
    mine = [p for p in points if p["window_seconds"] == first]
    start = max(p["window_start"] for p in mine)
    return start, [p for p in mine if p["window_start"] == start]


def _headline(points: list[dict[str, Any]]) -> str:
    """Accuracy (or MAE) of the newest window with matured labels, with its 95% interval; '-' for none."""
    for p in points:  # newest first
        if p["metric"] not in ("accuracy", "mae") or p["status"] != "ok" or p["value"] is None:
            continue
        interval = f" [{p['lower']:.3f}, {p['upper']:.3f}]" if p["lower"] is not None else ""
        return f"{p['metric']} {p['value']:.3f}{interval}"
    return "-"


def overview(client: ModelReads) -> str:
    """The table `driftline models` prints."""
    rows = [("model", "project", "versions", "records", "newest window", "drifting", "performance")]
    for m in client.models():
        drift = client.series(m["name"], "drift", limit=DRIFT_POINTS_READ)
        start, newest = _newest(drift)
        alerts = sorted({p["feature"] for p in newest if p["status"] == "alert"})
        perf = client.series(m["name"], "performance", limit=200, slice="all")
        versions = m["versions"]
        rows.append((
            m["name"],
            str(m.get("project") or "-"),
            ", ".join(versions[:3]) + (f" and {len(versions) - 3} more" if len(versions) > 3 else "") or "-",
            f"{m['records']:,}",
            (start or "-").replace("T", " ")[:19],
            ", ".join(alerts) if alerts else ("none" if start else "-"),
            _headline(perf),
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) if len(rows) > 1 else "no models yet: send records, or declare models in the spec"


def status(client: ModelReads, model: str) -> str:
    """`driftline status MODEL`: the model at a glance, in text. The newest window's drift (features over
    their alert threshold first), realized accuracy and CBPE's estimate with intervals, the worst data-quality
    check, and each SLO's budget left and alerts firing."""
    drift = client.series(model, "drift", limit=DRIFT_POINTS_READ)
    start, newest = _newest(drift)
    lines = [f"{model}: newest window {(start or '-').replace('T', ' ')[:19]}"
             + (f" ({newest[0]['window']})" if newest else "")]  # fmt: skip
    if newest:
        metric = "psi" if any(p["metric"] == "psi" for p in newest) else newest[0]["metric"]
        ranked = sorted((p for p in newest if p["metric"] == metric and p["value"] is not None),
                        key=lambda p: (p["status"] != "alert", -p["value"]))  # fmt: skip
        shown = ", ".join(
            f"{p['feature']} {p['value']:.3f}" + (" ALERT" if p["status"] == "alert" else "") for p in ranked
        )
        lines.append(f"  drift ({metric}): {shown or '-'}")
    perf = client.series(model, "performance", limit=200, slice="all")
    lines.append(f"  realized: {_headline(perf)}")
    estimate = next((p for p in perf if p["metric"] == "estimated_accuracy" and p["value"] is not None), None)
    if estimate is not None:
        lines.append(f"  estimated (CBPE): accuracy {estimate['value']:.3f} "
                     f"[{estimate['lower']:.3f}, {estimate['upper']:.3f}]")  # fmt: skip
    quality = [q for q in client.series(model, "quality", limit=500) if q["total"]]
    if quality:
        worst = max(quality, key=lambda q: q["count"] / q["total"])
        lines.append(f"  worst data-quality check: {worst['feature']} {worst['check']} "
                     f"{worst['count'] / worst['total']:.1%} of {worst['total']:,}")  # fmt: skip
    for slo in (s for s in client.slos() if s["model"] == model):
        if "remaining" not in slo:
            lines.append(f"  SLO {slo['name']}: judged by Prometheus from the exported gauges")
            continue
        firing = ", ".join(f"{f['severity']} {f['long_window']}/{f['short_window']}" for f in slo["firing"]) or "none"
        if slo.get("budget_ready", True):
            budget = f"{slo['remaining']:.0%} of the budget left"
        else:  # a few seconds of traffic would read "-666% of the budget left"
            burn = max(slo["burn_rates"].values(), default=0.0)
            budget = f"too early for a budget share (burning {burn:.1f}x at most)"
        lines.append(f"  SLO {slo['name']} ({slo['objective']:g}% over {slo['period']}): {budget}; firing: {firing}")
    return "\n".join(lines)
