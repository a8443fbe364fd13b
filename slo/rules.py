"""The rule generator: resolved SLOs in, Prometheus recording and alerting rules out, as plain data.

Per SLO, one group `driftline-slo-<name>`: the timeslice verdict (timeslices budgeting), the bad and all
event counts (occurrences) and the error ratio at every window the policy uses, the period's ratio summed
from the shortest window's counts, the bad-slice counts the gate reads (timeslices), the objective and
budget, and one alert per burn window. Recording rules come first and in dependency order, so that each
rule, and the alerts, see this evaluation's values of the rules they read.

A burn alert fires when both windows burn at the threshold and the long window holds the gate's bad events
or slices (`BurnWindow.min_bad_events`, compared at half an event below it, so `increase`'s extrapolation
and the sample on a window's edge cannot tip one bad event or slice over). A short window without any event
(calls stopped) is no sign of recovery: it neither holds an alert back nor resolves it; the long window
decides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from slo.budget import complement, product
from slo.definition import SLO, HasSLOs
from slo.links import Links, link_annotations
from slo.sli import (
    TIMESLICE_RECORD,
    bad_event_count,
    bad_events_phrase,
    bad_events_record,
    bad_slice_count,
    bad_slices_record,
    bad_unit,
    error_ratio,
    evaluation_seconds,
    event_count,
    event_unit,
    events_record,
    period_ratio,
    ratio_record,
    timeslice_verdict,
)
from slo.windows import BurnWindow, format_duration


@dataclass(frozen=True)
class RecordingRule:
    """A Prometheus recording rule: `record` is the new series' name, `labels` are added to it."""

    record: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertingRule:
    """A Prometheus alerting rule. Burn-rate alerts need no `for` (their short window keeps them from
    flapping); threshold alerts such as drift hold for `for_` before firing."""

    alert: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    for_: str | None = None


@dataclass(frozen=True)
class RuleGroup:
    """Rules evaluated together, in order."""

    name: str
    rules: tuple[RecordingRule | AlertingRule, ...]
    interval: str | None = None  # the group's own evaluation interval; None: Prometheus's global one


#: The shipped runbook for every burn-rate alert; each SLI kind has its own section (anchor).
SLO_RUNBOOK = "DriftlineErrorBudgetBurn.md"


def alert_name(slo: SLO) -> str:
    """The alert's name: the SLO's name in CamelCase, then ErrorBudgetBurn (CreditAvailabilityErrorBudgetBurn)."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", slo.name) if w]
    return "".join(w[0].upper() + w[1:] for w in words) + "ErrorBudgetBurn"


def _percent(share: float) -> str:
    return f"{product(share, 100):g}%"


def recording_rules(slo: SLO) -> tuple[RecordingRule, ...]:
    """The SLO's recorded series: verdicts, counts and error ratios per window, gate counts and budget metadata."""
    labels = {"model": slo.model, "sli": slo.sli, "slo": slo.name}
    rules: list[RecordingRule] = []
    alerted = sorted({s for w in slo.windows for s in (w.long_seconds, w.short_seconds)})
    if slo.budgeting == "timeslices":
        rules.append(RecordingRule(TIMESLICE_RECORD, timeslice_verdict(slo), labels))
        rules += [RecordingRule(ratio_record(w), error_ratio(slo, w), labels) for w in slo.measured_windows]
        gated = sorted({w.long_seconds for w in slo.windows if w.min_bad_events > 0})
        rules += [RecordingRule(bad_slices_record(w), bad_slice_count(slo, w), labels) for w in gated]
    else:
        for w in alerted:
            rules += [
                RecordingRule(bad_events_record(w), bad_event_count(slo, w), labels),
                RecordingRule(events_record(w), event_count(slo, w), labels),
                RecordingRule(ratio_record(w), error_ratio(slo, w), labels),
            ]
        if slo.period_seconds not in alerted:
            if alerted:
                ratio = period_ratio(slo, alerted[0])
            else:
                bad, total = bad_event_count(slo, slo.period_seconds), event_count(slo, slo.period_seconds)
                ratio = f"{bad}\n/\n{total}"
            rules.append(RecordingRule(ratio_record(slo.period_seconds), ratio, labels))
    budget = slo.error_budget
    period = ratio_record(slo.period_seconds)
    rules += [
        RecordingRule("slo:objective:ratio", f"vector({complement(budget)!r})", labels),
        RecordingRule("slo:error_budget:ratio", f"vector({budget!r})", labels),
        RecordingRule(
            "slo:period_error_budget_remaining:ratio",
            f'1 - {period}{{slo="{slo.name}"}} / {budget!r}',
            labels,
        ),
    ]
    return tuple(rules)


def alerting_rule(slo: SLO, window: BurnWindow, links: Links = Links()) -> AlertingRule:
    """The alert for one burn window: both windows at or above the threshold (a short window without events
    does not hold it back), and the gate's bad events or slices in the long window. It links the model's
    runbook (else the shipped one, at the SLI's section) and the SLO dashboard on this SLO, where `links`
    has a base for them."""
    sel = f'{{slo="{slo.name}"}}'
    threshold = repr(window.error_ratio_threshold)
    long, short = format_duration(window.long_seconds), format_duration(window.short_seconds)
    short_burns = f"{ratio_record(window.short_seconds)}{sel} >= {threshold}"
    occurrences = slo.budgeting == "occurrences"
    if occurrences:
        short_burns = f"(\n  {short_burns}\n  or\n  {events_record(window.short_seconds)}{sel} == 0\n)"
    conditions = [f"{ratio_record(window.long_seconds)}{sel} >= {threshold}", short_burns]
    if window.min_bad_events > 0:
        gate_record = bad_events_record if occurrences else bad_slices_record
        conditions.append(f"{gate_record(window.long_seconds)}{sel} >= {window.min_bad_events - 0.5:g}")
    name = alert_name(slo)
    labels = {"severity": window.severity, "slo": slo.name, "model": slo.model}
    labels |= {"long_window": long, "short_window": short}
    if slo.version:
        labels["version"] = slo.version
    gate = (
        f" It fires only once the last {long} holds at least {window.min_bad_events} {bad_unit(slo)}."
        if window.min_bad_events > 0
        else ""
    )
    quiet = f" (or the last {short} saw no {event_unit(slo)})" if occurrences else ""
    description = (
        f"{{{{ $value | humanizePercentage }}}} {bad_events_phrase(slo)} over the last {long},"
        f" and over the last {short} too{quiet}: at or above {_percent(window.error_ratio_threshold)}, which is"
        f" {window.factor:g}x the {_percent(slo.error_budget)} error budget of the {slo.objective:g}% objective"
        f" over {format_duration(slo.period_seconds)}. Held for {long}, this burn spends"
        f" {_percent(window.budget_share)} of the budget.{gate}"
    )
    annotations = {
        "summary": f"SLO {slo.name} is burning its error budget at {window.factor:g}x the sustainable rate"
        f" or faster over {long} and {short}",
        "description": description,
        **link_annotations(
            slo.runbook_url or links.runbook(SLO_RUNBOOK, slo.sli), links.slo_dashboard(slo.model, slo.name)
        ),
    }
    return AlertingRule(name, "\nand\n".join(conditions), labels, annotations)


def slo_rule_group(slo: SLO, links: Links = Links()) -> RuleGroup:
    """Every rule for one SLO, recording rules first."""
    alerts = tuple(alerting_rule(slo, w, links) for w in slo.windows)
    every = evaluation_seconds(slo)
    interval = None if every is None else format_duration(every)
    return RuleGroup(f"driftline-slo-{slo.name}", recording_rules(slo) + alerts, interval)


def generate_rules(spec: HasSLOs) -> tuple[RuleGroup, ...]:
    """The rule groups for every SLO of a resolved spec, sorted by group name, linking where `spec.links` says."""
    return tuple(sorted((slo_rule_group(s, spec.links) for s in spec.slos), key=lambda g: g.name))
