"""The rule generator and writer: exact PromQL per SLI kind, whole-file goldens for the examples, determinism.

Regenerate the goldens after an intended change with `UPDATE_GOLDEN=1 pytest tests/test_slo_rules.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from driftline.spec import load_spec, load_spec_text
from slo.definition import SLO
from slo.rules import AlertingRule, RecordingRule, generate_rules, slo_rule_group
from slo.sli import ratio_record
from slo.writer import HEADER, RULES_PATH, EmptyRuleSetError, render_rules, write_rule_file
from tests.conftest import EXAMPLES

GOLDEN = Path(__file__).parent / "promtool" / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

BASE = """\
version: 1
models:
  - name: credit
    features:
      - {name: income, type: numeric}
    prediction: {type: binary}
    drift: {metrics: [psi], alert: 0.25}
slos:
"""


def one_slo(fields: str) -> SLO:
    return load_spec_text(BASE + f"  - {{name: s, model: credit, {fields}}}\n").slos[0]


def rule(slo: SLO, record: str) -> RecordingRule:
    return next(r for r in slo_rule_group(slo).rules if isinstance(r, RecordingRule) and r.record == record)


EXPRESSIONS = {
    "availability divides failed calls by all calls over the window": (
        "sli: availability, objective: 99.9",
        "slo:sli_error:ratio_rate5m",
        'sum by (model) (increase(driftline_predictions_total{model="credit",outcome="error"}[5m]))\n'
        "/\n"
        'sum by (model) (increase(driftline_predictions_total{model="credit"}[5m]))',
    ),
    "latency counts calls above the bucket whose le equals the threshold": (
        "sli: latency, threshold_ms: 250, objective: 99",
        "slo:sli_error:ratio_rate1h",
        "(\n"
        '  sum by (model) (increase(driftline_prediction_latency_seconds_count{model="credit"}[1h]))\n'
        "  -\n"
        '  sum by (model) (increase(driftline_prediction_latency_seconds_bucket{model="credit",le="0.25"}[1h]))\n'
        ")\n"
        "/\n"
        'sum by (model) (increase(driftline_prediction_latency_seconds_count{model="credit"}[1h]))',
    ),
    "a one-second latency threshold reads le 1.0 as the collector writes it": (
        "sli: latency, threshold_ms: 1000, objective: 99",
        "slo:sli_error:ratio_rate5m",
        "(\n"
        '  sum by (model) (increase(driftline_prediction_latency_seconds_count{model="credit"}[5m]))\n'
        "  -\n"
        '  sum by (model) (increase(driftline_prediction_latency_seconds_bucket{model="credit",le="1.0"}[5m]))\n'
        ")\n"
        "/\n"
        'sum by (model) (increase(driftline_prediction_latency_seconds_count{model="credit"}[5m]))',
    ),
    "data quality divides invalid records by all records": (
        "sli: data_quality, objective: 99",
        "slo:sli_error:ratio_rate30m",
        'sum by (model) (increase(driftline_records_total{model="credit",outcome="invalid"}[30m]))\n'
        "/\n"
        'sum by (model) (increase(driftline_records_total{model="credit"}[30m]))',
    ),
    "accuracy by occurrences divides wrong labelled predictions by all labelled": (
        "sli: accuracy, budgeting: occurrences, objective: 90",
        "slo:sli_error:ratio_rate5m",
        'sum by (model) (increase(driftline_labelled_predictions_total{model="credit",outcome="incorrect"}[5m]))\n'
        "/\n"
        'sum by (model) (increase(driftline_labelled_predictions_total{model="credit"}[5m]))',
    ),
    "accuracy by timeslices marks a slice bad when the model's accuracy is under target": (
        "sli: accuracy, target: 0.9, objective: 95",
        "slo:sli_timeslice_bad:bool",
        "min by (model) (avg_over_time("
        'driftline_model_performance{model="credit",slice="all",metric="accuracy"}[1m])) < bool 0.9',
    ),
    "a timeslice SLI's error ratio is the share of bad slices in the window": (
        "sli: accuracy, target: 0.9, objective: 95",
        "slo:sli_error:ratio_rate6h",
        'avg_over_time(slo:sli_timeslice_bad:bool{slo="s"}[6h])',
    ),
    "drift marks a slice bad when any feature reaches the model's alert threshold": (
        "sli: drift, objective: 99",
        "slo:sli_timeslice_bad:bool",
        'max by (model) (avg_over_time(driftline_feature_drift{model="credit",metric="psi"}[1m])) >= bool 0.25',
    ),
    "freshness marks a slice bad when the newest record is older than max_age": (
        "sli: freshness, max_age: 15m, objective: 99",
        "slo:sli_timeslice_bad:bool",
        'time() - max by (model) (driftline_last_record_timestamp_seconds{model="credit"}) > bool 900',
    ),
    "label freshness reads the last label's timestamp": (
        "sli: freshness, source: labels, max_age: 1d, objective: 95",
        "slo:sli_timeslice_bad:bool",
        'time() - max by (model) (driftline_last_label_timestamp_seconds{model="credit"}) > bool 86400',
    ),
    "availability by timeslices marks a slice bad when its failures exceed 1 - target": (
        "sli: availability, budgeting: timeslices, timeslice: 5m, target: 0.99, objective: 99",
        "slo:sli_timeslice_bad:bool",
        "(\n"
        '  sum by (model) (increase(driftline_predictions_total{model="credit",outcome="error"}[5m]))\n'
        "  /\n"
        '  sum by (model) (increase(driftline_predictions_total{model="credit"}[5m]))\n'
        ") > bool 0.01",
    ),
    "the traffic gate counts all calls over the long window": (
        "sli: availability, objective: 99.9",
        "slo:sli_events:increase3d",
        'sum by (model) (increase(driftline_predictions_total{model="credit"}[3d]))',
    ),
    "the remaining budget over the period comes from the period's error ratio": (
        "sli: availability, objective: 99.9, window: 28d",
        "slo:period_error_budget_remaining:ratio",
        '1 - slo:sli_error:ratio_rate28d{slo="s"} / 0.001',
    ),
}


@pytest.mark.parametrize("fields, record, expr", EXPRESSIONS.values(), ids=list(EXPRESSIONS))
def test_each_sli_kind_becomes_this_promql(fields: str, record: str, expr: str) -> None:
    got = rule(one_slo(fields), record)
    assert got.expr == expr
    sli = fields.split("sli: ")[1].split(",")[0]
    assert dict(got.labels) == {"model": "credit", "sli": sli, "slo": "s"}


def test_the_page_alert_for_a_999_availability_slo_is_exactly_this() -> None:
    assert first_alert(one_slo("sli: availability, objective: 99.9")) == AlertingRule(
        alert="SErrorBudgetBurn",
        expr='slo:sli_error:ratio_rate1h{slo="s"} >= 0.0144\n'
        "and\n"
        'slo:sli_error:ratio_rate5m{slo="s"} >= 0.0144\n'
        "and\n"
        'slo:sli_events:increase1h{slo="s"} >= 70',
        labels={"severity": "page", "slo": "s", "model": "credit", "long_window": "1h", "short_window": "5m"},
        annotations={
            "summary": "SLO s is burning its error budget at 14.4x the sustainable rate or faster over 1h and 5m",
            "description": "{{ $value | humanizePercentage }} of credit's calls failed over the last 1h, and over"
            " the last 5m too: at or above 1.44%, which is 14.4x the 0.1% error budget of the 99.9% objective"
            " over 30d. Held for 1h, this burn spends 2% of the budget. It fires only with at least 70 calls in"
            " the last 1h.",
            "runbook_url": "docs/runbooks/DriftlineErrorBudgetBurn.md#availability",
            "dashboard_url": "http://localhost:3000/d/driftline-slos/driftline-slos?var-model=credit&var-slo=s",
        },
    )


def test_every_window_the_policy_uses_has_a_recorded_ratio_and_every_alert_reads_recorded_series() -> None:
    for example in sorted(EXAMPLES.glob("*.yaml")):
        for s in load_spec(example).slos:
            group = slo_rule_group(s)
            recorded = {r.record for r in group.rules if isinstance(r, RecordingRule)}
            for w in s.windows:
                assert {ratio_record(w.long_seconds), ratio_record(w.short_seconds)} <= recorded, (
                    example,
                    s.name,
                )
            assert ratio_record(s.period_seconds) in recorded
            alerts = [r for r in group.rules if isinstance(r, AlertingRule)]
            assert len(alerts) == len(s.windows) and {a.labels["severity"] for a in alerts} <= {
                "page",
                "ticket",
            }
            for a in alerts:
                assert set(a.annotations) == {"summary", "description", "runbook_url", "dashboard_url"}
                assert "{{ $value" in a.annotations["description"]


AVAILABILITY = "sli: availability, objective: 99.9"
GATES = {
    "the default gate is derived per window": (AVAILABILITY, [70, 167, 334, 1001]),
    "an explicit gate applies to every window": (AVAILABILITY + ", alerting: {min_events: 40}", [40] * 4),
    "min_events 0 removes the gate": (AVAILABILITY + ", alerting: {min_events: 0}", [None] * 4),
    "timeslices have no traffic gate": ("sli: accuracy, target: 0.9, objective: 95", [None] * 4),
}


@pytest.mark.parametrize("fields, gates", GATES.values(), ids=list(GATES))
def test_the_traffic_gate_is_part_of_each_alert_expression(fields: str, gates: list[int | None]) -> None:
    alerts = [r for r in slo_rule_group(one_slo(fields)).rules if isinstance(r, AlertingRule)]
    got = []
    for a in alerts:
        clause = next((c for c in a.expr.split("\nand\n") if c.startswith("slo:sli_events:")), None)
        got.append(None if clause is None else int(clause.rsplit(">= ", 1)[1]))
    assert got == gates


def first_alert(slo: SLO) -> AlertingRule:
    return next(r for r in slo_rule_group(slo).rules if isinstance(r, AlertingRule))


def test_a_pinned_version_and_a_model_runbook_go_on_the_alerts() -> None:
    pinned = BASE.replace(
        "    prediction:", "    version: v7\n    runbook_url: https://rb.example/c\n    prediction:"
    )
    alert = first_alert(
        load_spec_text(pinned + "  - {name: s, model: credit, sli: availability, objective: 99}\n").slos[0]
    )
    assert alert.labels["version"] == "v7" and alert.annotations["runbook_url"] == "https://rb.example/c"
    assert "version" not in first_alert(one_slo("sli: availability, objective: 99")).labels


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_the_rules_generated_from_each_example_match_the_golden_file(example: Path) -> None:
    got = render_rules(generate_rules(load_spec(example)))
    golden = GOLDEN / f"{example.stem}.rules.yaml"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(got, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert got == golden.read_text(encoding="utf-8"), (
        f"rules changed; if intended: UPDATE_GOLDEN=1 pytest {__file__}"
    )


def test_the_output_does_not_depend_on_the_order_of_slos_in_the_spec() -> None:
    doc = yaml.safe_load((EXAMPLES / "fraud.yaml").read_text())
    doc["slos"].reverse()
    reordered = load_spec_text(yaml.safe_dump(doc))
    original = load_spec(EXAMPLES / "fraud.yaml")
    assert [s.name for s in reordered.slos] != [s.name for s in original.slos]
    assert render_rules(generate_rules(reordered)) == render_rules(generate_rules(original))


def test_the_file_starts_with_the_do_not_edit_header_and_parses_back_to_the_same_rules() -> None:
    groups = generate_rules(load_spec(EXAMPLES / "credit.yaml"))
    text = render_rules(groups)
    assert text.startswith("# generated by driftline — do not edit\n") and HEADER.startswith("# generated")
    doc = yaml.safe_load(text)
    assert [g["name"] for g in doc["groups"]] == sorted(g.name for g in groups)
    first = doc["groups"][0]["rules"][0]
    assert list(first) == ["record", "expr", "labels"] and "\n" not in first["record"]
    alert = next(r for g in doc["groups"] for r in g["rules"] if "alert" in r)
    assert list(alert) == ["alert", "expr", "labels", "annotations"]
    assert list(alert["labels"]) == sorted(alert["labels"])


def test_the_writer_puts_the_file_under_prometheus_in_the_output_folder(tmp_path: Path) -> None:
    path = write_rule_file(load_spec(EXAMPLES / "credit.yaml"), tmp_path)
    assert path == tmp_path / RULES_PATH == tmp_path / "prometheus" / "driftline-slo.rules.yaml"
    assert path.read_text(encoding="utf-8") == render_rules(
        generate_rules(load_spec(EXAMPLES / "credit.yaml"))
    )


def test_the_writer_refuses_a_spec_without_slos_and_writes_nothing(tmp_path: Path) -> None:
    spec = load_spec_text(BASE.removesuffix("slos:\n"))
    with pytest.raises(EmptyRuleSetError, match="declare at least one SLO"):
        write_rule_file(spec, tmp_path)
    assert not any(tmp_path.rglob("*"))
