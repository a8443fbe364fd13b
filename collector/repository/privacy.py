"""The SQL of a privacy deletion: find a data subject's records, delete them and their labels, clear and
re-read the minutes they were counted in, and drop the points of windows left without records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from collector import db

#: Ids per IN list: well under SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 500
#: The per-window point tables: each row is derived from the window's records.
POINT_TABLES: tuple[type[db.Base], ...] = (
    db.DriftPoint,
    db.PerformancePoint,
    db.QualityPoint,
    db.AttributionPoint,
)


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def records_by_ids(conn: Session, *, model: str, ids: Iterable[str]) -> list[tuple[str, str, dt.datetime]]:
    """(record id, version, event time) of the model's stored records with these ids."""
    r = db.Record
    out: list[tuple[str, str, dt.datetime]] = []
    for part in _chunks(sorted(set(ids))):
        stmt = select(r.record_id, r.version, r.ts).where(r.model == model, r.record_id.in_(part))
        out.extend((rid, v, ts) for rid, v, ts in conn.execute(stmt))
    return out


def scan_records(conn: Session, *, model: str, chunk: int = 20_000) -> Iterator[Any]:
    """(record id, version, event time, features, slices) of every stored record of a model, streamed."""
    r = db.Record
    stmt = (
        select(r.record_id, r.version, r.ts, r.features, r.slices)
        .where(r.model == model)
        .execution_options(yield_per=chunk)
    )
    yield from conn.execute(stmt)


def labelled_ids(conn: Session, *, model: str, ids: Iterable[str]) -> set[str]:
    """Which of these ids have a stored label for the model."""
    lab = db.Label
    found: set[str] = set()
    for part in _chunks(sorted(set(ids))):
        found.update(conn.scalars(select(lab.record_id).where(lab.model == model, lab.record_id.in_(part))))
    return found


def _count(result: Any) -> int:
    return int(result.rowcount or 0) if isinstance(result, CursorResult) else 0


def delete_by_ids(conn: Session, entity: type[db.Base], *, model: str, ids: Iterable[str]) -> int:
    """Delete a model's rows of `entity` (records or labels) with these record ids; returns how many."""
    t = db.table(entity)
    return sum(
        _count(conn.execute(delete(t).where(t.c.model == model, t.c.record_id.in_(part))))
        for part in _chunks(sorted(set(ids)))
    )


def clear_minutes(conn: Session, *, model: str, version: str, minutes: Iterable[dt.datetime]) -> int:
    """Delete every per-minute aggregate row (counts, moments, records per slice and labelled summaries) of
    the given minutes of a model version, before they are counted again from the records left."""
    n = 0
    for entity, _ in db.ROLLUPS:
        t = db.table(entity)
        for part in _chunks(sorted(set(minutes))):
            stmt = delete(t).where(t.c.model == model, t.c.version == version, t.c.minute.in_(part))
            n += _count(conn.execute(stmt))
    return n


def records_between(
    conn: Session, *, model: str, version: str, start: dt.datetime, end: dt.datetime
) -> list[Any]:
    """(record id, event time, features, score, prediction, slices) of a version's records in [start, end),
    the columns `aggregation.Ingested` holds."""
    r = db.Record
    stmt = select(r.record_id, r.ts, r.features, r.score, r.prediction, r.slices).where(
        r.model == model, r.version == version, r.ts >= start, r.ts < end
    )
    return list(conn.execute(stmt))


def first_record_time(
    conn: Session, *, model: str, version: str, start: dt.datetime, end: dt.datetime
) -> dt.datetime | None:
    """The earliest event time of a version's records in [start, end); None when the span holds none."""
    r = db.Record
    stmt = select(r.ts).where(r.model == model, r.version == version, r.ts >= start, r.ts < end)
    return conn.scalars(stmt.order_by(r.ts).limit(1)).first()


def delete_window_points(
    conn: Session, *, model: str, version: str, seconds: int, start: dt.datetime
) -> dict[str, int]:
    """Delete every stored point (drift, performance, quality, attributions) of one window; per table, how many."""
    out: dict[str, int] = {}
    for entity in POINT_TABLES:
        t = db.table(entity)
        stmt = delete(t).where(
            t.c.model == model,
            t.c.version == version,
            t.c.window_seconds == seconds,
            t.c.window_start == start,
        )
        out[t.name] = _count(conn.execute(stmt))
    return out
