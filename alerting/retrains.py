"""Retrain-rate alerts (SLI M12): a model that starts more retrains per period than its spec allows.

Pure: a resolved model in, a `RuleGroup` out (None without `retrains:`). The SLI is the number of retrain
events (`POST /v1/events`, kind `retrain`) over the rolling period, recorded per model; above `max` it files
a ticket, since too frequent retraining wastes compute and usually means a trigger loops.
"""

from __future__ import annotations

from contract import MODEL_EVENTS
from slo.links import Links, link_annotations
from slo.rules import AlertingRule, RecordingRule, RuleGroup
from slo.windows import format_duration
from spec import Model

ALERT = "DriftlineRetrainRateHigh"


def retrains_record(period_seconds: int) -> str:
    """The recorded number of retrains of a model over a period (`model:<events family>:retrains1d`)."""
    return f"model:{MODEL_EVENTS.family}:retrains{format_duration(period_seconds)}"


def retrain_rules(m: Model, links: Links = Links()) -> RuleGroup | None:
    """The retrain-count recording rule and the retrain-rate ticket of a model with `retrains:`; else None."""
    limit = m.retrains
    if limit is None:
        return None
    per = format_duration(limit.per_seconds)
    record = retrains_record(limit.per_seconds)
    sel = f'model="{m.name}",kind="retrain"'
    return RuleGroup(
        f"driftline-retrains-{m.name}",
        (
            RecordingRule(record, f"sum by (model) (increase({MODEL_EVENTS.name}{{{sel}}}[{per}]))"),
            AlertingRule(
                alert=ALERT,
                # increase() extrapolates a counter's rise to the window's edges: rounded, it is the events
                expr=f'round({record}{{model="{m.name}"}}) > {limit.max}',
                labels={"severity": "ticket", "model": m.name},
                annotations={
                    "summary": f"{m.name} started more than {limit.max} retrains in {per}",
                    "description": f"{m.name} started {{{{ $value }}}} retrains in the last {per}, over the "
                    f"{limit.max} its spec allows (retrains.max): a retrain trigger may be looping or "
                    "misfiring, and each retrain spends compute. The model dashboard annotates each retrain.",
                    **link_annotations(m.runbook_url or links.runbook(f"{ALERT}.md"), links.model_dashboard(m.name)),
                },
            ),
        ),
    )
