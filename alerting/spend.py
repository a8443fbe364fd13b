"""Spend-budget burn alerts: a priced model's spend rate against its budget, as burn-rate alerts.

Pure: a resolved model in, a `RuleGroup` out. The budget's sustainable spend rate is amount / period per
second; a window row (the SRE workbook's, `slo.windows.default_rules`, scaled to the budget's period)
fires when both its long and short windows spend at `factor` times that rate or faster, `factor` being the
rate that spends the row's share of the period's budget in the long window (2% in 1h and 5% in 6h page,
10% in 1d and 3d file a ticket, for a 30d period: 14.4x, 6x, 3x, 1x).
"""

from __future__ import annotations

from contract import COST
from slo.links import Links, link_annotations
from slo.rules import AlertingRule, RecordingRule, RuleGroup
from slo.windows import burn_factor, default_rules, format_duration
from spec import Model

ALERT = "DriftlineCostBudgetBurn"


def spend_record(window_seconds: int) -> str:
    """The recorded spend rate of a model over a window, per second (`model:<cost family>:rate1h`)."""
    return f"model:{COST.family}:rate{format_duration(window_seconds)}"


def cost_rules(m: Model, links: Links = Links()) -> RuleGroup | None:
    """The spend-rate recording rules and budget burn alerts of a priced model with a budget; else None."""
    p = m.prices
    if p is None or p.budget_amount is None or p.budget_period_seconds is None:
        return None
    period = p.budget_period_seconds
    sustainable = p.budget_amount / period  # spend per second that uses exactly the budget in the period
    rows = default_rules(period)
    windows = sorted({s for r in rows for s in (r.long_seconds, r.short_seconds)})
    sel = f'model="{m.name}"'
    rules: list[RecordingRule | AlertingRule] = [
        RecordingRule(
            spend_record(w),
            f"sum by (model, currency) (rate({COST.name}{{{sel}}}[{format_duration(w)}]))",
        )
        for w in windows
    ]
    for r in rows:
        assert r.budget_share is not None  # the workbook rows are written as shares
        factor = burn_factor(r.budget_share, period, r.long_seconds)
        threshold = factor * sustainable
        long, short = format_duration(r.long_seconds), format_duration(r.short_seconds)
        rules.append(
            AlertingRule(
                alert=ALERT,
                expr=f"{spend_record(r.long_seconds)}{{{sel}}} >= {threshold!r}\n"
                f"and\n{spend_record(r.short_seconds)}{{{sel}}} >= {threshold!r}",
                labels={"severity": r.severity, "model": m.name, "long_window": long, "short_window": short},
                annotations={
                    "summary": f"{m.name} is spending its {p.currency} budget at {factor:g}x the sustainable "
                    f"rate or faster over {long} and {short}",
                    "description": f"{m.name} spends {{{{ $value | humanize }}}} {p.currency} per second over "
                    f"the last {long} (and {short}): at or above {threshold:.6g}, {factor:g}x the "
                    f"{sustainable:.6g} per second that spends the budget of {p.budget_amount:g} {p.currency} "
                    f"in {format_duration(period)}. Held for {long}, this spends "
                    f"{r.budget_share * 100:g}% of the budget.",
                    **link_annotations(
                        m.runbook_url or links.runbook(f"{ALERT}.md"), links.model_dashboard(m.name)
                    ),
                },
            )
        )
    return RuleGroup(f"driftline-cost-{m.name}", tuple(rules))
