"""SLOs: SLIs as PromQL, error-budget math, the burn-rate policy, and the Prometheus rule generator.

Pure: resolved SLOs and counts in, frozen results and rule data out; `slo.writer` is the only file writer.
"""

from slo.budget import (
    Counts,
    budget_consumed,
    budget_remaining,
    budget_seconds,
    budget_spent,
    burn_rate,
    error_budget,
    time_to_exhaustion,
)
from slo.definition import BUDGETING, SLO, HasSLOs
from slo.rules import AlertingRule, RecordingRule, RuleGroup, alert_name, generate_rules
from slo.status import SLOStatus, WindowBurn, evaluate, fires, required_windows
from slo.windows import (
    MIN_BAD_EVENTS,
    SRE_WORKBOOK_WINDOWS,
    BurnWindow,
    WindowRule,
    bad_events_gate,
    burn_factor,
    fit_to_slices,
    policy,
)
from slo.writer import EmptyRuleSetError, render_rules, write_rule_file, write_rules

__all__ = [
    "BUDGETING",
    "MIN_BAD_EVENTS",
    "SLO",
    "SRE_WORKBOOK_WINDOWS",
    "AlertingRule",
    "BurnWindow",
    "Counts",
    "EmptyRuleSetError",
    "HasSLOs",
    "RecordingRule",
    "RuleGroup",
    "SLOStatus",
    "WindowBurn",
    "WindowRule",
    "alert_name",
    "bad_events_gate",
    "budget_consumed",
    "budget_remaining",
    "budget_seconds",
    "budget_spent",
    "burn_factor",
    "burn_rate",
    "error_budget",
    "evaluate",
    "fires",
    "fit_to_slices",
    "generate_rules",
    "policy",
    "render_rules",
    "required_windows",
    "time_to_exhaustion",
    "write_rule_file",
    "write_rules",
]
