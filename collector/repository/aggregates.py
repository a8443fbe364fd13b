"""Per-minute aggregates: additive upserts, the minutes waiting for evaluation, window sums and reservoirs."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from analyzers.aggregates import MinuteAggregates
from analyzers.performance_summary import Summary, Sums
from collector import db
from collector.repository._sql import insert

#: The `MinutePerformance` item that counts a minute's records per slice, labelled or not (added at ingest).
RECORDS_ITEM = "records"

def minute_time(start: int) -> dt.datetime:
    """A bucket's start, in epoch seconds, as a UTC datetime (what the `minute` columns hold)."""
    return dt.datetime.fromtimestamp(start, dt.UTC)


def bucket_start(ts: dt.datetime, seconds: int) -> int:
    """The start, in epoch seconds, of the aligned bucket of `seconds` holding `ts`."""
    aware = ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)
    epoch = int(aware.timestamp() // 1)
    return epoch - epoch % seconds


def add_aggregates(
    conn: Session, *, model: str, version: str, reference_id: int, aggregates: MinuteAggregates
) -> None:
    """Add a batch's counts and moments to the stored minutes: an upsert that adds, so concurrent writers
    never lose each other's counts. Keys go in sorted order, so two writers lock rows in the same order."""
    base = {"model": model, "version": version, "reference_id": reference_id}
    counts = [
        {**base, "minute": minute_time(m), "feature": f, "item": item, "n": n}
        for (m, f, item), n in sorted(aggregates.counts.items())
    ]
    if counts:
        stmt = insert(conn, db.MinuteCount)
        t = db.table(db.MinuteCount)
        stmt = stmt.on_conflict_do_update(
            index_elements=["model", "version", "reference_id", "minute", "feature", "item"],
            set_={"n": t.c.n + stmt.excluded.n},
        )
        conn.execute(stmt, counts)
    moments = [
        {
            **base,
            "minute": minute_time(m),
            "feature": f,
            "n": x.n,
            "total": x.total,
            "squares": x.squares,
            "low": x.low,
            "high": x.high,
        }
        for (m, f), x in sorted(aggregates.moments.items())
    ]
    if moments:
        stmt = insert(conn, db.MinuteMoments)
        t = db.table(db.MinuteMoments)
        ex = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["model", "version", "reference_id", "minute", "feature"],
            set_={
                "n": t.c.n + ex.n,
                "total": t.c.total + ex.total,
                "squares": t.c.squares + ex.squares,
                "low": case((t.c.low.is_(None), ex.low), (ex.low < t.c.low, ex.low), else_=t.c.low),
                "high": case((t.c.high.is_(None), ex.high), (ex.high > t.c.high, ex.high), else_=t.c.high),
            },
        )
        conn.execute(stmt, moments)


def clear_aggregates(conn: Session, *, model: str, version: str) -> None:
    """Delete every stored minute of a model version (before it is re-binned on another reference)."""
    for entity in (db.MinuteCount, db.MinuteMoments, db.MinutePerformance):
        conn.execute(delete(entity).where(entity.model == model, entity.version == version))


def window_counts(
    conn: Session, *, model: str, version: str, reference_id: int, start: dt.datetime, end: dt.datetime
) -> dict[tuple[str, str], int]:
    """(feature, item) -> count summed over the minutes in [start, end): the database adds them up."""
    c = db.MinuteCount
    stmt = (
        select(c.feature, c.item, func.sum(c.n))
        .where(
            c.model == model,
            c.version == version,
            c.reference_id == reference_id,
            c.minute >= start,
            c.minute < end,
        )
        .group_by(c.feature, c.item)
    )
    return {(f, item): int(n) for f, item, n in conn.execute(stmt)}


def window_moments(
    conn: Session,
    *,
    model: str,
    version: str,
    reference_id: int,
    start: dt.datetime,
    end: dt.datetime,
    features: Iterable[str] | None = None,
) -> dict[str, tuple[int, float, float, float | None, float | None]]:
    """feature -> (count, sum, sum of squares, min, max) of the finite values in [start, end); only the
    named features when given (the estimate reads one row per minute, not every feature's)."""
    m = db.MinuteMoments
    stmt = (
        select(
            m.feature,
            func.sum(m.n),
            func.sum(m.total),
            func.sum(m.squares),
            func.min(m.low),
            func.max(m.high),
        )
        .where(
            m.model == model,
            m.version == version,
            m.reference_id == reference_id,
            m.minute >= start,
            m.minute < end,
        )
        .group_by(m.feature)
    )
    if features is not None:
        stmt = stmt.where(m.feature.in_(list(features)))
    return {f: (int(n), float(t), float(sq), lo, hi) for f, n, t, sq, lo, hi in conn.execute(stmt)}


def aggregated_minutes(conn: Session, *, model: str, version: str) -> list[dt.datetime]:
    """Every minute of a model version that holds aggregates: feature counts, or records per slice (a
    version with no reference and no declared features has only those)."""
    c, p = db.MinuteCount, db.MinutePerformance
    counts = select(c.minute).where(c.model == model, c.version == version)
    slices = select(p.minute).where(p.model == model, p.version == version, p.item == RECORDS_ITEM)
    return sorted(set(conn.scalars(counts.union(slices))))


def mark_pending(conn: Session, *, model: str, version: str, minutes: Iterable[int], kind: str) -> None:
    """Note minutes that changed, for the evaluation loop (a minute already noted stays noted once)."""
    rows = [
        {"model": model, "version": version, "minute": minute_time(m), "kind": kind}
        for m in sorted(set(minutes))
    ]
    if rows:
        conn.execute(insert(conn, db.PendingMinute).on_conflict_do_nothing(), rows)


def claim_pending(conn: Session) -> list[tuple[str, str, dt.datetime, str]]:
    """Take every pending minute (model, version, minute, kind), deleting them in the same statement: a
    minute noted after this is taken by the next call, and two collectors never take the same one."""
    p = db.table(db.PendingMinute)
    stmt = delete(p).returning(p.c.model, p.c.version, p.c.minute, p.c.kind)
    return [(m, v, minute, kind) for m, v, minute, kind in conn.execute(stmt)]


def aggregate_state(conn: Session, *, model: str, version: str) -> tuple[int, str] | None:
    """(reference id, config digest) a model version's aggregates were built with; None before the first build."""
    s = db.AggregateState
    row = conn.execute(select(s.reference_id, s.config).where(s.model == model, s.version == version)).first()
    return None if row is None else (int(row[0]), str(row[1]))


def set_aggregate_state(conn: Session, *, model: str, version: str, reference_id: int, config: str) -> None:
    """Record what a model version's aggregates are now built with."""
    stmt = insert(conn, db.AggregateState)
    values = {"reference_id": reference_id, "config": config, "built_at": db.utcnow()}
    stmt = stmt.values(model=model, version=version, **values).on_conflict_do_update(
        index_elements=["model", "version"], set_=values
    )
    conn.execute(stmt)


def version_records(conn: Session, *, model: str, version: str, chunk: int = 20_000) -> Iterator[Any]:
    """(record id, event time, features, score, prediction, slices) of every stored record of a model
    version, streamed in chunks."""
    r = db.Record
    stmt = (
        select(r.record_id, r.ts, r.features, r.score, r.prediction, r.slices)
        .where(r.model == model, r.version == version)
        .execution_options(yield_per=chunk)
    )
    yield from conn.execute(stmt)


def window_sample(
    conn: Session, *, model: str, version: str, start: dt.datetime, end: dt.datetime, size: int
) -> list[Mapping[str, Any]]:
    """The window's reservoir: features of the `size` records with the smallest sample keys (a seeded
    uniform sample without replacement; records stored before keys existed come last)."""
    r = db.Record
    stmt = (
        select(r.features)
        .where(r.model == model, r.version == version, r.ts >= start, r.ts < end)
        .order_by(r.sample_key.is_(None), r.sample_key, r.record_id)
        .limit(size)
    )
    return list(conn.scalars(stmt))

#: Larger magnitudes are stored as infinity: a SUM over minutes then cannot overflow (PostgreSQL refuses a
#: finite float sum that overflows; infinity plus a number is infinity).
_MAX_STORED = 1e300


def _storable(x: float) -> float:
    return x if abs(x) <= _MAX_STORED else math.copysign(math.inf, x)


def add_slice_totals(conn: Session, *, model: str, version: str, totals: Mapping[tuple[int, str], int]) -> None:
    """Add records per (bucket, slice) to the stored minutes: an upsert that adds, as `add_aggregates`."""
    rows = [
        {"model": model, "version": version, "minute": minute_time(m), "slice": sl, "item": RECORDS_ITEM, "n": n,
         "total": 0.0, "squares": 0.0}
        for (m, sl), n in sorted(totals.items())
    ]
    if rows:
        stmt = insert(conn, db.MinutePerformance)
        t = db.table(db.MinutePerformance)
        stmt = stmt.on_conflict_do_update(
            index_elements=["model", "version", "minute", "slice", "item"], set_={"n": t.c.n + stmt.excluded.n}
        )
        conn.execute(stmt, rows)


def replace_summaries(
    conn: Session, *, model: str, version: str, summaries: Mapping[int, Summary]
) -> None:
    """Replace the labelled-record summaries of the given buckets (their record counts stay)."""
    p = db.MinutePerformance
    for m in sorted(summaries):
        conn.execute(
            delete(p).where(
                p.model == model, p.version == version, p.minute == minute_time(m), p.item != RECORDS_ITEM
            )
        )
    rows = [
        {"model": model, "version": version, "minute": minute_time(m), "slice": sl, "item": item, "n": x.n,
         "total": _storable(x.total), "squares": _storable(x.squares)}
        for m in sorted(summaries)
        for sl, items in sorted(summaries[m].items())
        for item, x in sorted(items.items())
    ]
    if rows:
        conn.execute(insert(conn, db.MinutePerformance), rows)


def window_summary(
    conn: Session, *, model: str, version: str, start: dt.datetime, end: dt.datetime
) -> tuple[Summary, dict[str, int]]:
    """The labelled-record summary and the records per slice of [start, end), summed over its minutes."""
    p = db.MinutePerformance
    stmt = (
        select(p.slice, p.item, func.sum(p.n), func.sum(p.total), func.sum(p.squares))
        .where(p.model == model, p.version == version, p.minute >= start, p.minute < end)
        .group_by(p.slice, p.item)
    )
    summary: Summary = {}
    totals: dict[str, int] = {}
    for sl, item, n, total, squares in conn.execute(stmt):
        if item == RECORDS_ITEM:
            totals[sl] = int(n)
        else:
            summary.setdefault(sl, {})[item] = Sums(int(n), float(total or 0.0), float(squares or 0.0))
    return summary, totals
