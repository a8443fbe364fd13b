"""Versioned schema migrations, applied in order on start; each runs once per database."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, delete, inspect, select, text, update

from collector import db, dialects

log = logging.getLogger("driftline.migrations")


@dataclass(frozen=True)
class Migration:
    """One schema change, applied once per database in version order."""

    version: int
    name: str
    apply: Callable[[Connection], None]


def _create(*entities: type[db.Base]) -> Callable[[Connection], None]:
    """A migration that creates these tables (as the current model defines them)."""

    def apply(conn: Connection) -> None:
        db.Base.metadata.create_all(conn, tables=[db.table(e) for e in entities])

    return apply


def _add_columns(conn: Connection) -> None:
    """Columns added to existing tables; a database created by a newer migration 1 already has them."""
    inspector = inspect(conn)
    wanted = {
        "batches": (("version", "VARCHAR(64)"), ("invalid", "INTEGER NOT NULL DEFAULT 0")),
        "references": (("calibration", dialects.of(conn).json_ddl),),
    }
    for table, columns in wanted.items():
        have = {c["name"] for c in inspector.get_columns(table)}
        for name, ddl in columns:
            if name not in have:
                conn.execute(text(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {ddl}'))


def _drift_p_values(conn: Connection) -> None:
    have = {c["name"] for c in inspect(conn).get_columns("drift")}
    for name, ddl in (
        ("p_value", "DOUBLE PRECISION"),
        ("p_adjusted", "DOUBLE PRECISION"),
        ("correction", "VARCHAR(24)"),
    ):
        if name not in have:
            conn.execute(text(f'ALTER TABLE drift ADD COLUMN "{name}" {ddl}'))


def _explanations(conn: Connection) -> None:
    _create(db.AttributionPoint)(conn)
    json_type = dialects.of(conn).json_ddl
    inspector = inspect(conn)
    for table, names in (("records", ("attributions",)), ("references", ("attributions", "sample"))):
        have = {c["name"] for c in inspector.get_columns(table)}
        for name in names:
            if name not in have:
                conn.execute(text(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {json_type}'))


def _quality_and_columns(conn: Connection) -> None:
    _create(db.QualityPoint)(conn)
    _add_columns(conn)
    # each evaluation tick finds windows reopened by late labels through their arrival time
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_labels_received_at ON labels (received_at)"))


def _projects_and_scoped_batches(conn: Connection) -> None:
    """Projects on models and tokens; batch ids keyed per model, with a digest of their content.

    Existing models join the default project; existing ingest and read tokens are bound to it, existing
    admin tokens stay global, so nothing that worked stops working. Existing batch rows keep their ids
    (now under their model) and have no digest: a retry of one is still answered as a duplicate.
    A database whose migration 1 already created these shapes is left as it is.
    """
    inspector = inspect(conn)
    have = {c["name"] for c in inspector.get_columns("models")}
    if "project" not in have:
        conn.execute(
            text(f"ALTER TABLE models ADD COLUMN project VARCHAR(64) NOT NULL DEFAULT '{db.DEFAULT_PROJECT}'")
        )
    have = {c["name"] for c in inspector.get_columns("tokens")}
    if "project" not in have:
        conn.execute(text("ALTER TABLE tokens ADD COLUMN project VARCHAR(64)"))
        conn.execute(text("UPDATE tokens SET project = :p WHERE scope <> 'admin'"), {"p": db.DEFAULT_PROJECT})
    if inspector.get_pk_constraint("batches")["constrained_columns"] == ["model", "batch_id"]:
        return
    if "digest" not in {c["name"] for c in inspector.get_columns("batches")}:
        conn.execute(text("ALTER TABLE batches ADD COLUMN digest VARCHAR(64)"))
    dialects.of(conn).set_primary_key(conn, db.table(db.Batch), ["model", "batch_id"])


def _minute_aggregates(conn: Connection) -> None:
    """Per-minute aggregates, the minutes waiting for evaluation, and each record's reservoir key.

    Existing records keep a NULL key (they join a reservoir only after keyed ones); every model version
    has no aggregate state yet, so its first new data makes the loop build its aggregates from the records.
    """
    _create(db.MinuteCount, db.MinuteMoments, db.PendingMinute, db.AggregateState)(conn)
    inspector = inspect(conn)
    if inspector.has_table("records") and "sample_key" not in {
        c["name"] for c in inspector.get_columns("records")
    }:
        conn.execute(text("ALTER TABLE records ADD COLUMN sample_key BIGINT"))


def _minute_performance(conn: Connection) -> None:
    """Per-minute performance summaries. Aggregate states are dropped so the loop rebuilds each version's
    aggregates (slice counts included) from its records when its next data arrives."""
    _create(db.MinutePerformance)(conn)
    if inspect(conn).has_table(db.AggregateState.__tablename__):
        conn.execute(delete(db.table(db.AggregateState)))


def _hour_rollups(conn: Connection) -> None:
    """The hour roll-up tables. They start empty: a model with a window longer than an hour has its
    aggregates rebuilt (the aggregates' config names the windows), which rolls up every stored hour."""
    db.Base.metadata.create_all(conn, tables=[hourly for _, hourly in db.ROLLUPS])


def _read_indexes(conn: Connection) -> None:
    """The per-window tables' (model, window_start) indexes, which their models now declare."""
    inspector = inspect(conn)
    for entity in WINDOW_TABLES:
        if inspector.has_table(db.table(entity).name):  # a partial old schema may lack one
            for index in db.table(entity).indexes:
                index.create(conn, checkfirst=True)


#: Tables of per-window results: one series per window length since migration 10.
WINDOW_TABLES: tuple[type[db.Base], ...] = (
    db.DriftPoint,
    db.PerformancePoint,
    db.QualityPoint,
    db.AttributionPoint,
)


def _window_lengths(conn: Connection) -> None:
    """The window's length joins each per-window table's key, so one model can keep several windows
    (drift.window: [1h, 1d]). Existing rows get the length they were computed for, end minus start."""
    for entity in WINDOW_TABLES:
        t = db.table(entity)
        inspector = inspect(conn)
        if not inspector.has_table(t.name) or "window_seconds" in {
            c["name"] for c in inspector.get_columns(t.name)
        }:
            continue
        dialects.of(conn).prepare_rekey(conn, t)
        conn.execute(text(f'ALTER TABLE "{t.name}" ADD COLUMN window_seconds INTEGER NOT NULL DEFAULT 0'))
        spans = conn.execute(select(t.c.window_start, t.c.window_end).distinct()).all()
        if spans:
            conn.execute(
                update(t)
                .where(t.c.window_start == bindparam("s"), t.c.window_end == bindparam("e"))
                .values(window_seconds=bindparam("w")),
                [{"s": s, "e": e, "w": round((e - s).total_seconds())} for s, e in spans],
            )
        dialects.of(conn).set_primary_key(conn, t, [c.name for c in t.primary_key.columns])


def _packed_cells(conn: Connection) -> None:
    """A `cells` column on the per-minute performance summaries and their hour roll-up. Rows stored before
    (one per cell) stay: they are read and rolled up as they are, and replaced when their minute is
    summarised again."""
    inspector = inspect(conn)
    for t in (db.table(db.MinutePerformance), dict(db.ROLLUPS)[db.MinutePerformance]):
        if inspector.has_table(t.name) and "cells" not in {c["name"] for c in inspector.get_columns(t.name)}:
            conn.execute(text(f'ALTER TABLE "{t.name}" ADD COLUMN cells TEXT'))


def _genai_usage(conn: Connection) -> None:
    """A `genai` column on stats_usage: LLM calls' time to first token, time per output token, finish reasons
    (a database whose migration 15 created the table from the current model already has it); eval verdicts."""
    _create(db.EvalVerdict)(conn)
    inspector = inspect(conn)
    if inspector.has_table("stats_usage") and "genai" not in {c["name"] for c in inspector.get_columns("stats_usage")}:
        conn.execute(text(f'ALTER TABLE stats_usage ADD COLUMN genai {dialects.of(conn).json_ddl}'))


def _drift_mde(conn: Connection) -> None:
    """An `mde` column on drift points: the minimum detectable effect at the window's sizes. Points stored
    before have none (NULL) until their window is evaluated again."""
    inspector = inspect(conn)
    if inspector.has_table("drift") and "mde" not in {c["name"] for c in inspector.get_columns("drift")}:
        conn.execute(text('ALTER TABLE drift ADD COLUMN "mde" DOUBLE PRECISION'))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema",
        _create(
            db.Token, db.RegisteredModel, db.Batch, db.Record, db.Label, db.Stats, db.Reference, db.DriftPoint
        ),
    ),
    Migration(2, "realized performance per window", _create(db.PerformancePoint)),
    Migration(3, "deploys: first sighting of each model version", _create(db.Deploy)),
    Migration(4, "data quality per window; invalid-record counts; CBPE calibration", _quality_and_columns),
    Migration(5, "drift p-values, raw and corrected across features", _drift_p_values),
    Migration(
        6, "SHAP attributions per record and window; reference sample for multivariate drift", _explanations
    ),
    Migration(
        7,
        "projects on models and tokens; batch ids per model with a content digest",
        _projects_and_scoped_batches,
    ),
    Migration(8, "per-minute aggregates for evaluation; reservoir keys on records", _minute_aggregates),
    Migration(
        9,
        "per-minute performance summaries; every version's aggregates rebuilt to count its slices",
        _minute_performance,
    ),
    Migration(10, "the window's length in every per-window key: several windows per model", _window_lengths),
    Migration(11, "hour roll-ups of the per-minute aggregates, for windows of a day or a week", _hour_rollups),
    Migration(12, "an index on (model, window_start) of every per-window table: reads flat in history", _read_indexes),
    Migration(13, "events: retrains, deploys and rollbacks reported per model", _create(db.Event)),
    Migration(14, "audit log of admin actions", _create(db.AuditEntry)),
    Migration(15, "usage per stats batch: compute seconds and tokens, for cost", _create(db.StatsUsage)),
    Migration(16, "ROC AUC cells of a slice-minute packed in one row (column cells)", _packed_cells),
    Migration(17, "leases: one collector of several runs evaluation ticks and housekeeping", _create(db.Lease)),
    Migration(18, "LLM calls: time to first token, per output token, finish reasons; eval verdicts", _genai_usage),
    Migration(19, "the minimum detectable effect of each drift point, at its window's sizes", _drift_mde),
)


def migrate(engine: Engine) -> list[int]:
    """Apply every migration this database lacks; returns the versions applied now."""
    applied_now: list[int] = []
    with engine.begin() as conn:
        db.table(db.SchemaVersion).create(conn, checkfirst=True)
        done = set(conn.scalars(select(db.SchemaVersion.version)))
        for m in MIGRATIONS:
            if m.version in done:
                continue
            log.info("applying migration %d: %s", m.version, m.name)
            m.apply(conn)
            conn.execute(db.table(db.SchemaVersion).insert().values(version=m.version, name=m.name))
            applied_now.append(m.version)
    dialects.of(engine).setup_time_series(engine)
    return applied_now


def current_version(engine: Engine) -> int:
    """The newest applied migration, 0 for an empty database."""
    if not inspect(engine).has_table(db.SchemaVersion.__tablename__):
        return 0
    with engine.connect() as conn:
        return max(conn.scalars(select(db.SchemaVersion.version)), default=0)
