"""The rule generator and writer: exact PromQL per SLI kind, whole-file goldens for the examples, determinism.

Regenerate the goldens after an intended change with `UPDATE_GOLDEN=1 pytest tests/test_slo_rules.py`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from contract import DriftlineError
from slo.definition import SLO
from slo.links import Links
from slo.rules import AlertingRule, RecordingRule, generate_rules, slo_rule_group
from slo.sli import ratio_record
from slo.windows import format_duration
from slo.writer import HEADER, RULES_PATH, EmptyRuleSetError, render_rules, write_rule_file
from spec import load_spec, load_spec_text
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
    "availability counts failed calls over the window": (
        "sli: availability, objective: 99.9",
        "slo:sli_bad_events:increase5m",
        'sum by (model) (increase(driftline_predictions_total{model="credit",outcome="error"}[5m]))',
    ),
    "and all calls": (
        "sli: availability, objective: 99.9",
        "slo:sli_events:increase5m",
        'sum by (model) (increase(driftline_predictions_total{model="credit"}[5m]))',
    ),
    "an occurrence SLI's error ratio divides the recorded bad by all events": (
        "sli: availability, objective: 99.9",
        "slo:sli_error:ratio_rate5m",
        'slo:sli_bad_events:increase5m{slo="s"}\n/\nslo:sli_events:increase5m{slo="s"}',
    ),
    "the period's ratio sums the shortest window's counts: bad over all, 0 without any event": (
        "sli: availability, objective: 99.9",
        "slo:sli_error:ratio_rate30d",
        'sum_over_time(slo:sli_bad_events:increase5m{slo="s"}[30d])\n'
        "/\n"
        '(sum_over_time(slo:sli_events:increase5m{slo="s"}[30d]) > 0)\n'
        "or\n"
        'sum_over_time(slo:sli_events:increase5m{slo="s"}[30d]) * 0',
    ),
    "latency counts calls above the bucket whose le equals the threshold": (
        "sli: latency, threshold_ms: 250, objective: 99",
        "slo:sli_bad_events:increase1h",
        "(\n"
        '  sum by (model) (increase(driftline_prediction_latency_seconds_count{model="credit"}[1h]))\n'
        "  -\n"
        '  sum by (model) (increase(driftline_prediction_latency_seconds_bucket{model="credit",le="0.25"}[1h]))\n'
        ")",
    ),
    "a one-second latency threshold reads le 1.0 as the collector writes it": (
        "sli: latency, threshold_ms: 1000, objective: 99",
        "slo:sli_bad_events:increase5m",
        "(\n"
        '  sum by (model) (increase(driftline_prediction_latency_seconds_count{model="credit"}[5m]))\n'
        "  -\n"
        '  sum by (model) (increase(driftline_prediction_latency_seconds_bucket{model="credit",le="1.0"}[5m]))\n'
        ")",
    ),
    "data quality divides invalid records by all records": (
        "sli: data_quality, objective: 99",
        "slo:sli_bad_events:increase30m",
        'sum by (model) (increase(driftline_records_total{model="credit",outcome="invalid"}[30m]))',
    ),
    "accuracy by occurrences divides wrong labelled predictions by all labelled": (
        "sli: accuracy, budgeting: occurrences, objective: 90",
        "slo:sli_bad_events:increase5m",
        'sum by (model) (increase(driftline_labelled_predictions_total{model="credit",outcome="incorrect"}[5m]))',
    ),
    "accuracy by timeslices marks a slice bad when the model's accuracy is under target": (
        "sli: accuracy, target: 0.9, objective: 95",
        "slo:sli_timeslice_bad:bool",
        "min by (model) (avg_over_time("
        'driftline_model_performance{model="credit",slice="all",metric="accuracy",window="1h"}[1m])) < bool 0.9',
    ),
    "a timeslice SLI's error ratio is the share of bad slices in the window": (
        "sli: accuracy, target: 0.9, objective: 95",
        "slo:sli_error:ratio_rate6h",
        'avg_over_time(slo:sli_timeslice_bad:bool{slo="s"}[6h])',
    ),
    "drift marks a slice bad when any feature reaches the model's alert threshold": (
        "sli: drift, objective: 99",
        "slo:sli_timeslice_bad:bool",
        "max by (model) (avg_over_time("
        'driftline_feature_drift{model="credit",metric="psi",window="1h"}[1m])) >= bool 0.25',
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
    "the traffic gate counts failed calls over the long window": (
        "sli: availability, objective: 99.9",
        "slo:sli_bad_events:increase3d",
        'sum by (model) (increase(driftline_predictions_total{model="credit",outcome="error"}[3d]))',
    ),
    "a timeslice SLI's gate counts bad slices: bad verdicts over the verdicts (one a minute) a slice takes": (
        "sli: accuracy, target: 0.9, objective: 95",
        "slo:sli_bad_slices:count6h",
        'sum_over_time(slo:sli_timeslice_bad:bool{slo="s"}[6h]) / 60',
    ),
    "five-minute timeslices take five verdicts each": (
        "sli: availability, budgeting: timeslices, timeslice: 5m, target: 0.99, objective: 99",
        "slo:sli_bad_slices:count1h",
        'sum_over_time(slo:sli_timeslice_bad:bool{slo="s"}[1h]) / 5',
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
        "(\n"
        '  slo:sli_error:ratio_rate5m{slo="s"} >= 0.0144\n'
        "  or\n"
        '  slo:sli_events:increase5m{slo="s"} == 0\n'
        ")\n"
        "and\n"
        'slo:sli_bad_events:increase1h{slo="s"} >= 1.5',
        labels={"severity": "page", "slo": "s", "model": "credit", "long_window": "1h", "short_window": "5m"},
        annotations={
            "summary": "SLO s is burning its error budget at 14.4x the sustainable rate or faster over 1h and 5m",
            "description": "{{ $value | humanizePercentage }} of credit's calls failed over the last 1h, and over"
            " the last 5m too (or the last 5m saw no calls): at or above 1.44%, which is 14.4x the 0.1% error"
            " budget of the 99.9% objective over 30d. Held for 1h, this burn spends 2% of the budget. It fires"
            " only once the last 1h holds at least 2 failed calls.",
            "runbook_url": "https://git.example.com/rb/DriftlineErrorBudgetBurn.md#availability",
            "dashboard_url": "https://grafana.example.com/d/driftline-slos/driftline-slos?var-model=credit&var-slo=s",
        },
    )


def test_the_period_ratio_reads_no_raw_series_and_an_alert_window_none_of_the_recorded_ones() -> None:
    """Long windows stay cheap: the 30d ratio sums one recorded series instead of 30 days of raw samples; every
    window an alert reads stays an exact `increase` over the raw counters, as Sloth's."""
    group = slo_rule_group(one_slo("sli: latency, threshold_ms: 250, objective: 99"))
    exprs = {r.record: r.expr for r in group.rules if isinstance(r, RecordingRule)}
    assert (
        "driftline_" not in exprs["slo:sli_error:ratio_rate30d"]
        and "[30d]" in exprs["slo:sli_error:ratio_rate30d"]
    )
    assert not any("[30d]" in e for e in exprs.values() if "driftline_" in e)
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert (
            "slo:"
            not in exprs[f"slo:sli_bad_events:increase{window}"] + exprs[f"slo:sli_events:increase{window}"]
        )


def test_a_timeslice_slos_group_pins_its_evaluation_interval_and_an_occurrence_slos_does_not() -> None:
    accuracy = slo_rule_group(replace(one_slo("sli: accuracy, target: 0.9, objective: 95"), name="a"))
    fast_fields = "sli: availability, budgeting: timeslices, timeslice: 30s, target: 0.99, objective: 99"
    fast = slo_rule_group(one_slo(fast_fields))
    availability = slo_rule_group(one_slo("sli: availability, objective: 99.9"))
    assert (accuracy.interval, fast.interval, availability.interval) == ("1m", "30s", None)
    doc = yaml.safe_load(render_rules([accuracy, availability]))
    assert [g.get("interval") for g in doc["groups"]] == ["1m", None]
    fast_gate = next(
        r for r in fast.rules if isinstance(r, RecordingRule) and r.record == "slo:sli_bad_slices:count1h"
    )
    assert fast_gate.expr.endswith(" / 1")  # a 30s slice is one verdict


def test_every_window_the_policy_uses_has_a_recorded_ratio_and_every_alert_reads_recorded_series() -> None:
    for example in sorted(EXAMPLES.glob("*.yaml")):
        spec = load_spec(example)
        for s in spec.slos:
            group = slo_rule_group(s, spec.links)
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
    "the default gate is 2 failed calls in every window": (AVAILABILITY, ["bad_events", 2] * 4),
    "an explicit gate asks for the failed calls that many calls at the threshold hold": (
        AVAILABILITY + ", alerting: {min_events: 500}",  # 500 x 1.44%, 0.6%, 0.3%, 0.1%: 7.2, 3, 1.5, 0.5
        ["bad_events", 8, "bad_events", 3, "bad_events", 2, "bad_events", 2],
    ),
    "min_events 0 removes the gate": (AVAILABILITY + ", alerting: {min_events: 0}", [None, None] * 4),
    "timeslices count 2 bad windows": ("sli: accuracy, target: 0.9, objective: 95", ["bad_slices", 2] * 4),
    "a slice that alone spends more than the budget alerts by itself": (
        "sli: drift, objective: 99.9",
        ["bad_slices", 1] * 4,  # one bad hour is 139% of 43.2 minutes
    ),
}


@pytest.mark.parametrize("fields, gates", GATES.values(), ids=list(GATES))
def test_the_gate_is_part_of_each_alert_expression(fields: str, gates: list[str | int | None]) -> None:
    alerts = [r for r in slo_rule_group(one_slo(fields)).rules if isinstance(r, AlertingRule)]
    got: list[str | int | None] = []
    for a in alerts:
        clause = next((c for c in a.expr.split("\nand\n") if c.startswith("slo:sli_bad_")), None)
        if clause is None:
            got += [None, None]
        else:
            got += [clause.split(":")[1].removeprefix("sli_"), int(float(clause.rsplit(">= ", 1)[1]) + 0.5)]
    assert got == gates


GAUGE_WINDOWS = {
    "accuracy over an hourly gauge": (
        "sli: accuracy, target: 0.9, objective: 95",
        [
            ("page", "2h", "1h", 7.2),
            ("page", "6h", "1h", 6),
            ("ticket", "1d", "2h", 3),
            ("ticket", "3d", "6h", 1),
        ],
    ),
    "drift over an hourly gauge": (
        "sli: drift, objective: 99",
        [
            ("page", "2h", "1h", 7.2),
            ("page", "6h", "1h", 6),
            ("ticket", "1d", "2h", 3),
            ("ticket", "3d", "6h", 1),
        ],
    ),
    "one-minute timeslices of a counter keep the workbook's windows": (
        "sli: availability, budgeting: timeslices, target: 0.99, objective: 99",
        [
            ("page", "1h", "5m", 14.4),
            ("page", "6h", "30m", 6),
            ("ticket", "1d", "2h", 3),
            ("ticket", "3d", "6h", 1),
        ],
    ),
}


@pytest.mark.parametrize("fields, windows", GAUGE_WINDOWS.values(), ids=list(GAUGE_WINDOWS))
def test_no_alert_window_is_shorter_than_the_slice_its_sli_changes_at(
    fields: str, windows: list[tuple[str, str, str, float]]
) -> None:
    s = one_slo(fields)
    got = [
        (w.severity, format_duration(w.long_seconds), format_duration(w.short_seconds), w.factor)
        for w in s.windows
    ]
    assert got == windows
    recorded = {r.record for r in slo_rule_group(s).rules if isinstance(r, RecordingRule)}
    assert all(ratio_record(w.short_seconds) in recorded for w in s.windows)
    if s.reads_window_gauge:
        assert ratio_record(300) not in recorded  # no 5m window over a gauge that changes hourly


def test_a_gauge_slos_slice_follows_the_models_evaluation_window_when_the_slo_carries_it() -> None:
    accuracy = one_slo("sli: accuracy, target: 0.9, objective: 95")
    daily = replace(accuracy, evaluation_seconds=86400)
    assert (accuracy.slice_seconds, daily.slice_seconds) == (3600, 86400)
    assert [(w.severity, format_duration(w.long_seconds), format_duration(w.short_seconds)) for w in daily.windows] == [
        ("page", "2d", "1d"), ("ticket", "2d", "1d"), ("ticket", "3d", "1d")
    ]  # fmt: skip
    assert replace(daily, name="again").windows == daily.windows  # fitting is idempotent
    assert "1d windows" in first_alert(daily).annotations["description"]


#: Where the alerts of these tests link: a Grafana and a served docs/runbooks/ folder.
LINKS = Links("https://grafana.example.com", "https://git.example.com/rb/")


def first_alert(slo: SLO, links: Links = LINKS) -> AlertingRule:
    return next(r for r in slo_rule_group(slo, links).rules if isinstance(r, AlertingRule))


def test_without_a_grafana_url_or_runbook_base_an_alert_carries_no_link_rather_than_a_relative_one() -> None:
    alert = first_alert(one_slo("sli: availability, objective: 99.9"), Links())
    assert set(alert.annotations) == {"summary", "description"}
    latency = one_slo("sli: latency, threshold_ms: 200, objective: 99")
    runbook_only = first_alert(latency, Links(None, LINKS.runbook_base_url))
    assert (
        runbook_only.annotations["runbook_url"]
        == "https://git.example.com/rb/DriftlineErrorBudgetBurn.md#latency"
    )
    assert "dashboard_url" not in runbook_only.annotations


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
    with pytest.raises(EmptyRuleSetError, match="declare at least one SLO") as err:
        write_rule_file(spec, tmp_path)
    assert not any(tmp_path.rglob("*"))
    assert isinstance(err.value, DriftlineError) and isinstance(err.value, ValueError)
