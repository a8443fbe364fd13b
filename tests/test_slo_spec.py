"""SLOs in the spec file: each mistake is refused with its line, field and fix; good ones resolve completely."""

from __future__ import annotations

import pytest

from sdk.wire import DEFAULT_LATENCY_BOUNDS
from slo.windows import format_duration
from spec import SpecError, load_spec, load_spec_text
from tests.conftest import EXAMPLES

BASE = """\
version: 1
models:
  - name: credit
    features:
      - {name: income, type: numeric}
      - {name: region, type: categorical}
    prediction: {type: binary}
    drift: {metrics: [js, psi], alert: 0.3}
slos:
"""


def slo(line: str) -> str:
    """BASE plus one SLO; it sits on line 10."""
    return BASE + f"  - {{name: credit-slo, model: credit, {line}}}\n"


def window(w: str, objective: float = 99) -> str:
    """One SLO with one explicit burn window."""
    return slo(f"sli: availability, objective: {objective}, alerting: {{windows: [{{{w}}}]}}")


CASES = {
    "a misspelt SLO field names its line and suggests the right name": (
        slo("sli: availability, objectve: 99.9"), "10: slos.0.objectve", "did you mean 'objective'?"
    ),
    "an unknown SLI lists the allowed kinds": (
        slo("sli: uptime, objective: 99"), "10: slos.0.sli", "'availability', 'latency', 'accuracy', 'drift'"
    ),
    "an objective of 100 leaves no budget and is refused": (
        slo("sli: availability, objective: 100"), "10: slos.0.objective", "below 100, such as 99.9"
    ),
    "an objective written as a share names the percent it meant": (
        slo("sli: availability, objective: 0.999"),
        "10: slos.0.objective",
        "0.999 means 0.999% of events good: objective is a percent, so for 99.9% write objective: 99.9",
    ),
    "an objective under 50% is refused as a likely slip": (
        slo("sli: availability, objective: 30"), "10: slos.0.objective", "at least 50, such as 99.9"
    ),
    "a percent sign on something that is no number is refused": (
        slo('sli: availability, objective: "high%"'), "10: slos.0.objective", "such as 99.9 or \"99.9%\""
    ),
    "an objective of 101 is refused": (
        slo("sli: availability, objective: 101"), "10: slos.0.objective", "below 100, such as 99.9"
    ),
    "a latency threshold off the bucket grid names the value and the nearest bounds": (
        slo("sli: latency, threshold_ms: 180, objective: 99"),
        "10: slos.0.threshold_ms",
        "180 ms is not a latency bucket bound: use 150 or 200, the nearest bounds (got 180)",
    ),
    "a latency threshold above the largest bound names the largest": (
        slo("sli: latency, threshold_ms: 30000, objective: 99"), "10: slos.0.threshold_ms", "use 10000, the largest"
    ),
    "a latency SLO without threshold_ms says to add one": (
        slo("sli: latency, objective: 99"), "10: slos.0.threshold_ms", "needs threshold_ms, a latency bucket bound"
    ),
    "an accuracy SLO without a target says to add one": (
        slo("sli: accuracy, objective: 95"), "10: slos.0.target", "the accuracy a slice must reach, such as 0.9"
    ),
    "an accuracy target written as a percentage is refused": (
        slo("sli: accuracy, target: 90, objective: 95"), "10: slos.0.target", "90 is not a share"
    ),
    "a threshold on an SLI that has none is refused": (
        slo("sli: availability, threshold_ms: 200, objective: 99"), "10: slos.0.threshold_ms", "remove it"
    ),
    "a drift SLO cannot count occurrences": (
        slo("sli: drift, budgeting: occurrences, objective: 99"), "10: slos.0.budgeting", "budgeting: timeslices"
    ),
    "a drift SLO takes its threshold from the model, not a target": (
        slo("sli: drift, target: 0.2, objective: 99"), "10: slos.0.target", "drift.alert threshold: remove target"
    ),
    "a target with occurrences budgeting is refused": (
        slo("sli: availability, target: 0.99, objective: 99"), "10: slos.0.target", "add budgeting: timeslices"
    ),
    "availability by timeslices needs a per-slice target": (
        slo("sli: availability, budgeting: timeslices, objective: 99"), "10: slos.0.target", "such as 0.99"
    ),
    "a freshness SLO without max_age says to add one": (
        slo("sli: freshness, objective: 99"), "10: slos.0.max_age", "such as 15m"
    ),
    "max_age on another SLI is refused": (
        slo("sli: availability, max_age: 15m, objective: 99"), "10: slos.0.max_age", "remove it"
    ),
    "a burn factor no error ratio can reach is refused": (
        window("severity: page, long: 1h, short: 5m, factor: 14.4", objective=90),
        "10: slos.0.alerting", "needs an error ratio of 1.44, above 1, so it could never fire",
    ),
    "a period shorter than every default window is refused": (
        slo("sli: availability, objective: 99, window: 30m"), "10: slos.0.alerting", "set alerting.windows"
    ),
    "a burn window whose short window is not shorter is refused": (
        window("severity: page, long: 5m, short: 1h, factor: 2"),
        "10: slos.0.alerting",
        "the short window must be shorter than the long window",
    ),
    "a burn window without factor or budget_percent says to give one": (
        window("severity: page, long: 1h, short: 5m"),
        "10: slos.0.alerting.windows.0",
        "give exactly one of factor (a burn rate such as 14.4) or budget_percent",
    ),
    "an empty window list is refused": (
        slo("sli: availability, objective: 99, alerting: {windows: []}"), "slos.0.alerting.windows", "remove windows"
    ),
    "a misspelt alerting field suggests the right one": (
        slo("sli: availability, objective: 99, alerting: {min_event: 10}"), "10: slos.0.alerting.min_event",
        "did you mean 'min_events'?",
    ),
    "a negative gate is refused": (
        slo("sli: availability, objective: 99, alerting: {min_events: -1}"), "slos.0.alerting.min_events",
        "greater than or equal to 0",
    ),
    "an unknown severity lists the allowed ones": (
        window("severity: urgent, long: 1h, short: 5m, factor: 2"),
        "slos.0.alerting.windows.0.severity", "'page' or 'ticket'",
    ),
    "two SLOs with one name are refused": (
        BASE + "  - {name: a, model: credit, sli: availability, objective: 99}\n" * 2, "slo 'a' is declared twice", ""
    ),
}  # fmt: skip


@pytest.mark.parametrize("text, where, fix", CASES.values(), ids=list(CASES))
def test_a_bad_slo_is_refused_with_line_field_and_fix(text: str, where: str, fix: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(text, source="driftline.yaml")
    message = str(err.value)
    assert message.startswith("driftline.yaml:"), message
    assert where in message and fix in message, message


@pytest.mark.parametrize("bound", DEFAULT_LATENCY_BOUNDS, ids=lambda b: f"{b * 1000:g} ms")
def test_every_latency_bucket_bound_is_a_valid_threshold_and_resolves_to_that_bound(bound: float) -> None:
    spec = load_spec_text(slo(f"sli: latency, threshold_ms: {bound * 1000:g}, objective: 99"))
    assert spec.slos[0].threshold_seconds == bound  # the very float the collector writes into `le`


def test_objective_and_target_may_carry_a_percent_sign_and_mean_the_same() -> None:
    """`objective` is a percent and `target` a share; written with `%`, either is unmistakable."""
    plain = load_spec_text(slo("sli: accuracy, target: 0.9, objective: 99.5")).slos[0]
    signed = load_spec_text(slo('sli: accuracy, target: "90%", objective: 99.5%')).slos[0]
    assert (signed.objective, signed.target) == (plain.objective, plain.target) == (99.5, 0.9)


def test_the_credit_example_resolves_every_slo_with_its_defaults() -> None:
    spec = load_spec(EXAMPLES / "credit.yaml")
    got = {s.name: (s.sli, s.budgeting, s.period_seconds, s.threshold_seconds, s.target) for s in spec.slos}
    assert got == {
        "credit-availability": ("availability", "occurrences", 30 * 86400, None, None),
        "credit-latency": ("latency", "occurrences", 30 * 86400, 0.2, None),
        "credit-accuracy": ("accuracy", "timeslices", 30 * 86400, None, 0.9),
    }
    availability = spec.slo("credit-availability")
    assert (
        availability is not None
        and availability.runbook_url == "https://runbooks.example.com/driftline/credit"
    )
    assert [(w.severity, w.factor, w.min_events) for w in availability.windows] == [
        ("page", 14.4, 70), ("page", 6, 167), ("ticket", 3, 334), ("ticket", 1, 1001)
    ]  # fmt: skip
    accuracy = spec.slo("credit-accuracy")
    assert accuracy is not None and {w.min_events for w in accuracy.windows} == {0}  # timeslices: no gate


def test_a_drift_slo_takes_the_models_first_metric_and_alert_threshold() -> None:
    spec = load_spec_text(slo("sli: drift, objective: 99"))
    [drift] = spec.slos
    assert (drift.drift_metric, drift.drift_threshold, drift.budgeting) == ("js", 0.3, "timeslices")


def test_per_slo_alerting_replaces_the_windows_and_the_gate() -> None:
    text = slo(
        "sli: availability, objective: 99.9, alerting: {min_events: 500, windows: ["
        "{severity: page, long: 2h, short: 10m, factor: 10},"
        " {severity: ticket, long: 3d, short: 6h, budget_percent: 10}]}"
    )
    [s] = load_spec_text(text).slos
    got = [(w.severity, format_duration(w.long_seconds), format_duration(w.short_seconds), w.factor, w.min_events)
           for w in s.windows]  # fmt: skip
    assert got == [("page", "2h", "10m", 10, 500), ("ticket", "3d", "6h", 1, 500)]


def test_the_fraud_example_pins_its_version_and_mixes_periods_and_budgeting() -> None:
    spec = load_spec(EXAMPLES / "fraud.yaml")
    assert {s.version for s in spec.slos} == {"v12"}
    assert {format_duration(s.period_seconds) for s in spec.slos} == {"7d", "28d", "30d", "90d"}
    assert {(s.sli, s.budgeting) for s in spec.slos} >= {
        ("latency", "timeslices"),
        ("accuracy", "occurrences"),
    }
    labels = spec.slo("fraud-label-freshness")
    assert labels is not None and (labels.freshness_source, labels.max_age_seconds) == ("labels", 6 * 3600)
