"""Request and response models of the v1 API (the shapes are documented in sdk/wire.py)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from sdk.wire import MAX_RECORDS_PER_BATCH

Scalar = float | int | str | bool | None
BatchId = Annotated[str, Field(min_length=1, max_length=128, description="Idempotency key of the batch.")]
ModelName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z][a-zA-Z0-9_.-]*$")]
Version = Annotated[str, Field(min_length=1, max_length=64)]
RecordId = Annotated[str, Field(min_length=1, max_length=256)]


def _event_time(v: Any) -> Any:
    """Unix seconds or ISO-8601, always read as UTC."""
    if isinstance(v, bool):
        raise ValueError("must be unix seconds or an ISO-8601 timestamp, not a boolean")
    if isinstance(v, int | float):
        if not math.isfinite(v) or not 0 <= v < 32503680000:
            raise ValueError("must be unix seconds between 1970 and 3000")
        return dt.datetime.fromtimestamp(v, dt.UTC)
    if isinstance(v, str):
        try:
            return dt.datetime.fromisoformat(v)
        except ValueError:
            raise ValueError(
                f"{v[:40]!r} is not a timestamp: send unix seconds or ISO-8601 like 2026-11-24T22:00:00Z"
            ) from None
    return v


EventTime = Annotated[dt.datetime, BeforeValidator(_event_time)]


def _clean(v: Any, where: str) -> Any:
    """JSON scalars only; non-finite floats become null (JSON has no NaN) and NUL bytes are refused."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, str) and "\x00" in v:
        raise ValueError(f"{where} contains a NUL character, which cannot be stored: remove it")
    if isinstance(v, dict | list):
        raise ValueError(f"{where} must be a number, string, boolean or null, not a {type(v).__name__}")
    return v


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _utc(v: dt.datetime) -> dt.datetime:
    return v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v.astimezone(dt.UTC)


class RecordIn(_In):
    """One sampled prediction."""

    id: RecordId
    ts: EventTime = Field(description="Event time: when the prediction happened.")
    features: dict[Annotated[str, Field(max_length=128)], Any] = Field(default_factory=dict)
    prediction: Any = None
    score: float | None = None
    slices: dict[Annotated[str, Field(max_length=128)], Any] | None = None

    @field_validator("features", "slices")
    @classmethod
    def _scalars(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if v is None else {k: _clean(x, f"value of {k!r}") for k, x in v.items()}

    @field_validator("prediction")
    @classmethod
    def _prediction(cls, v: Any) -> Any:
        return _clean(v, "prediction")

    @field_validator("score")
    @classmethod
    def _score(cls, v: float | None) -> float | None:
        return None if v is None or not math.isfinite(v) else v

    _ts = field_validator("ts")(classmethod(lambda cls, v: _utc(v)))


class RecordBatch(_In):
    batch_id: BatchId
    model: ModelName
    version: Version
    records: list[RecordIn] = Field(max_length=MAX_RECORDS_PER_BATCH)


class LabelIn(_In):
    id: RecordId
    label: Any
    ts: EventTime | None = None

    @field_validator("label")
    @classmethod
    def _label(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("label must not be null: send the ground truth, or leave the record out")
        return _clean(v, "label")


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
        if any(not math.isfinite(x) or x <= 0 for x in b) or any(x >= y for x, y in zip(b, b[1:], strict=False)):
            out.append(("latency_bounds", "must be positive, finite and strictly increasing (+Inf is implied)"))
        if len(self.latency_counts) != len(b) + 1:
            out.append(("latency_counts", f"must have len(latency_bounds) + 1 = {len(b) + 1} entries, one per bucket"))
        elif sum(self.latency_counts) != self.ok + self.error:
            out.append(("latency_counts", f"sum to {sum(self.latency_counts)} but ok + error = {self.ok + self.error}"))
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
