"""Every series Driftline exports on `/metrics`: name, type, help and label names, in one table.

The collector's exposition, the SLI and alert rule generators and the dashboards all read their
series names from here, so a renamed or mistyped series fails in one place instead of silently
breaking an alert or a panel. This is the only non-test module that spells a series name.

Per-window gauges (drift, performance, quality, attributions) carry a `window` label, the window's length
as `drift.window` lists it (1h, 1d): a model with several windows has one series per length, and rules and
panels pick the one they read.

Names follow the Prometheus text exposition that prometheus-client writes: `Series.name` is the name
on the `# HELP` / `# TYPE` lines and on every sample PromQL selects, so a counter's name ends in
`_total` (prometheus-client's family `driftline_predictions` is exposed as
`driftline_predictions_total`); `Series.family` is the name prometheus-client's metric families take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SeriesKind = Literal["counter", "gauge", "histogram", "info"]

#: The suffix the text exposition adds to a family's name, by kind (prometheus-client's rule).
_EXPOSED_SUFFIX: dict[str, str] = {"counter": "_total", "gauge": "", "histogram": "", "info": "_info"}


@dataclass(frozen=True)
class Series:
    """One exported series: its exposed name, Prometheus type, help text and label names."""

    name: str
    kind: SeriesKind
    help: str
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        """Refuse a name that prometheus-client could not expose as written (a table typo)."""
        if not self.name.endswith(_EXPOSED_SUFFIX[self.kind]):
            raise ValueError(
                f"a {self.kind} series name must end in {_EXPOSED_SUFFIX[self.kind]!r}: {self.name}"
            )

    @property
    def family(self) -> str:
        """The metric family name prometheus-client takes (a counter's name without `_total`)."""
        suffix = _EXPOSED_SUFFIX[self.kind]
        return self.name[: len(self.name) - len(suffix)] if suffix else self.name

    @property
    def bucket(self) -> str:
        """A histogram's per-bucket sample name (`<name>_bucket`, labelled `le`)."""
        return self._histogram_sample("_bucket")

    @property
    def count(self) -> str:
        """A histogram's observation-count sample name (`<name>_count`)."""
        return self._histogram_sample("_count")

    @property
    def sum(self) -> str:
        """A histogram's observation-sum sample name (`<name>_sum`)."""
        return self._histogram_sample("_sum")

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every name this series appears under in PromQL or the exposition."""
        if self.kind == "histogram":
            return (self.name, self.bucket, self.count, self.sum)
        return (self.name,) if self.name == self.family else (self.name, self.family)

    def _histogram_sample(self, suffix: str) -> str:
        if self.kind != "histogram":
            raise ValueError(f"{self.name} is a {self.kind}, not a histogram: it has no {suffix} samples")
        return self.name + suffix


PREDICTIONS = Series(
    name="driftline_predictions_total",
    kind="counter",
    help="Model calls seen by the SDK, by outcome (ok or error).",
    labels=("model", "version", "outcome"),
)
PREDICTION_LATENCY = Series(
    name="driftline_prediction_latency_seconds",
    kind="histogram",
    help="Latency of model calls measured by the SDK.",
    labels=("model", "version"),
)
SDK_DROPPED = Series(
    name="driftline_sdk_dropped_total",
    kind="counter",
    help="Samples the SDK dropped (queue full or rejected batches).",
    labels=("model", "version"),
)
COMPUTE_SECONDS = Series(
    name="driftline_compute_seconds_total",
    kind="counter",
    help="Compute seconds of model calls (reported GPU-seconds or wall seconds).",
    labels=("model", "version"),
)
TOKENS = Series(
    name="driftline_tokens_total",
    kind="counter",
    help="Tokens of model calls as the SDK counted them, by direction (input or output).",
    labels=("model", "version", "direction"),
)
COST = Series(
    name="driftline_cost_total",
    kind="counter",
    help="Spend of model calls: the spec's price table applied to calls, seconds and tokens.",
    labels=("model", "version", "currency"),
)
FEATURE_AGE = Series(
    name="driftline_feature_age_seconds",
    kind="histogram",
    help="Age of the feature values model calls used (call time less computed-at time).",
    labels=("model", "version", "feature"),
)
GENAI_TTFT = Series(
    name="driftline_genai_time_to_first_token_seconds",
    kind="histogram",
    help="Time to the first output token of LLM calls (OpenTelemetry gen_ai.server.time_to_first_token).",
    labels=("model", "version"),
)
GENAI_TPOT = Series(
    name="driftline_genai_time_per_output_token_seconds",
    kind="histogram",
    help="Time per output token after the first of LLM calls (gen_ai.server.time_per_output_token).",
    labels=("model", "version"),
)
GENAI_FINISH_REASONS = Series(
    name="driftline_genai_finish_reasons_total",
    kind="counter",
    help="LLM calls by the reason the model stopped (gen_ai.response.finish_reasons: stop, length, ...).",
    labels=("model", "version", "reason"),
)
GENAI_EVALS = Series(
    name="driftline_genai_evals_total",
    kind="counter",
    help="Eval verdicts on LLM answers (POST /v1/evals), by eval name, source (judge or human) and verdict "
    "(pass or fail): quality SLIs such as groundedness.",
    labels=("model", "version", "name", "source", "verdict"),
)
GENAI_EVAL_AGREEMENT = Series(
    name="driftline_genai_eval_agreement_total",
    kind="counter",
    help="Records a judge and a human both judged on one eval, by whether their verdicts agreed.",
    labels=("model", "version", "name", "outcome"),
)
LABELS = Series(
    name="driftline_labels_total",
    kind="counter",
    help="Ground-truth labels received.",
    labels=("model",),
)
#: Exposed as a gauge of value 1 (not an OpenMetrics info family), as it always has been.
MODEL_VERSION_INFO = Series(
    name="driftline_model_version_info",
    kind="gauge",
    help="1 for the version each model serves now (newest SDK stats).",
    labels=("model", "version"),
)
FEATURE_DRIFT = Series(
    name="driftline_feature_drift",
    kind="gauge",
    help="Drift of a feature in the newest complete event-time window against the reference.",
    labels=("model", "version", "feature", "metric", "window"),
)
FEATURE_DRIFT_MDE = Series(
    name="driftline_feature_drift_mde",
    kind="gauge",
    help="Minimum detectable effect of a feature's drift statistic in the newest complete window: the smallest "
    "drift, in the statistic's units, its sizes detect with 80% power at the 5% level.",
    labels=("model", "version", "feature", "metric", "window"),
)
MODEL_PERFORMANCE = Series(
    name="driftline_model_performance",
    kind="gauge",
    help="Realized performance (accuracy, precision, recall, f1, roc_auc, log_loss, ece; mae, rmse, mape) "
    "in the newest complete window whose labels matured.",
    labels=("model", "version", "slice", "metric", "window"),
)
MODEL_PERFORMANCE_BOUND = Series(
    name="driftline_model_performance_bound",
    kind="gauge",
    help="The 95% interval of driftline_model_performance (bound: lower or upper), e.g. CBPE's "
    "estimated_accuracy before labels arrive.",
    labels=("model", "version", "slice", "metric", "window", "bound"),
)
DRIFT_SLICE = Series(
    name="driftline_drift_slice",
    kind="gauge",
    help="The slice whose removal shrinks the top drifted feature's drift most in the newest complete window "
    "with a drift incident: the share of that feature's drift it explains (1: all of it).",
    labels=("model", "version", "window", "feature", "slice"),
)
LABELLED_PREDICTIONS = Series(
    name="driftline_labelled_predictions_total",
    kind="counter",
    help="Predictions whose label arrived, by whether the prediction was correct (accuracy SLIs).",
    labels=("model", "version", "outcome"),
)
LAST_RECORD_TIMESTAMP = Series(
    name="driftline_last_record_timestamp_seconds",
    kind="gauge",
    help="Unix time the collector last received a record of the model (freshness SLIs).",
    labels=("model",),
)
LAST_LABEL_TIMESTAMP = Series(
    name="driftline_last_label_timestamp_seconds",
    kind="gauge",
    help="Unix time the collector last received a label of the model (freshness SLIs).",
    labels=("model",),
)
RECORDS = Series(
    name="driftline_records_total",
    kind="counter",
    help="Sampled records received, valid or invalid against the declared schema (data-quality SLIs).",
    labels=("model", "version", "outcome"),
)
FEATURE_ATTRIBUTION = Series(
    name="driftline_feature_attribution",
    kind="gauge",
    help="Mean |SHAP| of a feature in the newest complete window (kind: prediction or loss).",
    labels=("model", "version", "feature", "kind", "window"),
)
ATTRIBUTION_DRIFT = Series(
    name="driftline_attribution_drift",
    kind="gauge",
    help="1 when a feature's attributions moved from the reference's in the newest complete window.",
    labels=("model", "version", "feature", "kind", "window"),
)
DATA_QUALITY = Series(
    name="driftline_data_quality",
    kind="gauge",
    help="Share of values failing a data-quality check in the newest complete window (feature * = record).",
    labels=("model", "version", "feature", "check", "window"),
)
SLO_ERROR_BUDGET_REMAINING = Series(
    name="driftline_slo_error_budget_remaining",
    kind="gauge",
    help="Share of the SLO's error budget left over its period (negative once broken).",
    labels=("slo",),
)
SLO_BURN_RATE = Series(
    name="driftline_slo_burn_rate",
    kind="gauge",
    help="Error-budget burn rate of the SLO over a window.",
    labels=("slo", "window"),
)
CARDINALITY_LIMITED = Series(
    name="driftline_cardinality_limited_total",
    kind="counter",
    help="Model versions (kind=version) pushed off /metrics by newer ones, beyond the versions exported per "
    "model, and slice values (kind=slice) not exported, beyond the slice values per model.",
    labels=("model", "kind"),
)
EVALUATION_FAILURES = Series(
    name="driftline_evaluation_failures_total",
    kind="counter",
    help="Evaluation steps that failed and were skipped (logged once per distinct error), by model and "
    "stage: window, drift, performance, quality, attributions, multivariate drift, export or slos.",
    labels=("model", "stage"),
)
MODEL_EVENTS = Series(
    name="driftline_model_events_total",
    kind="counter",
    help="Retrains, deploys and rollbacks reported with POST /v1/events (retrain-rate SLIs), by model and kind.",
    labels=("model", "kind"),
)
INFERENCE_UNPAIRED = Series(
    name="driftline_inference_unpaired_total",
    kind="counter",
    help="Inference-logger CloudEvents (KServe, Seldon Core) dropped because their other half (request or "
    "response, same event id) did not reach this collector in time, by model and half.",
    labels=("model", "half"),
)
WINDOWS_EVALUATED = Series(
    name="driftline_windows_evaluated_total",
    kind="counter",
    help="Windows this collector evaluated, one per window and tick it changed in, by model; summed over "
    "several collectors each changed window counts once (only the lease holder evaluates).",
    labels=("model",),
)
LEASE_HELD = Series(
    name="driftline_lease_held",
    kind="gauge",
    help="1 where this collector holds the lease (evaluation: ticks, housekeeping and the per-window and SLO "
    "gauges, which only the holder exports), 0 where it stands by.",
    labels=("lease",),
)
RETENTION_DELETED = Series(
    name="driftline_retention_deleted_rows_total",
    kind="counter",
    help="Rows the retention of the spec deleted, by table (batched deletes; TimescaleDB's retention "
    "policies drop whole chunks and are not counted here).",
    labels=("table",),
)

#: Every exported series, in the order `/metrics` writes them.
SERIES: tuple[Series, ...] = (
    PREDICTIONS,
    PREDICTION_LATENCY,
    SDK_DROPPED,
    COMPUTE_SECONDS,
    TOKENS,
    COST,
    FEATURE_AGE,
    GENAI_TTFT,
    GENAI_TPOT,
    GENAI_FINISH_REASONS,
    GENAI_EVALS,
    GENAI_EVAL_AGREEMENT,
    LABELS,
    MODEL_VERSION_INFO,
    FEATURE_DRIFT,
    FEATURE_DRIFT_MDE,
    MODEL_PERFORMANCE,
    MODEL_PERFORMANCE_BOUND,
    DRIFT_SLICE,
    LABELLED_PREDICTIONS,
    LAST_RECORD_TIMESTAMP,
    LAST_LABEL_TIMESTAMP,
    RECORDS,
    FEATURE_ATTRIBUTION,
    ATTRIBUTION_DRIFT,
    DATA_QUALITY,
    SLO_ERROR_BUDGET_REMAINING,
    SLO_BURN_RATE,
    CARDINALITY_LIMITED,
    EVALUATION_FAILURES,
    MODEL_EVENTS,
    INFERENCE_UNPAIRED,
    WINDOWS_EVALUATED,
    LEASE_HELD,
    RETENTION_DELETED,
)

#: The freshness gauge for each thing whose arrival the collector notes (`MetricsState.received`).
LAST_RECEIVED: dict[str, Series] = {"records": LAST_RECORD_TIMESTAMP, "labels": LAST_LABEL_TIMESTAMP}


def series_named(name: str) -> Series:
    """The exported series one of whose spellings (e.g. `_total`, `_bucket`, the family) is `name`."""
    for series in SERIES:
        if name in series.spellings:
            return series
    raise KeyError(f"Driftline exports no series named {name!r}")
