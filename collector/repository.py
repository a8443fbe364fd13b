"""All of the collector's SQL, as keyword-only functions over a SQLAlchemy connection."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from sqlalchemy import CursorResult, and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from collector import db
from collector.dialects import postgres
from collector.dialects import sqlite as sqlite_rows


def _dialect(conn: Session) -> str:
    return conn.get_bind().dialect.name


def _insert(conn: Session, entity: Any) -> Any:
    """The dialect's INSERT (which knows ON CONFLICT) on an entity's table."""
    return (postgresql.insert if _dialect(conn) == "postgresql" else sqlite.insert)(db.table(entity))


# ---------------------------------------------------------------------------------------------- batches


def claim_batch(
    conn: Session,
    *,
    batch_id: str,
    kind: str,
    model: str,
    size: int,
    version: str | None = None,
    invalid: int = 0,
    digest: str | None = None,
) -> Claim:
    """Record a model's batch id: "new" the first time; "duplicate" when this model stored the same
    content under it before (the caller then stores nothing); "conflict" when it stored other content
    (or another kind) under it. Rows from before migration 7 have no digest and count as the same."""
    stmt = (
        _insert(conn, db.Batch)
        .values(
            batch_id=batch_id,
            kind=kind,
            model=model,
            size=size,
            received_at=db.utcnow(),
            version=version,
            invalid=invalid,
            digest=digest,
        )
        .on_conflict_do_nothing(index_elements=["model", "batch_id"])
        .returning(db.table(db.Batch).c.batch_id)
    )
    if conn.execute(stmt).first() is not None:
        return "new"
    stored = conn.execute(
        select(db.Batch.kind, db.Batch.digest).where(db.Batch.model == model, db.Batch.batch_id == batch_id)
    ).first()
    if stored is None:  # pragma: no cover - the row that conflicted cannot vanish inside this transaction
        return "conflict"
    same = stored.kind == kind and (stored.digest is None or digest is None or stored.digest == digest)
    return "duplicate" if same else "conflict"


Claim = Literal["new", "duplicate", "conflict"]


def scoped_batch_key(model: str, batch_id: str) -> str:
    """A key unique to (model, batch id), for tables keyed by batch id across models (stats)."""
    return hashlib.sha256(f"{model}\x00{batch_id}".encode()).hexdigest()


# ---------------------------------------------------------------------------------------------- records


class RecordLike(Protocol):
    """A validated record (collector.schemas.RecordIn has this shape)."""

    id: str
    ts: dt.datetime
    features: dict[str, Any]
    prediction: Any
    score: float | None
    slices: dict[str, Any] | None


def insert_records(
    conn: Session,
    *,
    model: str,
    version: str,
    batch_id: str,
    received_at: dt.datetime,
    records: Sequence[RecordLike],
) -> int:
    """Store sampled records of one model version; a record already stored is kept as it was."""
    if not records:
        return 0
    if _dialect(conn) == "postgresql":
        rows = [postgres.record_row(model, version, batch_id, received_at, r) for r in records]
        return postgres.copy_records(conn.connection(), rows)
    received = sqlite_rows.utc_text(received_at)
    return sqlite_rows.insert_records(
        conn.connection(), [sqlite_rows.record_row(model, version, batch_id, received, r) for r in records]
    )


def refresh_statistics(conn: Session) -> None:
    """After a bulk load, let PostgreSQL see the new row counts so lookups use the record key."""
    if _dialect(conn) == "postgresql":
        postgres.analyze(conn.connection(), ["records", "labels"])


def touched_windows(
    conn: Session, *, received_after: dt.datetime, received_until: dt.datetime
) -> set[tuple[str, str, dt.datetime]]:
    """(model, version, event time) of records that, or whose labels, arrived in (after, until]."""
    cols = (db.Record.model, db.Record.version, db.Record.ts)
    records = select(*cols).where(
        db.Record.received_at > received_after, db.Record.received_at <= received_until
    )
    labelled = (
        select(*cols)
        .join(db.Label, (db.Label.model == db.Record.model) & (db.Label.record_id == db.Record.record_id))
        .where(db.Label.received_at > received_after, db.Label.received_at <= received_until)
    )
    return {(m, v, ts) for stmt in (records, labelled) for m, v, ts in conn.execute(stmt)}


def window_records(
    conn: Session, *, model: str, version: str, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Feature dicts of one model version's records with event time in [start, end)."""
    stmt = select(db.Record.features).where(
        db.Record.model == model, db.Record.version == version, db.Record.ts >= start, db.Record.ts < end
    )
    return list(conn.scalars(stmt))


def window_labelled(
    conn: Session, *, model: str, version: str, start: dt.datetime, end: dt.datetime
) -> list[tuple[Any, Any, dict[str, Any] | None, float | None]]:
    """(prediction, label or None, slices, score) of one model version's records with event time in
    [start, end)."""
    stmt = (
        select(db.Record.prediction, db.Label.label, db.Record.slices, db.Record.score)
        .outerjoin(
            db.Label, (db.Label.model == db.Record.model) & (db.Label.record_id == db.Record.record_id)
        )
        .where(
            db.Record.model == model, db.Record.version == version, db.Record.ts >= start, db.Record.ts < end
        )
    )
    return [(p, y, s, sc) for p, y, s, sc in conn.execute(stmt)]


def record_counts(conn: Session) -> dict[tuple[str, str], tuple[int, int]]:
    """(model, version) -> (records, invalid records) over every records batch ever accepted, the
    versions that received records least recently first (the order /metrics ranks versions in)."""
    stmt = (
        select(db.Batch.model, db.Batch.version, func.sum(db.Batch.size), func.sum(db.Batch.invalid))
        .where(db.Batch.kind == "records")
        .group_by(db.Batch.model, db.Batch.version)
        .order_by(func.max(db.Batch.received_at))
    )
    return {(m, v or "unknown"): (int(n or 0), int(bad or 0)) for m, v, n, bad in conn.execute(stmt)}


def window_scored(
    conn: Session, *, model: str, version: str, start: dt.datetime, end: dt.datetime
) -> list[tuple[Any, float]]:
    """(stored prediction or None, score) of one model version's records with a finite score and event
    time in [start, end): what CBPE estimates accuracy from."""
    stmt = select(db.Record.prediction, db.Record.score).where(
        db.Record.model == model,
        db.Record.version == version,
        db.Record.ts >= start,
        db.Record.ts < end,
        db.Record.score.is_not(None),
    )
    return [(p, float(x)) for p, x in conn.execute(stmt) if x is not None and math.isfinite(x)]


def window_labelled_all_versions(
    conn: Session, *, model: str, start: dt.datetime, end: dt.datetime
) -> list[tuple[Any, Any, dict[str, Any] | None]]:
    """(prediction, label or None, slices) of every version's records with event time in [start, end)."""
    stmt = (
        select(db.Record.prediction, db.Label.label, db.Record.slices)
        .outerjoin(
            db.Label, (db.Label.model == db.Record.model) & (db.Label.record_id == db.Record.record_id)
        )
        .where(db.Record.model == model, db.Record.ts >= start, db.Record.ts < end)
    )
    return [(p, y, s) for p, y, s in conn.execute(stmt)]


def newest_labelled_window(conn: Session, *, model: str, before: dt.datetime) -> dt.datetime | None:
    """Start of the newest window, ended by `before`, whose realized performance has matured labels."""
    stmt = select(func.max(db.PerformancePoint.window_start)).where(
        db.PerformancePoint.model == model,
        db.PerformancePoint.status == "ok",
        db.PerformancePoint.slice == "all",
        db.PerformancePoint.window_end <= before,
    )
    ts = conn.scalar(stmt)
    return None if ts is None else (ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC))


def newest_record_time(conn: Session) -> dt.datetime | None:
    return conn.scalar(select(func.max(db.Record.received_at)))


def count_records(conn: Session, *, model: str | None = None) -> int:
    stmt = select(func.count()).select_from(db.Record)
    if model is not None:
        stmt = stmt.where(db.Record.model == model)
    return int(conn.scalar(stmt) or 0)


# ----------------------------------------------------------------------------------------------- labels


def upsert_labels(conn: Session, *, rows: Sequence[dict[str, Any]]) -> int:
    """Store labels by record id; a later label for the same id replaces the earlier one."""
    if not rows:
        return 0
    stmt = _insert(conn, db.Label)
    stmt = stmt.on_conflict_do_update(
        index_elements=["model", "record_id"],
        set_={"label": stmt.excluded.label, "ts": stmt.excluded.ts, "received_at": stmt.excluded.received_at},
    )
    conn.execute(stmt, list(rows))
    return len(rows)


def labelled_predictions(
    conn: Session,
    *,
    model: str | None = None,
    received_after: dt.datetime | None = None,
    received_until: dt.datetime | None = None,
) -> list[tuple[str, str, Any, Any]]:
    """(model, version, prediction, label) of labelled records, optionally by label arrival time."""
    stmt = select(db.Record.model, db.Record.version, db.Record.prediction, db.Label.label).join(
        db.Label, (db.Label.model == db.Record.model) & (db.Label.record_id == db.Record.record_id)
    )
    if model is not None:
        stmt = stmt.where(db.Label.model == model, db.Record.model == model)
    if received_after is not None:
        stmt = stmt.where(db.Label.received_at > received_after)
    if received_until is not None:
        stmt = stmt.where(db.Label.received_at <= received_until)
    return [(m, v, p, y) for m, v, p, y in conn.execute(stmt)]


def predictions_by_id(conn: Session, *, model: str, ids: Sequence[str]) -> dict[str, tuple[str, Any]]:
    """record id -> (version, prediction) for these ids: one key lookup per id, no join (label ingest)."""
    stmt = select(db.Record.record_id, db.Record.version, db.Record.prediction).where(
        db.Record.model == model, db.Record.record_id.in_(list(ids))
    )
    return {rid: (v, p) for rid, v, p in conn.execute(stmt)}


def last_received(conn: Session) -> dict[tuple[str, str], dt.datetime]:
    """(model, "records" | "labels") -> when the newest one arrived."""
    out: dict[tuple[str, str], dt.datetime] = {}
    for kind, entity in (("records", db.Record), ("labels", db.Label)):
        for m, ts in conn.execute(select(entity.model, func.max(entity.received_at)).group_by(entity.model)):
            if ts is not None:
                out[(m, kind)] = ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)
    return out


def count_labels(conn: Session) -> dict[str, int]:
    stmt = select(db.Label.model, func.count()).group_by(db.Label.model)
    return {m: int(n) for m, n in conn.execute(stmt)}


# ------------------------------------------------------------------------------------------------ stats


def insert_stats(conn: Session, *, row: dict[str, Any]) -> None:
    """Store one stats delta; its batch id is stored scoped to its model (see db.Stats)."""
    row = {**row, "batch_id": scoped_batch_key(row["model"], row["batch_id"])}
    conn.execute(db.table(db.Stats).insert().values(**row))


def stats_totals(conn: Session) -> list[db.Stats]:
    """Every stats row (model, version, counters, histogram), oldest first, to rebuild exported totals."""
    stmt = select(
        db.Stats.model,
        db.Stats.version,
        db.Stats.ok,
        db.Stats.error,
        db.Stats.latency_bounds,
        db.Stats.latency_counts,
        db.Stats.latency_sum,
        db.Stats.dropped,
        db.Stats.end,
    ).order_by(db.Stats.end)
    return list(conn.execute(stmt))  # type: ignore[arg-type]


@dataclass(frozen=True)
class CallCounts:
    """The SDK's exact counters summed over a time range: calls by outcome and the latency histogram."""

    ok: int
    error: int
    bounds: tuple[float, ...]
    counts: tuple[int, ...]  # per bucket, len(bounds) + 1

    @property
    def total(self) -> int:
        return self.ok + self.error

    def under(self, seconds: float) -> int:
        """Calls at or under `seconds` (a bucket bound), from the histogram."""
        return sum(c for b, c in zip(self.bounds, self.counts, strict=False) if b <= seconds)


def call_counts(conn: Session, *, model: str, since: dt.datetime, until: dt.datetime) -> CallCounts:
    """Sum of the stats deltas of one model (all versions) whose interval ended in (since, until]."""
    stmt = select(db.Stats.ok, db.Stats.error, db.Stats.latency_bounds, db.Stats.latency_counts).where(
        db.Stats.model == model, db.Stats.end > since, db.Stats.end <= until
    )
    ok = error = 0
    bounds: tuple[float, ...] = ()
    counts: list[int] = []
    for row_ok, row_error, row_bounds, row_counts in conn.execute(stmt):
        ok += row_ok
        error += row_error
        if not counts:
            bounds, counts = tuple(row_bounds), [0] * len(row_counts)
        if tuple(row_bounds) == bounds:
            counts = [a + b for a, b in zip(counts, row_counts, strict=True)]
    return CallCounts(ok, error, bounds, tuple(counts))


# ------------------------------------------------------------------------------------------- references


def create_reference(
    conn: Session,
    *,
    model: str,
    version: str | None,
    name: str,
    n: int,
    features: dict[str, Any],
    calibration: dict[str, Any] | None = None,
) -> int:
    stmt = (
        db.table(db.Reference)
        .insert()
        .values(
            model=model,
            version=version,
            name=name,
            n=n,
            features=features,
            created_at=db.utcnow(),
            calibration=calibration,
        )
        .returning(db.table(db.Reference).c.id)
    )
    return int(conn.execute(stmt).scalar_one())


def update_reference(conn: Session, reference_id: int, **values: Any) -> None:
    """Set columns of a stored reference (its attributions and sample, computed after it was stored)."""
    conn.execute(update(db.Reference).where(db.Reference.id == reference_id).values(**values))


def latest_reference(conn: Session, *, model: str, version: str | None) -> db.Reference | None:
    """The newest reference for this model version, else the newest for the model as a whole."""
    base = select(db.Reference).where(db.Reference.model == model)
    for cond in ((db.Reference.version == version,) if version else ()) + (db.Reference.version.is_(None),):
        row = conn.execute(base.where(cond).order_by(db.Reference.id.desc()).limit(1)).scalars().first()
        if row is not None:
            return row
    return conn.execute(base.order_by(db.Reference.id.desc()).limit(1)).scalars().first()


# ----------------------------------------------------------------------------------------------- deploys


def record_deploy(conn: Session, *, model: str, version: str, first_seen: dt.datetime) -> bool:
    """Note that `version` of `model` serves; True the first time it is seen (a deploy)."""
    stmt = (
        _insert(conn, db.Deploy)
        .values(model=model, version=version, first_seen=first_seen, recorded_at=db.utcnow())
        .on_conflict_do_nothing(index_elements=["model", "version"])
        .returning(db.table(db.Deploy).c.version)
    )
    return conn.execute(stmt).first() is not None


def deploys(conn: Session, *, model: str) -> list[db.Deploy]:
    stmt = select(db.Deploy).where(db.Deploy.model == model).order_by(db.Deploy.first_seen)
    return list(conn.execute(stmt).scalars())


# ----------------------------------------------------------------------------------------------- models


def register_models(
    conn: Session, *, names: Iterable[str], source: str, project: str = db.DEFAULT_PROJECT
) -> None:
    """Register models in a project; one already registered keeps its project (see `set_model_projects`)."""
    rows = [{"name": n, "source": source, "created_at": db.utcnow(), "project": project} for n in names]
    if rows:
        conn.execute(_insert(conn, db.RegisteredModel).on_conflict_do_nothing(), rows)


def set_model_projects(conn: Session, *, projects: Mapping[str, str], source: str) -> None:
    """Register models with their projects, moving any already registered into the project given (the
    spec is the authority on the projects of the models it declares)."""
    for project in sorted(set(projects.values())):
        names = [n for n, p in projects.items() if p == project]
        register_models(conn, names=names, source=source, project=project)
        conn.execute(
            update(db.RegisteredModel)
            .where(db.RegisteredModel.name.in_(names), db.RegisteredModel.project != project)
            .values(project=project)
        )


def model_names(conn: Session) -> list[str]:
    return list(conn.scalars(select(db.RegisteredModel.name).order_by(db.RegisteredModel.name)))


def model_projects(conn: Session) -> dict[str, str]:
    """Every registered model's project, by model name."""
    stmt = select(db.RegisteredModel.name, db.RegisteredModel.project).order_by(db.RegisteredModel.name)
    return {name: project for name, project in conn.execute(stmt)}


def model_versions(conn: Session) -> dict[str, list[str]]:
    """Versions seen per model, from records and stats."""
    out: dict[str, set[str]] = {}
    for table in (db.Record, db.Stats):
        for m, v in conn.execute(select(table.model, table.version).distinct()):
            out.setdefault(m, set()).add(v)
    return {m: sorted(vs) for m, vs in out.items()}


# ------------------------------------------------------------------------------------------------ drift


def upsert_drift(conn: Session, *, rows: Sequence[dict[str, Any]]) -> None:
    """Store drift points; a re-evaluated window replaces its earlier values."""
    if not rows:
        return
    stmt = _insert(conn, db.DriftPoint)
    keys = (
        "window_end",
        "value",
        "status",
        "n_reference",
        "n_current",
        "reference_id",
        "computed_at",
        "p_value",
        "p_adjusted",
        "correction",
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["model", "version", "feature", "metric", "window_start"],
        set_={k: getattr(stmt.excluded, k) for k in keys},
    )
    conn.execute(stmt, list(rows))


def drift_series(
    conn: Session, *, model: str, version: str | None = None, feature: str | None = None, limit: int = 1000
) -> list[db.DriftPoint]:
    stmt = select(db.DriftPoint).where(db.DriftPoint.model == model)
    if version is not None:
        stmt = stmt.where(db.DriftPoint.version == version)
    if feature is not None:
        stmt = stmt.where(db.DriftPoint.feature == feature)
    stmt = stmt.order_by(db.DriftPoint.window_start.desc(), db.DriftPoint.feature, db.DriftPoint.metric)
    return list(conn.execute(stmt.limit(limit)).scalars())


def _newest_per_series(conn: Session, entity: Any, series: Sequence[str], *conds: Any) -> list[Any]:
    """For each series (the key columns but window_start), its row with the newest window_start among rows
    meeting `conds`: one grouped query joined back on the key, not a scan of the whole history."""
    cols = [getattr(entity, c) for c in series]
    newest = (
        select(*cols, func.max(entity.window_start).label("newest")).where(*conds).group_by(*cols).subquery()
    )
    on = and_(*(getattr(entity, c) == newest.c[c] for c in series), entity.window_start == newest.c.newest)
    return list(conn.execute(select(entity).join(newest, on)).scalars())


_DRIFT_SERIES = ("model", "version", "feature", "metric")


def latest_drift(conn: Session, *, complete_before: dt.datetime) -> list[db.DriftPoint]:
    """Per (model, version, feature, metric): the newest window that ended by `complete_before`.

    Windows with too little data are skipped; falls back to the newest window at all when none has
    ended yet, so a fresh model still shows.
    """
    enough = db.DriftPoint.status != "insufficient_data"
    complete = _newest_per_series(
        conn, db.DriftPoint, _DRIFT_SERIES, enough, db.DriftPoint.window_end <= complete_before
    )
    have = {tuple(getattr(p, c) for c in _DRIFT_SERIES) for p in complete}
    fresh = [
        p
        for p in _newest_per_series(conn, db.DriftPoint, _DRIFT_SERIES, enough)
        if tuple(getattr(p, c) for c in _DRIFT_SERIES) not in have
    ]
    return complete + fresh


# ------------------------------------------------------------------------------------------ performance


def upsert_performance(conn: Session, *, rows: Sequence[dict[str, Any]]) -> None:
    """Store performance points; a re-evaluated window (late labels) replaces its earlier values."""
    if not rows:
        return
    stmt = _insert(conn, db.PerformancePoint)
    keys = ("window_end", "value", "lower", "upper", "support", "total", "status", "computed_at")
    stmt = stmt.on_conflict_do_update(
        index_elements=["model", "version", "slice", "metric", "window_start"],
        set_={k: getattr(stmt.excluded, k) for k in keys},
    )
    conn.execute(stmt, list(rows))


def performance_series(
    conn: Session,
    *,
    model: str,
    version: str | None = None,
    slice_: str | None = None,
    metric: str | None = None,
    limit: int = 1000,
) -> list[db.PerformancePoint]:
    stmt = select(db.PerformancePoint).where(db.PerformancePoint.model == model)
    if metric is not None:
        stmt = stmt.where(db.PerformancePoint.metric == metric)
    if version is not None:
        stmt = stmt.where(db.PerformancePoint.version == version)
    if slice_ is not None:
        stmt = stmt.where(db.PerformancePoint.slice == slice_)
    stmt = stmt.order_by(
        db.PerformancePoint.window_start.desc(), db.PerformancePoint.slice, db.PerformancePoint.metric
    )
    return list(conn.execute(stmt.limit(limit)).scalars())


def latest_performance(conn: Session, *, complete_before: dt.datetime) -> list[db.PerformancePoint]:
    """Per (model, version, slice, metric): the newest window, ended by `complete_before`, whose labels matured."""
    p = db.PerformancePoint
    return _newest_per_series(
        conn, p, ("model", "version", "slice", "metric"), p.status == "ok", p.window_end <= complete_before
    )


# ---------------------------------------------------------------------------------------------- quality


def upsert_quality(conn: Session, *, rows: Sequence[dict[str, Any]]) -> None:
    """Store data-quality points; a re-evaluated window replaces its earlier counts."""
    if not rows:
        return
    stmt = _insert(conn, db.QualityPoint)
    stmt = stmt.on_conflict_do_update(
        index_elements=["model", "version", "feature", "check", "window_start"],
        set_={k: getattr(stmt.excluded, k) for k in ("window_end", "count", "total", "computed_at")},
    )
    conn.execute(stmt, list(rows))


def quality_series(conn: Session, *, model: str, limit: int = 1000) -> list[db.QualityPoint]:
    stmt = (
        select(db.QualityPoint)
        .where(db.QualityPoint.model == model)
        .order_by(db.QualityPoint.window_start.desc(), db.QualityPoint.feature, db.QualityPoint.check)
    )
    return list(conn.execute(stmt.limit(limit)).scalars())


def latest_quality(conn: Session, *, complete_before: dt.datetime) -> list[db.QualityPoint]:
    """Per (model, version, feature, check): the newest window that ended by `complete_before`."""
    q = db.QualityPoint
    return _newest_per_series(
        conn, q, ("model", "version", "feature", "check"), q.window_end <= complete_before, q.total > 0
    )


# ------------------------------------------------------------------------------------------------ tokens


def add_token(
    conn: Session, *, token_id: str, name: str, scope: str, secret_sha256: str, project: str | None
) -> None:
    """Store a token's id, scope, project (None: every project) and the SHA-256 of its secret."""
    conn.execute(
        db.table(db.Token)
        .insert()
        .values(
            id=token_id,
            name=name,
            scope=scope,
            secret_sha256=secret_sha256,
            created_at=db.utcnow(),
            revoked=False,
            project=project,
        )
    )


def get_token(conn: Session, *, token_id: str) -> db.Token | None:
    return conn.execute(select(db.Token).where(db.Token.id == token_id)).scalars().first()


def list_tokens(conn: Session) -> list[db.Token]:
    """Every token, oldest first (the rows hold only the SHA-256 of each secret)."""
    return list(conn.execute(select(db.Token).order_by(db.Token.created_at, db.Token.id)).scalars())


def count_tokens(conn: Session) -> int:
    return int(conn.scalar(select(func.count()).select_from(db.Token)) or 0)


def revoke_token(conn: Session, *, token_id: str) -> bool:
    """Mark a token revoked; False when no token has this id."""
    result = cast(
        CursorResult[Any], conn.execute(update(db.Token).where(db.Token.id == token_id).values(revoked=True))
    )
    return result.rowcount > 0


# ------------------------------------------------------------------------------------------ attributions


@dataclass(frozen=True)
class ExplainedRow:
    """A window's record as attribution analysis reads it."""

    record_id: str
    ts: dt.datetime
    features: dict[str, Any]
    attributions: dict[str, Any] | None
    label: Any


def window_explained(
    conn: Session, *, model: str, version: str, start: dt.datetime, end: dt.datetime
) -> list[ExplainedRow]:
    """Records of one model version with event time in [start, end): features, attributions, label."""
    r = db.Record
    stmt = (
        select(r.record_id, r.ts, r.features, r.attributions, db.Label.label)
        .outerjoin(db.Label, (db.Label.model == r.model) & (db.Label.record_id == r.record_id))
        .where(r.model == model, r.version == version, r.ts >= start, r.ts < end)
        .order_by(r.ts, r.record_id)
    )
    return [ExplainedRow(i, ts, f or {}, a, y) for i, ts, f, a, y in conn.execute(stmt)]


def set_attributions(
    conn: Session, *, model: str, rows: Sequence[tuple[str, dt.datetime, dict[str, Any]]]
) -> None:
    """Store attributions the collector computed for records (record id, event time, attributions)."""
    if not rows:
        return
    r = db.table(db.Record)
    stmt = (
        update(r)
        .where(r.c.model == bindparam("m"), r.c.record_id == bindparam("rid"), r.c.ts == bindparam("t"))
        .values(attributions=bindparam("a"))
    )
    conn.execute(stmt, [{"m": model, "rid": i, "t": ts, "a": a} for i, ts, a in rows])


def upsert_attributions(conn: Session, *, rows: Sequence[dict[str, Any]]) -> None:
    """Store per-window attribution points; a re-evaluated window replaces its earlier values."""
    if not rows:
        return
    stmt = _insert(conn, db.AttributionPoint)
    keys = [k for k in rows[0] if k not in ("model", "version", "feature", "kind", "window_start")]
    stmt = stmt.on_conflict_do_update(
        index_elements=["model", "version", "feature", "kind", "window_start"],
        set_={k: getattr(stmt.excluded, k) for k in keys},
    )
    conn.execute(stmt, list(rows))


def attribution_series(
    conn: Session, *, model: str, version: str | None = None, kind: str | None = None, limit: int = 1000
) -> list[db.AttributionPoint]:
    a = db.AttributionPoint
    stmt = select(a).where(a.model == model)
    if version is not None:
        stmt = stmt.where(a.version == version)
    if kind is not None:
        stmt = stmt.where(a.kind == kind)
    stmt = stmt.order_by(a.window_start.desc(), a.kind, a.feature)
    return list(conn.execute(stmt.limit(limit)).scalars())


def latest_attributions(conn: Session, *, complete_before: dt.datetime) -> list[db.AttributionPoint]:
    """Per (model, version, feature, kind): the newest window, ended by `complete_before`, with a value."""
    a = db.AttributionPoint
    return _newest_per_series(
        conn,
        a,
        ("model", "version", "feature", "kind"),
        a.window_end <= complete_before,
        a.mean_abs.is_not(None),
    )


def recent_records(
    conn: Session, *, model: str, version: str | None = None, limit: int = 50
) -> list[tuple[db.Record, Any]]:
    """The newest sampled records (by event time) with their label, if one arrived."""
    r = db.Record
    stmt = (
        select(r, db.Label.label)
        .outerjoin(db.Label, (db.Label.model == r.model) & (db.Label.record_id == r.record_id))
        .where(r.model == model)
    )
    if version is not None:
        stmt = stmt.where(r.version == version)
    stmt = stmt.order_by(r.ts.desc(), r.record_id).limit(limit)
    return [(rec, y) for rec, y in conn.execute(stmt)]
