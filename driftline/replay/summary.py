"""The replay's closing table: one line per event-time window, its most drifted feature and performance."""

from __future__ import annotations

import datetime as dt
from typing import Any

from spec import Model


def _when(value: Any, window_seconds: int = 3600) -> str:
    """A window start as `YYYY-MM-DD HH:MM` UTC (with seconds for windows shorter than a minute), from a
    datetime or the API's ISO-8601 text."""
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M" if window_seconds % 60 == 0 else "%Y-%m-%d %H:%M:%S")


def summary(model: Model, drift: list[dict[str, Any]], performance: list[dict[str, Any]]) -> str:
    """One line per event-time window of the model's first length: the most drifted feature by the first
    metric, and accuracy (MAE for a regressor) with its interval."""
    metric = model.drift.metrics[0]
    first = model.drift.window_seconds
    drift = [p for p in drift if p.get("window_seconds", first) == first]
    performance = [p for p in performance if p.get("window_seconds", first) == first]
    windows: dict[Any, dict[str, Any]] = {}
    for p in drift:
        if p["metric"] != metric or p["value"] is None:
            continue
        w = windows.setdefault(p["window_start"], {"n": p["n_current"], "worst": None, "alerts": []})
        if w["worst"] is None or p["value"] > w["worst"][1]:
            w["worst"] = (p["feature"], p["value"], p["status"])
        if p["status"] == "alert":
            w["alerts"].append(p["feature"])
    headline = "mae" if model.prediction_type == "regression" else "accuracy"
    perf = {p["window_start"]: p for p in performance if p["slice"] == "all" and p["metric"] == headline}
    head = f"most drifted ({metric})"
    rows: list[tuple[str, str, str, str, str]] = []
    first_alert = None
    for start in sorted(set(windows) | set(perf)):
        w = windows.get(start, {"n": 0, "worst": None, "alerts": []})
        pp = perf.get(start)
        worst = f"{w['worst'][0]} {w['worst'][1]:.3f}" if w["worst"] else "-"
        if w["alerts"] and first_alert is None:
            first_alert = start
        if pp and pp["value"] is not None:
            perf_text = f"{pp['metric']} {pp['value']:.3f} [{pp['lower']:.3f}, {pp['upper']:.3f}]"
            if pp["status"] != "ok":
                perf_text += f" ({pp['status']})"
        else:
            perf_text = "no labels"
        n = w["n"] or (pp["total"] if pp else 0)
        rows.append((_when(start, first), f"{n:,}", worst, alert_list(w["alerts"]), perf_text))
    header = ("window (event time)", "records", head, "alerts", "performance")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [_row(header, widths)] + [_row(r, widths) for r in rows]
    if first_alert is not None:
        lines.append(f"\nFirst window over the alert threshold: {_when(first_alert, first)}")
    return "\n".join(lines)


#: Features an alerts cell names before it counts the rest.
MAX_LISTED_ALERTS = 3


def alert_list(features: list[str]) -> str:
    """The features over the alert threshold, the first few by name and the rest counted: never cut
    inside a name."""
    names = sorted(features)
    if not names:
        return "-"
    shown = ", ".join(names[:MAX_LISTED_ALERTS])
    rest = len(names) - MAX_LISTED_ALERTS
    return shown + (f" and {rest} more" if rest > 0 else "")


def _row(cells: tuple[str, ...], widths: list[int]) -> str:
    """One table line: text columns left-aligned, the record count right-aligned, two spaces apart."""
    out = [c.rjust(w) if i == 1 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
    return "  ".join(out).rstrip()
