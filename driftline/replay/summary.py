"""The replay's closing table: one line per event-time window, its most drifted feature and performance."""

from __future__ import annotations

import datetime as dt
from typing import Any

from spec import Model


def _when(value: Any) -> str:
    """A window start as `YYYY-MM-DD HH:MM` UTC, from a datetime or the API's ISO-8601 text."""
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


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
    lines = [f"{'window (event time)':<22}{'records':>9}  {head:<28}{'alerts':<24}{'performance':>26}"]
    first_alert = None
    for start in sorted(set(windows) | set(perf)):
        w = windows.get(start, {"n": 0, "worst": None, "alerts": []})
        pp = perf.get(start)
        worst = f"{w['worst'][0]} {w['worst'][1]:.3f}" if w["worst"] else "-"
        alerts = ", ".join(sorted(w["alerts"])) or "-"
        if w["alerts"] and first_alert is None:
            first_alert = start
        if pp and pp["value"] is not None:
            perf_text = f"{pp['metric']} {pp['value']:.3f} [{pp['lower']:.3f}, {pp['upper']:.3f}]"
            if pp["status"] != "ok":
                perf_text += f" ({pp['status']})"
        else:
            perf_text = "no labels"
        n = w["n"] or (pp["total"] if pp else 0)
        label = _when(start)
        lines.append(f"{label:<22}{n:>9}  {worst:<28}{alerts[:23]:<24}{perf_text:>26}")
    if first_alert is not None:
        lines.append(f"\nFirst window over the alert threshold: {_when(first_alert)}")
    return "\n".join(lines)
