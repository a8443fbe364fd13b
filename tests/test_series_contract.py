"""The metric contract: `contract.SERIES` is what `/metrics` exports, and the only place names are spelled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import contract
from collector.metrics import MetricsState, make_registry
from contract import SERIES, Series, series_named
from sdk.wire import FEATURE_AGE_BOUNDS
from spec.prices import Prices, Rates

ROOT = Path(__file__).resolve().parent.parent
#: The packages whose modules may not spell an exported series name (contract/series.py excepted).
SCANNED = ("contract", "sdk", "analyzers", "slo", "spec", "collector", "clients", "alerting", "dashboards")
SCANNED += ("report", "driftline")
TABLE = ROOT / "contract" / "series.py"
TOKEN = re.compile(r"(?<![A-Za-z0-9_])driftline_[a-z0-9_]*")


def _populated() -> MetricsState:
    """A state holding at least one sample of every exported series."""
    s = MetricsState()
    s.add_stats(
        model="m",
        version="v1",
        ok=5,
        error=2,
        bounds=[0.1, 0.5],
        counts=[3, 2, 2],
        latency_sum=1.25,
        dropped=1,
        end=10.0,
    )
    s.add_stats(
        model="a",
        version="v2",
        ok=1,
        error=0,
        bounds=[0.2],
        counts=[1, 0],
        latency_sum=0.1,
        dropped=0,
        end=5.0,
    )
    s.add_labels("m", 4)
    s.set_drift({("m", "v1", "x", "psi", "1h"): 0.3, ("m", "v1", "x", "ks_p_value", "1h"): 0.01})
    s.set_performance({("m", "v1", "all", "accuracy", "1h"): 0.9, ("m", "v1", "all", "accuracy", "1d"): 0.8})
    s.set_drift_mde({("m", "v1", "x", "psi", "1h"): 0.05})
    s.set_drift_slice(("m", "v1", "1h"), 0, "x", "region=eu", 0.75)
    s.set_performance_bounds(
        {("m", "v1", "all", "accuracy", "1h", "lower"): 0.85, ("m", "v1", "all", "accuracy", "1h", "upper"): 0.94}
    )
    s.add_labelled({("m", "v1", "correct"): 3, ("m", "v1", "incorrect"): 1})
    s.received("m", "records", 100.5)
    s.received("m", "labels", 200.0)
    s.add_records("m", "v1", 10, 2)
    s.set_quality({("m", "v1", "*", "schema_violation", "1h"): 0.2})
    s.set_attributions(
        {("m", "v1", "x", "prediction", "1h"): (0.4, True), ("m", "v1", "y", "loss", "1h"): (0.1, False)}
    )
    s.add_evaluation_failure("m", "drift")
    s.add_event("m", "retrain", 2)
    s.add_event("m", "rollback")
    s.set_slos({"m-availability": 0.5}, {("m-availability", "1h"): 2.0})
    s.limited[("m", "version")] = 3
    s.prices = {"m": Prices("USD", Rates(gpu_second=0.5, input_tokens_1k=2.0, output_tokens_1k=4.0, call=0.25))}
    s.add_usage(model="m", version="v1", compute_seconds=3.0, input_tokens=1500, output_tokens=250)
    ages = [0] * (len(FEATURE_AGE_BOUNDS) + 1)
    ages[2], ages[-1] = 2, 1  # two calls 5-15 s old, one older than a week
    s.add_feature_ages(model="m", version="v1", ages={"x": {"counts": ages, "sum": 700000.0}})
    ttft = [0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]  # GENAI_TTFT_BOUNDS buckets, +Inf last
    s.add_genai(model="m", version="v1", genai={"ttft": {"counts": ttft, "sum": 12.5}, "finish_reasons": {"stop": 3}})
    s.add_evals({("m", "v1", "grounded", "judge", "pass"): 4}, {("m", "v1", "grounded", "agree"): 2})
    s.add_unpaired("m", "response")
    s.add_windows_evaluated("m", 3)
    s.set_lease("evaluation", True)
    s.add_retention_deleted("records", 5)
    return s


def _scrape(state: MetricsState) -> str:
    return generate_latest(make_registry(state)).decode()


# The exposition as the hand-written collector wrote it before the table existed: byte for byte.
EXPECTED = """\
# HELP driftline_predictions_total Model calls seen by the SDK, by outcome (ok or error).
# TYPE driftline_predictions_total counter
driftline_predictions_total{model="a",outcome="error",version="v2"} 0.0
driftline_predictions_total{model="a",outcome="ok",version="v2"} 1.0
driftline_predictions_total{model="m",outcome="error",version="v1"} 2.0
driftline_predictions_total{model="m",outcome="ok",version="v1"} 5.0
# HELP driftline_prediction_latency_seconds Latency of model calls measured by the SDK.
# TYPE driftline_prediction_latency_seconds histogram
driftline_prediction_latency_seconds_bucket{le="0.2",model="a",version="v2"} 1.0
driftline_prediction_latency_seconds_bucket{le="+Inf",model="a",version="v2"} 1.0
driftline_prediction_latency_seconds_count{model="a",version="v2"} 1.0
driftline_prediction_latency_seconds_sum{model="a",version="v2"} 0.1
driftline_prediction_latency_seconds_bucket{le="0.1",model="m",version="v1"} 3.0
driftline_prediction_latency_seconds_bucket{le="0.5",model="m",version="v1"} 5.0
driftline_prediction_latency_seconds_bucket{le="+Inf",model="m",version="v1"} 7.0
driftline_prediction_latency_seconds_count{model="m",version="v1"} 7.0
driftline_prediction_latency_seconds_sum{model="m",version="v1"} 1.25
# HELP driftline_sdk_dropped_total Samples the SDK dropped (queue full or rejected batches).
# TYPE driftline_sdk_dropped_total counter
driftline_sdk_dropped_total{model="a",version="v2"} 0.0
driftline_sdk_dropped_total{model="m",version="v1"} 1.0
# HELP driftline_compute_seconds_total Compute seconds of model calls (reported GPU-seconds or wall seconds).
# TYPE driftline_compute_seconds_total counter
driftline_compute_seconds_total{model="m",version="v1"} 3.0
# HELP driftline_tokens_total Tokens of model calls as the SDK counted them, by direction (input or output).
# TYPE driftline_tokens_total counter
driftline_tokens_total{direction="input",model="m",version="v1"} 1500.0
driftline_tokens_total{direction="output",model="m",version="v1"} 250.0
# HELP driftline_cost_total Spend of model calls: the spec's price table applied to calls, seconds and tokens.
# TYPE driftline_cost_total counter
driftline_cost_total{currency="USD",model="m",version="v1"} 7.25
# HELP driftline_feature_age_seconds Age of the feature values model calls used (call time less computed-at time).
# TYPE driftline_feature_age_seconds histogram
driftline_feature_age_seconds_bucket{feature="x",le="1.0",model="m",version="v1"} 0.0
driftline_feature_age_seconds_bucket{feature="x",le="5.0",model="m",version="v1"} 0.0
driftline_feature_age_seconds_bucket{feature="x",le="15.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="30.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="60.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="120.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="300.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="600.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="900.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="1800.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="3600.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="7200.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="21600.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="43200.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="86400.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="172800.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="604800.0",model="m",version="v1"} 2.0
driftline_feature_age_seconds_bucket{feature="x",le="+Inf",model="m",version="v1"} 3.0
driftline_feature_age_seconds_count{feature="x",model="m",version="v1"} 3.0
driftline_feature_age_seconds_sum{feature="x",model="m",version="v1"} 700000.0
# HELP driftline_genai_time_to_first_token_seconds Time to the first output token of LLM calls (OpenTelemetry \
gen_ai.server.time_to_first_token).
# TYPE driftline_genai_time_to_first_token_seconds histogram
driftline_genai_time_to_first_token_seconds_bucket{le="0.001",model="m",version="v1"} 0.0
driftline_genai_time_to_first_token_seconds_bucket{le="0.005",model="m",version="v1"} 0.0
driftline_genai_time_to_first_token_seconds_bucket{le="0.01",model="m",version="v1"} 0.0
driftline_genai_time_to_first_token_seconds_bucket{le="0.02",model="m",version="v1"} 0.0
driftline_genai_time_to_first_token_seconds_bucket{le="0.04",model="m",version="v1"} 1.0
driftline_genai_time_to_first_token_seconds_bucket{le="0.06",model="m",version="v1"} 1.0
driftline_genai_time_to_first_token_seconds_bucket{le="0.08",model="m",version="v1"} 1.0
driftline_genai_time_to_first_token_seconds_bucket{le="0.1",model="m",version="v1"} 1.0
driftline_genai_time_to_first_token_seconds_bucket{le="0.25",model="m",version="v1"} 3.0
driftline_genai_time_to_first_token_seconds_bucket{le="0.5",model="m",version="v1"} 3.0
driftline_genai_time_to_first_token_seconds_bucket{le="0.75",model="m",version="v1"} 3.0
driftline_genai_time_to_first_token_seconds_bucket{le="1.0",model="m",version="v1"} 3.0
driftline_genai_time_to_first_token_seconds_bucket{le="2.5",model="m",version="v1"} 3.0
driftline_genai_time_to_first_token_seconds_bucket{le="5.0",model="m",version="v1"} 3.0
driftline_genai_time_to_first_token_seconds_bucket{le="7.5",model="m",version="v1"} 3.0
driftline_genai_time_to_first_token_seconds_bucket{le="10.0",model="m",version="v1"} 3.0
driftline_genai_time_to_first_token_seconds_bucket{le="+Inf",model="m",version="v1"} 4.0
driftline_genai_time_to_first_token_seconds_count{model="m",version="v1"} 4.0
driftline_genai_time_to_first_token_seconds_sum{model="m",version="v1"} 12.5
# HELP driftline_genai_time_per_output_token_seconds Time per output token after the first of LLM calls \
(gen_ai.server.time_per_output_token).
# TYPE driftline_genai_time_per_output_token_seconds histogram
# HELP driftline_genai_finish_reasons_total LLM calls by the reason the model stopped (gen_ai.response.finish_reasons: \
stop, length, ...).
# TYPE driftline_genai_finish_reasons_total counter
driftline_genai_finish_reasons_total{model="m",reason="stop",version="v1"} 3.0
# HELP driftline_genai_evals_total Eval verdicts on LLM answers (POST /v1/evals), by eval name, source (judge or \
human) and verdict (pass or fail): quality SLIs such as groundedness.
# TYPE driftline_genai_evals_total counter
driftline_genai_evals_total{model="m",name="grounded",source="judge",verdict="pass",version="v1"} 4.0
# HELP driftline_genai_eval_agreement_total Records a judge and a human both judged on one eval, by whether their \
verdicts agreed.
# TYPE driftline_genai_eval_agreement_total counter
driftline_genai_eval_agreement_total{model="m",name="grounded",outcome="agree",version="v1"} 2.0
# HELP driftline_labels_total Ground-truth labels received.
# TYPE driftline_labels_total counter
driftline_labels_total{model="m"} 4.0
# HELP driftline_model_version_info 1 for the version each model serves now (newest SDK stats).
# TYPE driftline_model_version_info gauge
driftline_model_version_info{model="a",version="v2"} 1.0
driftline_model_version_info{model="m",version="v1"} 1.0
# HELP driftline_feature_drift Drift of a feature in the newest complete event-time window against the reference.
# TYPE driftline_feature_drift gauge
driftline_feature_drift{feature="x",metric="ks_p_value",model="m",version="v1",window="1h"} 0.01
driftline_feature_drift{feature="x",metric="psi",model="m",version="v1",window="1h"} 0.3
# HELP driftline_feature_drift_mde Minimum detectable effect of a feature's drift statistic in the newest complete \
window: the smallest drift, in the statistic's units, its sizes detect with 80% power at the 5% level.
# TYPE driftline_feature_drift_mde gauge
driftline_feature_drift_mde{feature="x",metric="psi",model="m",version="v1",window="1h"} 0.05
# HELP driftline_model_performance Realized performance (accuracy, precision, recall, f1, roc_auc, log_loss, ece; \
mae, rmse, mape) in the newest complete window whose labels matured.
# TYPE driftline_model_performance gauge
driftline_model_performance{metric="accuracy",model="m",slice="all",version="v1",window="1d"} 0.8
driftline_model_performance{metric="accuracy",model="m",slice="all",version="v1",window="1h"} 0.9
# HELP driftline_model_performance_bound The 95% interval of driftline_model_performance (bound: lower or upper), \
e.g. CBPE's estimated_accuracy before labels arrive.
# TYPE driftline_model_performance_bound gauge
driftline_model_performance_bound{bound="lower",metric="accuracy",model="m",slice="all",version="v1",window="1h"} \
0.85
driftline_model_performance_bound{bound="upper",metric="accuracy",model="m",slice="all",version="v1",window="1h"} \
0.94
# HELP driftline_drift_slice The slice whose removal shrinks the top drifted feature's drift most in the newest \
complete window with a drift incident: the share of that feature's drift it explains (1: all of it).
# TYPE driftline_drift_slice gauge
driftline_drift_slice{feature="x",model="m",slice="region=eu",version="v1",window="1h"} 0.75
# HELP driftline_labelled_predictions_total Predictions whose label arrived, by whether the prediction was correct \
(accuracy SLIs).
# TYPE driftline_labelled_predictions_total counter
driftline_labelled_predictions_total{model="m",outcome="correct",version="v1"} 3.0
driftline_labelled_predictions_total{model="m",outcome="incorrect",version="v1"} 1.0
# HELP driftline_last_record_timestamp_seconds Unix time the collector last received a record of the model \
(freshness SLIs).
# TYPE driftline_last_record_timestamp_seconds gauge
driftline_last_record_timestamp_seconds{model="m"} 100.5
# HELP driftline_last_label_timestamp_seconds Unix time the collector last received a label of the model \
(freshness SLIs).
# TYPE driftline_last_label_timestamp_seconds gauge
driftline_last_label_timestamp_seconds{model="m"} 200.0
# HELP driftline_records_total Sampled records received, valid or invalid against the declared schema \
(data-quality SLIs).
# TYPE driftline_records_total counter
driftline_records_total{model="m",outcome="invalid",version="v1"} 2.0
driftline_records_total{model="m",outcome="valid",version="v1"} 8.0
# HELP driftline_feature_attribution Mean |SHAP| of a feature in the newest complete window \
(kind: prediction or loss).
# TYPE driftline_feature_attribution gauge
driftline_feature_attribution{feature="x",kind="prediction",model="m",version="v1",window="1h"} 0.4
driftline_feature_attribution{feature="y",kind="loss",model="m",version="v1",window="1h"} 0.1
# HELP driftline_attribution_drift 1 when a feature's attributions moved from the reference's in the newest \
complete window.
# TYPE driftline_attribution_drift gauge
driftline_attribution_drift{feature="x",kind="prediction",model="m",version="v1",window="1h"} 1.0
driftline_attribution_drift{feature="y",kind="loss",model="m",version="v1",window="1h"} 0.0
# HELP driftline_data_quality Share of values failing a data-quality check in the newest complete window \
(feature * = record).
# TYPE driftline_data_quality gauge
driftline_data_quality{check="schema_violation",feature="*",model="m",version="v1",window="1h"} 0.2
# HELP driftline_slo_error_budget_remaining Share of the SLO's error budget left over its period \
(negative once broken).
# TYPE driftline_slo_error_budget_remaining gauge
driftline_slo_error_budget_remaining{slo="m-availability"} 0.5
# HELP driftline_slo_burn_rate Error-budget burn rate of the SLO over a window.
# TYPE driftline_slo_burn_rate gauge
driftline_slo_burn_rate{slo="m-availability",window="1h"} 2.0
# HELP driftline_cardinality_limited_total Model versions (kind=version) pushed off /metrics by newer ones, beyond \
the versions exported per model, and slice values (kind=slice) not exported, beyond the slice values per model.
# TYPE driftline_cardinality_limited_total counter
driftline_cardinality_limited_total{kind="version",model="m"} 3.0
# HELP driftline_evaluation_failures_total Evaluation steps that failed and were skipped (logged once per distinct \
error), by model and stage: window, drift, performance, quality, attributions, multivariate drift, export or slos.
# TYPE driftline_evaluation_failures_total counter
driftline_evaluation_failures_total{model="m",stage="drift"} 1.0
# HELP driftline_model_events_total Retrains, deploys and rollbacks reported with POST /v1/events (retrain-rate \
SLIs), by model and kind.
# TYPE driftline_model_events_total counter
driftline_model_events_total{kind="retrain",model="m"} 2.0
driftline_model_events_total{kind="rollback",model="m"} 1.0
# HELP driftline_inference_unpaired_total Inference-logger CloudEvents (KServe, Seldon Core) dropped because their \
other half (request or response, same event id) did not reach this collector in time, by model and half.
# TYPE driftline_inference_unpaired_total counter
driftline_inference_unpaired_total{half="response",model="m"} 1.0
# HELP driftline_windows_evaluated_total Windows this collector evaluated, one per window and tick it changed in, \
by model; summed over several collectors each changed window counts once (only the lease holder evaluates).
# TYPE driftline_windows_evaluated_total counter
driftline_windows_evaluated_total{model="m"} 3.0
# HELP driftline_lease_held 1 where this collector holds the lease (evaluation: ticks, housekeeping and the \
per-window and SLO gauges, which only the holder exports), 0 where it stands by.
# TYPE driftline_lease_held gauge
driftline_lease_held{lease="evaluation"} 1.0
# HELP driftline_retention_deleted_rows_total Rows the retention of the spec deleted, by table (batched deletes; \
TimescaleDB's retention policies drop whole chunks and are not counted here).
# TYPE driftline_retention_deleted_rows_total counter
driftline_retention_deleted_rows_total{table="records"} 5.0
"""


def test_exposition_is_byte_identical_to_the_hand_written_collector() -> None:
    assert _scrape(_populated()) == EXPECTED


def test_an_empty_state_exposes_every_family_with_help_and_type_and_no_samples() -> None:
    expected = "".join(f"# HELP {s.name} {s.help}\n# TYPE {s.name} {s.kind}\n" for s in SERIES)
    assert _scrape(MetricsState()) == expected


def test_scraped_families_match_the_table_in_name_type_help_and_labels() -> None:
    families = list(text_string_to_metric_families(_scrape(_populated())))
    assert [f.name for f in families] == [s.family for s in SERIES]
    for family, series in zip(families, SERIES, strict=True):
        assert (family.type, family.documentation) == (series.kind, series.help)
        for sample in family.samples:
            assert sample.name in series.spellings
            assert set(sample.labels) - {"le"} == set(series.labels), sample


def test_table_names_are_unique_prefixed_and_spelled_as_prometheus_client_exposes_them() -> None:
    spellings = [name for s in SERIES for name in s.spellings]
    assert len(spellings) == len(set(spellings))
    for s in SERIES:
        assert s.name.startswith("driftline_")
        assert re.fullmatch(r"[a-z_]+", s.name)
        assert series_named(s.name) is s
        if s.kind == "counter":
            assert (s.name, s.family) == (s.family + "_total", s.name.removesuffix("_total"))
        if s.kind == "histogram":
            assert (s.bucket, s.count, s.sum) == (s.name + "_bucket", s.name + "_count", s.name + "_sum")
    assert series_named("driftline_prediction_latency_seconds_bucket") is contract.PREDICTION_LATENCY
    assert series_named("driftline_predictions") is contract.PREDICTIONS


def test_histogram_suffixes_are_refused_on_other_kinds_and_counter_names_must_end_in_total() -> None:
    with pytest.raises(ValueError, match="not a histogram"):
        _ = contract.PREDICTIONS.bucket
    with pytest.raises(ValueError, match="must end in '_total'"):
        Series(name="driftline_x", kind="counter", help="h", labels=())
    with pytest.raises(KeyError):
        series_named("driftline_no_such_series")


def test_the_contract_exports_every_series_constant() -> None:
    exported = {getattr(contract, n) for n in contract.__all__ if isinstance(getattr(contract, n), Series)}
    assert exported == set(SERIES)


def _spells_a_series(token: str) -> bool:
    """A whole exported name in any spelling, or a fragment a name is built from (`driftline_last_`)."""
    return any(name.startswith(token) for s in SERIES for name in s.spellings)


def test_every_series_name_is_spelled_only_in_the_contract() -> None:
    offenders = []
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == TABLE:
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                for token in TOKEN.findall(line):
                    if _spells_a_series(token):
                        offenders.append(f"{path.relative_to(ROOT)}:{n}: {token}")
    assert not offenders, "series names spelled outside contract/series.py:\n" + "\n".join(offenders)
    table = TABLE.read_text()
    assert all(s.name in table for s in SERIES)
