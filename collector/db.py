"""The collector's typed schema (SQLAlchemy 2.0) and the engine factory.

Every time-series table's primary key contains its time column, so the same tables can become
TimescaleDB hypertables (which require it) without a second schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from collector import dialects
from collector.encoding import attributions_of as attributions_of  # kept reachable as db.attributions_of
from collector.encoding import encode_json


def _json_type() -> TypeEngine[Any]:
    """JSON, as each storage dialect declares its JSON columns (JSONB on PostgreSQL)."""
    json: TypeEngine[Any] = JSON()
    for d in dialects.registered().values():
        if d.json_column is not None:
            json = json.with_variant(d.json_column, d.name)
    return json


JSONType = _json_type()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        """To UTC; naive where the storage dialect keeps no time zone."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialects.named(dialect.name).naive_datetimes else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        """Back as timezone-aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """The storage dialect's own reading of stored datetimes, where it has one."""
        reader = dialects.named(dialect.name).datetime_reader()
        return super().result_processor(dialect, coltype) if reader is None else reader


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC: every stored time is."""
    return dt.datetime.now(dt.UTC)


#: The project of models declared without one and of tokens created without `--project`.
DEFAULT_PROJECT = "default"


class Base(DeclarativeBase):
    """The declarative base of every collector table."""


class SchemaVersion(Base):
    """Migrations applied to this database, one row each."""

    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Token(Base):
    """An API token: a public id and the SHA-256 of its secret part, never the secret itself."""

    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    scope: Mapped[str] = mapped_column(String(16))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # migration 7: the project whose models the token may touch; NULL for a global (all-projects) admin
    project: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RegisteredModel(Base):
    """A model the collector accepts data for (from the spec or registered through the API)."""

    __tablename__ = "models"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), default="api")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # migration 7: the project the model belongs to; tokens of other projects cannot touch it
    project: Mapped[str] = mapped_column(String(64), default=DEFAULT_PROJECT, server_default=DEFAULT_PROJECT)


class Batch(Base):
    """Every accepted batch id per model, so a retried batch is stored once.

    Keyed by (model, batch_id) since migration 7: one model's client cannot claim another model's batch
    id first. `digest` (SHA-256 of the validated batch) tells a retry (same content) from a reuse of
    the id for other content, which is refused; rows stored before migration 7 have none.
    """

    __tablename__ = "batches"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)  # migration 4
    invalid: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # migration 4: bad records
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)  # migration 7


class Record(Base):
    """One sampled prediction, keyed by event time `ts` (when the prediction happened)."""

    __tablename__ = "records"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    features: Mapped[dict[str, Any]] = mapped_column(JSONType)
    prediction: Mapped[Any] = mapped_column(JSONType, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    slices: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    batch_id: Mapped[str] = mapped_column(String(128))
    # migration 6: SHAP attributions {"base": float | None, "values": {feature: float}}, from the SDK's
    # explainer or computed by the collector for a registered model
    attributions: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # migration 8: a keyed hash of the record id, uniform over int64; a window's reservoir is the records
    # with the smallest keys (a seeded uniform sample, the same on every collector). NULL before it.
    sample_key: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index("ix_records_model_ts", "model", "ts"),
        Index("ix_records_received_at", "received_at"),
    )


class Label(Base):
    """Ground truth for a record id; arrives any time after the prediction."""

    __tablename__ = "labels"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    label: Mapped[Any] = mapped_column(JSONType)
    ts: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_labels_received_at", "received_at"),)


class Stats(Base):
    """One SDK stats delta: exact call counters and latency histogram over [start, end).

    Since migration 7, `batch_id` holds `scoped_batch_key(model, batch_id)`, unique across models, so
    two models' stats batches with the same client id and start never collide on this key (a stats
    hypertable's key cannot be altered once TimescaleDB compresses it, so the value is scoped instead).
    """

    __tablename__ = "stats"
    batch_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    model: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    ok: Mapped[int] = mapped_column(BigInteger)
    error: Mapped[int] = mapped_column(BigInteger)
    latency_bounds: Mapped[list[float]] = mapped_column(JSONType)
    latency_counts: Mapped[list[int]] = mapped_column(JSONType)
    latency_sum: Mapped[float] = mapped_column(Float)
    sampled: Mapped[int] = mapped_column(BigInteger)
    dropped: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_stats_model_start", "model", "start"),)


class Reference(Base):
    """A reference sample's fitted binning and counts per feature (see analyzers.binning)."""

    __tablename__ = "references"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(200), default="reference")
    n: Mapped[int] = mapped_column(Integer)
    features: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)  # migration 4: CBPE
    # migration 6: per-row attributions of the reference sample (Attributions.to_records), prediction and
    # loss, for attribution drift; and a bounded row sample with its vector schema, for multivariate drift
    attributions: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    sample: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)

    __table_args__ = (Index("ix_references_model", "model", "created_at"),)


class DriftPoint(Base):
    """Drift of one feature in one event-time window against the reference: the stored time series."""

    __tablename__ = "drift"
    # migration 12: a model's newest windows without sorting its history (reads, newest first)
    __table_args__ = (Index("ix_drift_model_window", "model", "window_start"),)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    feature: Mapped[str] = mapped_column(String(64), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    # migration 10: one series per window length (drift.window may list several)
    window_seconds: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    window_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(24))
    n_reference: Mapped[int] = mapped_column(Integer)
    n_current: Mapped[int] = mapped_column(Integer)
    reference_id: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    p_value: Mapped[float | None] = mapped_column(Float, nullable=True)  # migration 5: tests only
    p_adjusted: Mapped[float | None] = mapped_column(Float, nullable=True)  # corrected across features
    correction: Mapped[str | None] = mapped_column(String(24), nullable=True)
    #: migration 19: the smallest drift (the metric's units) the window's sizes detect (`analyzers.power`)
    mde: Mapped[float | None] = mapped_column(Float, nullable=True)


def table(entity: type[Base]) -> Table:
    """The Core table behind a mapped class (typed, for INSERT/CREATE statements)."""
    return Base.metadata.tables[entity.__tablename__]


class PerformancePoint(Base):
    """Realized performance of one slice in one event-time window, on the labels that have arrived."""

    __tablename__ = "performance"
    # migration 12: a model's newest windows without sorting its history (reads, newest first)
    __table_args__ = (Index("ix_performance_model_window", "model", "window_start"),)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    slice: Mapped[str] = mapped_column(String(200), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    # migration 10: one series per window length (drift.window may list several)
    window_seconds: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    window_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    lower: Mapped[float | None] = mapped_column(Float, nullable=True)
    upper: Mapped[float | None] = mapped_column(Float, nullable=True)
    support: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(24))
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AttributionPoint(Base):
    """Attributions of one feature in one event-time window against the reference's: mean |SHAP| and its
    drift. `kind` is "prediction" (what moved the model's output) or "loss" (what moved its error, on
    labelled rows: the one that flags a feature whose relation to the target changed)."""

    __tablename__ = "attributions"
    # migration 12: a model's newest windows without sorting its history (reads, newest first)
    __table_args__ = (Index("ix_attributions_model_window", "model", "window_start"),)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    # migration 10: one series per window length (drift.window may list several)
    window_seconds: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    window_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    mean_abs: Mapped[float | None] = mapped_column(Float, nullable=True)
    mean: Mapped[float | None] = mapped_column(Float, nullable=True)
    reference_mean_abs: Mapped[float | None] = mapped_column(Float, nullable=True)
    reference_mean: Mapped[float | None] = mapped_column(Float, nullable=True)
    statistic: Mapped[float | None] = mapped_column(Float, nullable=True)  # KS on the attribution values
    p_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    p_adjusted: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(24))
    n: Mapped[int] = mapped_column(Integer)
    n_reference: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Deploy(Base):
    """The first time a model version was seen serving (from SDK stats): a deploy, for annotations."""

    __tablename__ = "deploys"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """A retrain, deploy or rollback of a model, as an operator or a pipeline reported it (migration 13).

    Keyed by (model, event_id): a retried POST stores the event once; `digest` (SHA-256 of the event as
    sent) tells a retry from a reuse of the id for another event, which is refused.
    """

    __tablename__ = "events"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    links: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    digest: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_events_model_ts", "model", "ts"),)


class StatsUsage(Base):
    """What the calls of one SDK stats delta used (migration 15): compute seconds and tokens for cost, and
    the ages of the features they used for freshness.

    One row per stats batch that counted any usage, keyed like `Stats` by the scoped batch id, written in
    the same transaction; a plain table beside the stats hypertable, so no compressed chunk is altered.
    """

    __tablename__ = "stats_usage"
    batch_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    model: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    compute_seconds: Mapped[float] = mapped_column(Float)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    #: feature -> {"counts": [...], "sum": seconds}: the ages of the features the calls used (freshness)
    feature_ages: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    #: LLM calls (migration 18): {"ttft": {"counts", "sum"}, "tpot": {...}, "finish_reasons": {reason: n}}
    genai: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)

    __table_args__ = (Index("ix_stats_usage_model_end", "model", "end"),)


class EvalVerdict(Base):
    """One eval verdict on a generative model's answer (migration 18): a judge model's or a human reviewer's
    pass or fail on one eval (groundedness, hallucination, ...) of one record, with an optional score.

    Keyed by (model, record id, eval name, source): the first verdict stored is final, so counters and the
    judge-versus-human agreement count each once, also with several collectors on one database."""

    __tablename__ = "eval_verdicts"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    passed: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class QualityPoint(Base):
    """One data-quality check of one feature in one event-time window: how many of how many failed."""

    __tablename__ = "quality"
    # migration 12: a model's newest windows without sorting its history (reads, newest first)
    __table_args__ = (Index("ix_quality_model_window", "model", "window_start"),)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    check: Mapped[str] = mapped_column(String(32), primary_key=True)
    # migration 10: one series per window length (drift.window may list several)
    window_seconds: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    window_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MinuteCount(Base):
    """One count of one feature in one minute of a model version, on one reference's bins (migration 8).

    `item` is "b<i>" (reference bin i), "missing", "invalid", "q:<check>" (quality count) or "t:<check>"
    (its total); see analyzers.aggregates. Writers add to `n`, never replace it, so any number of
    collectors can ingest at once; reference 0 holds the counts of a version that has no reference yet.
    """

    __tablename__ = "minute_counts"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    minute: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    item: Mapped[str] = mapped_column(String(48), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class MinuteMoments(Base):
    """Count, sum, sum of squares, min and max of a numeric feature's finite values in one minute."""

    __tablename__ = "minute_moments"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    minute: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[float] = mapped_column(Float)
    squares: Mapped[float] = mapped_column(Float)
    low: Mapped[float | None] = mapped_column(Float, nullable=True)
    high: Mapped[float | None] = mapped_column(Float, nullable=True)


class MinutePerformance(Base):
    """One summary item of one slice in one minute of a model version's labelled records (migration 9).

    `item` "records" counts the minute's records, labelled or not, added at ingest; the other items are
    `analyzers.performance_summary`'s, replaced whenever a label for the minute arrives. `slice` is "all"
    or "column=value" with the value as sent: the window folds rare values into "other".
    """

    __tablename__ = "minute_performance"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    slice: Mapped[str] = mapped_column(Text, primary_key=True)
    item: Mapped[str] = mapped_column(Text, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[float] = mapped_column(Float, default=0.0)
    squares: Mapped[float] = mapped_column(Float, default=0.0)
    #: item "r" only: the slice-minute's ROC AUC grid cells as JSON {"cell:y": n} (migration 16), one row
    #: where one per cell made the table hold several rows per labelled record
    cells: Mapped[str | None] = mapped_column(Text, nullable=True)


def _hourly(entity: type[Base], name: str) -> Table:
    """The hour roll-up of a per-minute table: the same columns, `hour` in place of `minute`. The
    evaluator writes each hour as the sum of its minutes (migration 11), so windows of a day or a week
    sum 24 or 168 rows per item instead of 1,440 or 10,080."""
    return Table(
        name,
        Base.metadata,
        *(
            Column("hour" if c.name == "minute" else c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in table(entity).columns
        ),
    )


HOUR_COUNTS = _hourly(MinuteCount, "hour_counts")
HOUR_MOMENTS = _hourly(MinuteMoments, "hour_moments")
HOUR_PERFORMANCE = _hourly(MinutePerformance, "hour_performance")
#: Each per-minute table and its hour roll-up.
ROLLUPS: tuple[tuple[type[Base], Table], ...] = (
    (MinuteCount, HOUR_COUNTS),
    (MinuteMoments, HOUR_MOMENTS),
    (MinutePerformance, HOUR_PERFORMANCE),
)


class PendingMinute(Base):
    """A minute of a model version that received records ("records") or labels ("labels") since the
    evaluation loop last looked: the loop takes these rows (deleting them) and evaluates their windows."""

    __tablename__ = "pending_minutes"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)


class AggregateState(Base):
    """Which reference (0: none) and which declared features (`config`, a digest) a model version's
    per-minute aggregates were built with; ingest adds to them only while both still hold."""

    __tablename__ = "aggregate_state"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference_id: Mapped[int] = mapped_column(Integer)
    config: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def make_engine(url: str) -> Engine:
    """An engine for a SQLAlchemy URL, configured by its storage dialect (see `collector.dialects`)."""
    return dialects.for_url(url).make_engine(make_url(url), json_serializer=encode_json)


class AuditEntry(Base):
    """One admin action (migration 14): who did it (token id and name, or the local operator), what, when,
    on which model, and its parameters without secrets. Written in the action's own transaction, so an
    action that rolls back leaves no entry and an entry never lacks its action."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the token that acted; NULL for an action taken on the database directly (the `driftline` CLI)
    token_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(64), nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (Index("ix_audit_log_at", "at", "id"),)


class Lease(Base):
    """A named lease (migration 17): which collector holds it and until when. Ticks and housekeeping run
    only in the holder, so several collectors on one database evaluate each changed window once; a holder
    that stops renewing loses it when `expires_at` passes (`collector.leases`)."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
