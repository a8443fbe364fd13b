"""Sampled prediction records: bulk storage through the storage dialect and the reads over event-time windows."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Text, bindparam, cast, func, select, update
from sqlalchemy.orm import Session

from collector import db, dialects


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
) -> list[int]:
    """Store sampled records of one model version; a record already stored is kept as it was. Returns
    the positions in `records` of those stored now."""
    if not records:
        return []
    return dialects.of(conn).insert_records(
        conn.connection(),
        model=model,
        version=version,
        batch_id=batch_id,
        received_at=received_at,
        records=records,
    )


def refresh_statistics(conn: Session) -> None:
    """After a bulk load, let the database see the new row counts so lookups use the record key."""
    dialects.of(conn).refresh_statistics(conn.connection(), ["records", "labels"])


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


def labelled_records(
    conn: Session, *, model: str, version: str, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, Any, Any, dict[str, Any] | None, float | None]]:
    """(event time, prediction, label, slices, score) of one model version's labelled records with event
    time in [start, end): what a minute's performance summary is built from.

    Predictions, labels and slice values repeat (a few classes, a few slice combinations), so the JSON is
    read as text and each distinct text decoded once: equal texts give one shared, read-only object. Read
    through Core, not the ORM's row loading: a tick may read every labelled row of a backfill."""
    as_text = [cast(c, Text) for c in (db.Record.prediction, db.Label.label, db.Record.slices)]
    stmt = (
        select(db.Record.ts, *as_text, db.Record.score)
        .join(db.Label, (db.Label.model == db.Record.model) & (db.Label.record_id == db.Record.record_id))
        .where(
            db.Record.model == model, db.Record.version == version, db.Record.ts >= start, db.Record.ts < end
        )
    )
    decoded: dict[str | None, Any] = {None: None}

    def value(text: str | None) -> Any:
        try:
            return decoded[text]
        except KeyError:
            out = decoded[text] = json.loads(text)  # type: ignore[arg-type]  # None is in the cache
            return out

    result: Any = conn.connection().execute(stmt)
    return [(r[0], value(r[1]), value(r[2]), value(r[3]), r[4]) for r in result]


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


def newest_record_time(conn: Session) -> dt.datetime | None:
    """When the newest stored record arrived, None before the first."""
    return conn.scalar(select(func.max(db.Record.received_at)))


def count_records(conn: Session, *, model: str | None = None) -> int:
    """Stored records, of one model or of all."""
    stmt = select(func.count()).select_from(db.Record)
    if model is not None:
        stmt = stmt.where(db.Record.model == model)
    return int(conn.scalar(stmt) or 0)


def holds_more_records(conn: Session, *, model: str, version: str, than: int) -> bool:
    """Whether a model version has more than `than` stored records (reads at most `than` + 1 of them)."""
    r = db.Record
    some = select(r.record_id).where(r.model == model, r.version == version).limit(than + 1).subquery()
    return int(conn.scalar(select(func.count()).select_from(some)) or 0) > than


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
