"""Traffic-drop alerts: a model's prediction rate against the same hour last week (PromQL ``offset 1w``).

Pure: a resolved model in, a `RuleGroup` out. Weekly seasonality is the usual shape of serving traffic, so
the same hour a week earlier is the baseline a drop is measured against; a model whose last-week rate was
under `RuleOptions.traffic_min_rate` is too quiet for a ratio to mean anything and never alerts.
"""

from __future__ import annotations

from contract import PREDICTIONS
from slo.links import Links, link_annotations
from slo.rules import AlertingRule, RecordingRule, RuleGroup
from spec import Model

ALERT = "DriftlineTrafficDrop"
#: Predictions per second per model and version over 5m, and per model over 1h (the alert's window).
VERSION_RATE = f"model_version:{PREDICTIONS.family}:rate5m"
MODEL_RATE = f"model:{PREDICTIONS.family}:rate1h"


def traffic_rules(
    m: Model, *, ratio: float, min_rate: float, for_: str, links: Links = Links()
) -> RuleGroup:
    """Throughput recording rules and the traffic-drop alert of one model."""
    sel = f'model="{m.name}"'
    now = f"sum by (model) (rate({PREDICTIONS.name}{{{sel}}}[1h]))"
    last_week = f"sum by (model) (rate({PREDICTIONS.name}{{{sel}}}[1h] offset 1w))"
    # no series now (a new collector, a model gone quiet) reads as 0, not as "no data", so it still alerts
    expr = f"({now} or {last_week} * 0)\n< {ratio!r} * {last_week}\nand\n{last_week} >= {min_rate!r}"
    alert = AlertingRule(
        alert=ALERT,
        expr=expr,
        for_=for_,
        labels={"severity": "ticket", "model": m.name},
        annotations={
            "summary": f"{m.name} serves under {ratio * 100:g}% of its traffic of the same hour last week",
            "description": f"{m.name} served {{{{ $value | humanize }}}} predictions per second over the last hour,"
            f" under {ratio * 100:g}% of the same hour a week ago (compared only when that was at least"
            f" {min_rate:g} per second): callers may be failing before they reach the model, or traffic moved"
            " elsewhere.",
            **link_annotations(m.runbook_url or links.runbook(f"{ALERT}.md"), links.model_dashboard(m.name)),
        },
    )
    return RuleGroup(
        f"driftline-traffic-{m.name}",
        (
            RecordingRule(VERSION_RATE, f"sum by (model, version) (rate({PREDICTIONS.name}{{{sel}}}[5m]))"),
            RecordingRule(MODEL_RATE, now),
            alert,
        ),
    )
