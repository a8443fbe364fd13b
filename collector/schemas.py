"""Request and response models of the v1 API (the shapes are documented in sdk/wire.py)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, field_validator

from collector.redaction import checked_version
from sdk.redact import VERSION_PATTERN
from sdk.wire import MAX_RECORDS_PER_BATCH

BatchId = Annotated[str, Field(min_length=1, max_length=128, description="Idempotency key of the batch.")]
ModelName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z][a-zA-Z0-9_.-]*$")]
#: A release name (no free text: it labels /metrics series), never personal data (collector/redaction.py).
Version = Annotated[
    str, Field(min_length=1, max_length=64, pattern=VERSION_PATTERN), AfterValidator(checked_version)
]
RecordId = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00]*$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Validation of records runs for every sampled row, so it stays inside pydantic-core: constrained
# types, no Python validators (bench/bench_ingest.py: 14 -> 5 us per record).
NoNulStr = Annotated[str, Field(pattern=r"^[^\x00]*$")]
#: A slice or prediction value: a JSON scalar.
Value = StrictBool | int | float | NoNulStr | None
Key = Annotated[str, Field(min_length=1, max_length=128)]
#: Event time: unix seconds (numbers above 2e10 are read as milliseconds) or ISO-8601; naive means UTC.
EventTime = dt.datetime


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
        description="Feature values as sent. Any JSON is stored (embeddings are lists); values that do not "
        "match the declared type are data-quality events, not errors.",
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


class LabelIn(_In):
    id: RecordId
    label: StrictBool | int | float | NoNulStr = Field(description="Ground truth; null is not a label.")
    ts: EventTime | None = None


class LabelBatch(_In):
    batch_id: BatchId
    model: ModelName
    labels: list[LabelIn] = Field(max_length=MAX_RECORDS_PER_BATCH * 10)


class StatsBatch(_In):
    batch_id: BatchId
    model: ModelName
    version: Version
    start: EventTime
    end: EventTime
    ok: int = Field(ge=0)
    error: int = Field(ge=0)
    latency_bounds: list[float] = Field(min_length=1, max_length=100)
    latency_counts: list[int] = Field(min_length=2, max_length=101)
    latency_sum: float = Field(ge=0, allow_inf_nan=False)
    sampled: int = Field(0, ge=0)
    dropped: int = Field(0, ge=0)

    @field_validator("latency_counts")
    @classmethod
    def _counts(cls, v: list[int]) -> list[int]:
        if any(c < 0 for c in v):
            raise ValueError("counts must be zero or more")
        return v

    def problems(self) -> list[tuple[str, str]]:
        """Cross-field checks, as (field, message) pairs."""
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
        if self.end < self.start:
            out.append(("end", "must not be before start"))
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


class ModelIn(_In):
    name: ModelName


class Accepted(BaseModel):
    accepted: int = Field(description="Items stored by this request.")
    duplicate: bool = Field(False, description="True when this batch id was stored before: nothing changed.")


class ReferenceOut(BaseModel):
    id: int
    model: str
    version: str | None
    n: int
    features: dict[str, dict[str, Any]]
    warnings: list[str] = Field(default_factory=list, description="What was stored without (and why).")


class AttributionPointOut(BaseModel):
    model: str
    version: str
    feature: str
    kind: str = Field(description="prediction (what moved the output) or loss (what moved the error).")
    window_start: dt.datetime
    window_end: dt.datetime
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


class DriftPointOut(BaseModel):
    model: str
    version: str
    feature: str
    metric: str
    window_start: dt.datetime
    window_end: dt.datetime
    value: float | None
    status: str
    n_reference: int
    n_current: int
    p_value: float | None = Field(None, description="Tests (ks, chi2) only: the test's own p-value.")
    p_adjusted: float | None = Field(
        None, description="Corrected across the window's features; judges status."
    )
    correction: str | None = None


class PerformancePointOut(BaseModel):
    model: str
    version: str
    slice: str
    metric: str
    window_start: dt.datetime
    window_end: dt.datetime
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


class QualityPointOut(BaseModel):
    model: str
    version: str
    feature: str = Field(description="A declared feature, or * for record-level (schema) checks.")
    check: str
    window_start: dt.datetime
    window_end: dt.datetime
    count: int
    total: int
