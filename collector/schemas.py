"""Request and response models of the v1 API (the shapes are documented in sdk/wire.py)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from operator import attrgetter
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    WithJsonSchema,
    computed_field,
    model_validator,
)
from pydantic_core import PydanticCustomError, ValidationError

from collector import event_time
from collector.redaction import checked_version
from sdk.redact import VERSION_PATTERN, mask_text
from sdk.wire import (
    FEATURE_AGE_BOUNDS,
    FINISH_REASON_PATTERN,
    GENAI_TPOT_BOUNDS,
    GENAI_TTFT_BOUNDS,
    MAX_CALL_SECONDS,
    MAX_CALLS_PER_SECOND,
    MAX_COUNT,
    MAX_FEATURE_AGES,
    MAX_FEATURES_PER_RECORD,
    MAX_FINISH_REASONS,
    MAX_RECORDS_PER_BATCH,
)
from slo.windows import format_duration

#: Text that can be stored: no NUL character.
NUL_FREE_PATTERN = r"^[^\x00]*$"
MODEL_NAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_.-]*$"
#: An absolute web address: an event's links open from a Grafana annotation or a terminal.
LINK_PATTERN = r"^https?://[^\s\x00]+$"
#: How to fix a value that does not match each pattern above (the 422 body says it).
PATTERN_HINTS = {
    NUL_FREE_PATTERN: "the text contains a NUL character, which cannot be stored: remove it",
    MODEL_NAME_PATTERN: "a model name starts with a letter, then only letters, digits, '_', '.' and '-'",
    LINK_PATTERN: "a link is an absolute http:// or https:// address without spaces",
    VERSION_PATTERN: "a version starts with a letter or digit, then only letters, digits, '.', '_', '+' "
    "and '-', at most 64 characters (a release name, like v7 or 2026.11.1)",
    FINISH_REASON_PATTERN: "a finish reason starts with a letter, then only letters, digits, '_', '.' and '-' "
    "(stop, length, content_filter, tool_calls)",
}

BatchId = Annotated[str, Field(min_length=1, max_length=128, description="Idempotency key of the batch.")]
ModelName = Annotated[str, Field(min_length=1, max_length=64, pattern=MODEL_NAME_PATTERN)]
#: A release name (no free text: it labels /metrics series), never personal data (collector/redaction.py).
Version = Annotated[
    str, Field(min_length=1, max_length=64, pattern=VERSION_PATTERN), AfterValidator(checked_version)
]
RecordId = Annotated[str, Field(min_length=1, max_length=256, pattern=NUL_FREE_PATTERN)]


class _In(BaseModel):
    # a number given for a datetime is always unix seconds: pydantic would otherwise read one above 2e10
    # as milliseconds, turning a year-9999 typo into 1978 without a word
    model_config = ConfigDict(extra="forbid", val_temporal_unit="seconds")


# Validation of records runs for every sampled row, so it stays inside pydantic-core: constrained
# types, no Python validators (bench/bench_ingest.py: 14 -> 5 us per record).
NoNulStr = Annotated[str, Field(pattern=NUL_FREE_PATTERN)]
#: A slice or prediction value: a JSON scalar.
Value = StrictBool | int | float | NoNulStr | None
Key = Annotated[str, Field(min_length=1, max_length=128)]
#: Event time: a number is unix seconds, never milliseconds; text is ISO-8601, without an offset UTC. Its
#: range (2000 to the collector's clock plus the allowed skew) is checked per batch (`_time_errors`).
EventTime = Annotated[
    dt.datetime,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "description": "Unix seconds (never milliseconds)."},
                {"type": "string", "format": "date-time", "description": "ISO-8601; no offset means UTC."},
            ],
            "description": "Event time, from 2000-01-01T00:00:00Z to the collector's clock plus its allowed "
            "skew (DRIFTLINE_MAX_FUTURE_SKEW_SECONDS, default one day).",
        },
        mode="validation",
    ),
]
#: One stats counter of one batch (sdk/wire.py MAX_COUNT).
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]


def _time_errors(
    title: str, times: list[tuple[tuple[str | int, ...], dt.datetime, str]], info: ValidationInfo
) -> None:
    """Raise one 422 entry per event time outside the accepted range: (location, time, what it is)."""
    lo, hi = event_time.context_bounds(info.context)
    errors = []
    for loc, ts, what in times:
        reason = event_time.out_of_range(ts, lo, hi)
        if reason is not None:
            errors.append(
                {
                    "type": PydanticCustomError(
                        "event_time_range", "{what}: {reason}", {"what": what, "reason": reason}
                    ),
                    "loc": loc,
                    "input": ts.isoformat(),
                }
            )
            if len(errors) == MAX_TIME_ERRORS:
                break
    if errors:
        raise ValidationError.from_exception_data(title, errors)  # type: ignore[arg-type]


_TS = attrgetter("ts")
#: Refused event times named in one answer: enough to see the pattern, bounded for a 5,000-record batch.
MAX_TIME_ERRORS = 20


def _outside(times: list[dt.datetime], info: ValidationInfo) -> list[int]:
    """Indexes of the times outside the accepted range: min and max in C when all are aware (the usual
    batch: 0.07 us a record), one by one otherwise (naive text means UTC)."""
    if not times:
        return []
    lo, hi = event_time.context_bounds(info.context)
    try:
        if lo <= min(times) and max(times) <= hi:
            return []
    except TypeError:  # naive beside aware
        pass
    return [i for i, ts in enumerate(times) if not lo <= event_time.as_utc(ts) <= hi]


def _named(kind: str, index: int, item_id: str) -> str:
    """A record or label named by position and id, the id masked like the SDK masks text."""
    return f"{kind} {index} (id {mask_text(item_id)[:64]!r})"


class AttributionsIn(_In):
    """SHAP attributions of one prediction: base (expected value) + sum of values = the model's output."""

    base: float | None = Field(None, allow_inf_nan=False, description="The explainer's expected value.")
    values: dict[Key, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        description="feature -> attribution, in the model's output units."
    )


class RecordIn(_In):
    """One sampled prediction."""

    id: RecordId
    ts: EventTime = Field(description="Event time: when the prediction happened.")
    features: dict[str, Any] = Field(
        default_factory=dict,
        max_length=MAX_FEATURES_PER_RECORD,
        description="Feature values as sent. Any JSON is stored (embeddings are lists); values that do not "
        f"match the declared type are data-quality events, not errors. At most {MAX_FEATURES_PER_RECORD} "
        "features per record.",
    )
    prediction: Value = None
    score: float | None = None
    slices: dict[Key, Value] | None = None
    attributions: AttributionsIn | None = Field(
        None, description="SHAP attributions, when the SDK has an explainer attached."
    )


class RecordBatch(_In):
    batch_id: BatchId
    model: ModelName
    version: Version
    records: list[RecordIn] = Field(max_length=MAX_RECORDS_PER_BATCH)

    @model_validator(mode="after")
    def _event_times(self, info: ValidationInfo) -> RecordBatch:
        # once per batch, not a Python validator per record: the range's end moves with the clock
        recs = self.records
        bad = _outside(list(map(_TS, recs)), info)
        if bad:
            _time_errors(
                "RecordBatch",
                [
                    (("records", i, "ts"), recs[i].ts, _named("record", i, recs[i].id))
                    for i in bad[:MAX_TIME_ERRORS]
                ],
                info,
            )
        return self


class LabelIn(_In):
    id: RecordId
    label: StrictBool | int | Annotated[float, Field(allow_inf_nan=False)] | NoNulStr = Field(
        description="Ground truth; null, NaN and infinity are not labels (send a label once it is known)."
    )
    ts: EventTime | None = None


class LabelBatch(_In):
    batch_id: BatchId
    model: ModelName
    labels: list[LabelIn] = Field(max_length=MAX_RECORDS_PER_BATCH * 10)

    @model_validator(mode="after")
    def _event_times(self, info: ValidationInfo) -> LabelBatch:
        labels = self.labels
        timed = [(i, ts) for i, lab in enumerate(labels) if (ts := lab.ts) is not None]
        bad = [timed[j] for j in _outside([ts for _, ts in timed], info)]
        if bad:
            _time_errors(
                "LabelBatch",
                [
                    (("labels", i, "ts"), ts, _named("label", i, labels[i].id))
                    for i, ts in bad[:MAX_TIME_ERRORS]
                ],
                info,
            )
        return self


class FeatureAges(_In):
    """One feature's ages over a stats interval: counts per `FEATURE_AGE_BOUNDS` bucket (+Inf last), sum."""

    counts: list[Count] = Field(min_length=len(FEATURE_AGE_BOUNDS) + 1, max_length=len(FEATURE_AGE_BOUNDS) + 1)
    sum: float = Field(ge=0, allow_inf_nan=False)


class TTFTHistogram(_In):
    """Times to first token of an interval's LLM calls: counts per `GENAI_TTFT_BOUNDS` bucket (+Inf last), sum."""

    counts: list[Count] = Field(min_length=len(GENAI_TTFT_BOUNDS) + 1, max_length=len(GENAI_TTFT_BOUNDS) + 1)
    sum: float = Field(ge=0, le=MAX_COUNT, allow_inf_nan=False)


class TPOTHistogram(_In):
    """Times per output token of an interval's LLM calls: counts per `GENAI_TPOT_BOUNDS` bucket (+Inf last), sum."""

    counts: list[Count] = Field(min_length=len(GENAI_TPOT_BOUNDS) + 1, max_length=len(GENAI_TPOT_BOUNDS) + 1)
    sum: float = Field(ge=0, le=MAX_COUNT, allow_inf_nan=False)


FinishReason = Annotated[str, Field(min_length=1, max_length=64, pattern=FINISH_REASON_PATTERN)]


class GenAIStats(_In):
    """What an interval's LLM calls measured beyond the call counters (sdk/wire.py ``genai``)."""

    ttft: TTFTHistogram | None = None
    tpot: TPOTHistogram | None = None
    finish_reasons: dict[FinishReason, Count] = Field(default_factory=dict, max_length=MAX_FINISH_REASONS)


#: Who gave an eval verdict: a judge model, or a human reviewer (the judge-versus-human agreement pairs them).
EvalSource = Literal["judge", "human"]
EVAL_SOURCES = ("judge", "human")
#: Verdicts one POST /v1/evals may carry.
MAX_EVALS_PER_BATCH = 5000


class EvalIn(_In):
    """One verdict on one record: the OpenTelemetry GenAI evaluation event's name, score and pass or fail."""

    id: RecordId = Field(description="The record id the verdict is about (as in records and labels).")
    name: ModelName = Field(description="The eval (gen_ai.evaluation.name): groundedness, hallucination, ...")
    source: EvalSource = Field(description="judge (a model) or human (a reviewer).")
    passed: StrictBool = Field(description="The verdict: true when the answer passed this eval.")
    score: float | None = Field(
        None, allow_inf_nan=False, description="The score behind it (gen_ai.evaluation.score.value), if any."
    )
    ts: EventTime | None = Field(None, description="When the verdict was given; default: when it arrived.")


class EvalBatch(_In):
    """Eval verdicts of one model's answers (POST /v1/evals)."""

    model: ModelName
    version: Version | None = Field(
        None, description="The version of records this collector has not stored; default: their record's."
    )
    evals: list[EvalIn] = Field(min_length=1, max_length=MAX_EVALS_PER_BATCH)

    @model_validator(mode="after")
    def _event_times(self, info: ValidationInfo) -> EvalBatch:
        times: list[tuple[tuple[str | int, ...], dt.datetime, str]] = [
            (("evals", i, "ts"), e.ts, f"evals[{i}].ts") for i, e in enumerate(self.evals) if e.ts is not None
        ]
        _time_errors("EvalBatch", times, info)
        return self


class EvalsAccepted(BaseModel):
    accepted: int = Field(description="Verdicts stored now.")
    duplicate: int = Field(description="Verdicts already stored for the same record, eval and source: final.")


class StatsBatch(_In):
    batch_id: BatchId
    model: ModelName
    version: Version
    start: EventTime
    end: EventTime
    ok: Count
    error: Count
    latency_bounds: list[float] = Field(min_length=1, max_length=100)
    latency_counts: list[Count] = Field(min_length=2, max_length=101)
    latency_sum: float = Field(ge=0, allow_inf_nan=False)
    sampled: Count = 0
    dropped: Count = 0
    compute_seconds: float = Field(0.0, ge=0, le=MAX_COUNT, allow_inf_nan=False)
    input_tokens: Count = 0
    output_tokens: Count = 0
    feature_ages: dict[ModelName, FeatureAges] = Field(default_factory=dict, max_length=MAX_FEATURE_AGES)
    genai: GenAIStats | None = None

    @model_validator(mode="after")
    def _event_times(self, info: ValidationInfo) -> StatsBatch:
        _time_errors("StatsBatch", [(("start",), self.start, "start"), (("end",), self.end, "end")], info)
        return self

    def problems(self) -> list[tuple[str, str]]:
        """Cross-field checks, as (field, message) pairs: histogram shape, interval, and bounded deltas."""
        out = []
        b = self.latency_bounds
        if any(not math.isfinite(x) or x <= 0 for x in b) or any(x >= y for x, y in itertools.pairwise(b)):
            out.append(
                ("latency_bounds", "must be positive, finite and strictly increasing (+Inf is implied)")
            )
        if len(self.latency_counts) != len(b) + 1:
            out.append(
                (
                    "latency_counts",
                    f"must have len(latency_bounds) + 1 = {len(b) + 1} entries, one per bucket",
                )
            )
        elif sum(self.latency_counts) != self.ok + self.error:
            out.append(
                (
                    "latency_counts",
                    f"sum to {sum(self.latency_counts)} but ok + error = {self.ok + self.error}",
                )
            )
        start, end = event_time.as_utc(self.start), event_time.as_utc(self.end)
        if end < start:
            out.append(("end", "must not be before start"))
        # deltas an SDK cannot have counted in the interval would wreck a model's availability SLO
        seconds = max((end - start).total_seconds(), 1.0)
        most = int(seconds * MAX_CALLS_PER_SECOND)
        for field, n in (("ok", self.ok + self.error), ("sampled", self.sampled), ("dropped", self.dropped)):
            if n > most:
                what = "ok + error" if field == "ok" else field
                out.append(
                    (
                        field,
                        f"{what} = {n} is more than {MAX_CALLS_PER_SECOND:,} per second of the interval "
                        f"({seconds:g} s) allows ({most:,}): send the deltas since the previous stats batch",
                    )
                )
        calls = self.ok + self.error
        if self.latency_sum > calls * MAX_CALL_SECONDS:
            out.append(
                (
                    "latency_sum",
                    f"{self.latency_sum:g} s is more than {MAX_CALL_SECONDS} s for each of the {calls} call(s): "
                    "send the seconds spent in this interval's calls",
                )
            )
        return out


class ReferenceIn(_In):
    """A reference sample as columns (feature -> values); the collector fits and stores its binning."""

    model: ModelName
    version: Version | None = Field(None, description="Omit to use this reference for every version.")
    name: str = Field("reference", max_length=200)
    columns: dict[str, list[Any]] = Field(description="feature -> reference values, all the same length.")
    bins: int | None = Field(None, ge=2, le=100, description="Quantile bins; default from the spec.")
    scores: list[float] | None = Field(
        None, description="Binary models: the reference rows' scores (positive-class probability), for CBPE."
    )
    labels: list[Any] | None = Field(
        None, description="The reference rows' true labels, with `scores`; also give loss attributions."
    )
    attributions: list[AttributionsIn] | None = Field(
        None, description="Per-row SHAP attributions, when the SDK's explainer (not the collector) explains."
    )


#: What an event says happened to a model (`POST /v1/events`).
EVENT_KINDS = ("retrain", "deploy", "rollback")
EventKind = Literal["retrain", "deploy", "rollback"]
#: At most this many links per event, each at most this long.
MAX_EVENT_LINKS = 10
MAX_LINK_LENGTH = 2000
MAX_NOTE_LENGTH = 2000
Link = Annotated[str, Field(min_length=1, max_length=MAX_LINK_LENGTH, pattern=LINK_PATTERN)]


class EventIn(_In):
    """A retrain, deploy or rollback of a model, stored once per (model, event_id)."""

    event_id: str = Field(
        min_length=1,
        max_length=128,
        pattern=NUL_FREE_PATTERN,
        description="Idempotency key: a retry with the same id and content stores nothing new.",
    )
    model: ModelName
    kind: EventKind = Field(description="retrain, deploy or rollback.")
    version: Version | None = Field(None, description="The model version the event produced or restored.")
    ts: EventTime | None = Field(None, description="When it happened; default: when the collector got it.")
    note: str | None = Field(
        None, max_length=MAX_NOTE_LENGTH, pattern=NUL_FREE_PATTERN, description="Why, in a sentence or two."
    )
    links: list[Link] = Field(
        default_factory=list,
        max_length=MAX_EVENT_LINKS,
        description="Absolute http(s) addresses: the pipeline run, the change, the ticket.",
    )

    @model_validator(mode="after")
    def _event_time(self, info: ValidationInfo) -> EventIn:
        if self.ts is not None:
            _time_errors("EventIn", [(("ts",), self.ts, "ts")], info)
        return self


class EventOut(BaseModel):
    event_id: str
    model: str
    kind: str = Field(description="retrain, deploy or rollback.")
    version: str | None
    ts: dt.datetime = Field(description="When it happened.")
    note: str | None
    links: list[str]
    received_at: dt.datetime = Field(description="When the collector stored it.")


class EventStored(EventOut):
    duplicate: bool = Field(
        False, description="True when this event id was stored before with the same content: nothing changed."
    )


class ModelIn(_In):
    name: ModelName
    project: ModelName | None = Field(
        None, description="The project the model joins; default the token's own (a global token's: default)."
    )


class Accepted(BaseModel):
    accepted: int = Field(description="Items stored by this request.")
    duplicate: bool = Field(False, description="True when this batch id was stored before: nothing changed.")


class ReferenceOut(BaseModel):
    id: int
    model: str
    version: str | None
    n: int
    features: dict[str, dict[str, Any]] = Field(
        description="Per drift feature, its fitted binning, counts and moments (the stored value sample is left out)."
    )
    cbpe: bool = Field(False, description="Whether CBPE was calibrated on the reference's scores and labels.")
    warnings: list[str] = Field(default_factory=list, description="What was stored without (and why).")


class WindowedOut(BaseModel):
    """What every per-window result carries: its window, and the window's length as labels spell it."""

    window_start: dt.datetime
    window_end: dt.datetime
    window_seconds: int = Field(description="The window's length in seconds.")

    @computed_field(  # type: ignore[prop-decorator]
        description="The window's length as the `window` label spells it, e.g. 1h or 1d (drift.window)."
    )
    @property
    def window(self) -> str:
        """The length in its largest whole unit, as the exported series' `window` label."""
        return format_duration(self.window_seconds)


class AttributionPointOut(WindowedOut):
    model: str
    version: str
    feature: str
    kind: str = Field(description="prediction (what moved the output) or loss (what moved the error).")
    mean_abs: float | None = Field(description="Mean |SHAP| in the window.")
    mean: float | None
    reference_mean_abs: float | None
    reference_mean: float | None
    statistic: float | None = Field(description="Two-sample KS statistic on the attribution values.")
    p_value: float | None
    p_adjusted: float | None = Field(description="Corrected across the window's features.")
    status: str = Field(description="ok, drift or insufficient_data.")
    n: int
    n_reference: int


class FeatureAttribution(BaseModel):
    feature: str
    value: float


class RecordOut(BaseModel):
    id: str
    ts: dt.datetime
    version: str
    prediction: Any
    score: float | None
    label: Any = Field(description="Ground truth, once it arrived.")
    slices: dict[str, Any] | None
    top_features: list[FeatureAttribution] = Field(
        description="The features that contributed most to this prediction, by |SHAP|."
    )
    base: float | None = Field(None, description="The explainer's expected value.")


class ModelOut(BaseModel):
    name: str
    versions: list[str]
    records: int
    declared: bool
    project: str = Field("default", description="The project the model belongs to.")


class DriftPointOut(WindowedOut):
    model: str
    version: str
    feature: str
    metric: str
    value: float | None
    status: str
    n_reference: int
    n_current: int
    p_value: float | None = Field(None, description="Tests (ks, chi2) only: the test's own p-value.")
    p_adjusted: float | None = Field(
        None, description="Corrected across the window's features; judges status."
    )
    correction: str | None = None
    mde: float | None = Field(
        None,
        description="Minimum detectable effect: the smallest drift, in the metric's units, this window's sizes "
        "detect with 80% power at the 5% level; status is insufficient_data where it exceeds the alert level "
        "and nothing significant was seen. None for chi2 and points stored before it was kept.",
    )


class PerformancePointOut(WindowedOut):
    model: str
    version: str
    slice: str
    metric: str
    value: float | None
    lower: float | None
    upper: float | None
    support: int = Field(description="Labelled records behind the value.")
    total: int = Field(description="Records in the slice and window, labelled or not.")
    status: str = Field(description="ok, immature (label coverage below the minimum) or insufficient_data.")


class DeployOut(BaseModel):
    model: str
    version: str
    first_seen: dt.datetime = Field(
        description="Start of the first SDK stats interval that reported the version."
    )


class QualityPointOut(WindowedOut):
    model: str
    version: str
    feature: str = Field(description="A declared feature, or * for record-level (schema) checks.")
    check: str
    count: int
    total: int
