"""Per-minute aggregates: additive upserts, the minutes waiting for evaluation, window sums and reservoirs."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import Table, and_, case, delete, exists, func, literal, not_, select, update
from sqlalchemy.orm import Session

from analyzers.aggregates import MinuteAggregates
from analyzers.performance_summary import CELL_PREFIX, Summary, Sums
from collector import db
from collector.repository._sql import insert, insert_many

#: The `MinutePerformance` item that counts a minute's records per slice, labelled or not (added at ingest).
RECORDS_ITEM = "records"
#: The `MinutePerformance` item holding a slice-minute's ROC AUC grid cells, packed as JSON in `cells`:
#: one row where one per cell was most of the summary rows (several per labelled record). Rows stored
#: before (one "r:cell:y" item each) are still read and rolled up as they are.
CELLS_ITEM = "r"

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
    """Delete every stored minute and hour of a model version (before it is re-binned on another reference)."""
    for entity, hourly in db.ROLLUPS:
        for t in (db.table(entity), hourly):
            conn.execute(delete(t).where(t.c.model == model, t.c.version == version))


def _source(entity: type[db.Base], hourly: bool) -> tuple[Table, Any]:
    """The per-minute table of `entity`, or its hour roll-up, and its time column."""
    if hourly:
        t = dict(db.ROLLUPS)[entity]
        return t, t.c.hour
    t = db.table(entity)
    return t, t.c.minute


def window_counts(
    conn: Session,
    *,
    model: str,
    version: str,
    reference_id: int,
    start: dt.datetime,
    end: dt.datetime,
    hourly: bool = False,
) -> dict[tuple[str, str], int]:
    """(feature, item) -> count summed over the minutes (whole hours where `hourly`) in [start, end): the
    database adds them up."""
    c, time = _source(db.MinuteCount, hourly)
    stmt = (
        select(c.c.feature, c.c.item, func.sum(c.c.n))
        .where(
            c.c.model == model,
            c.c.version == version,
            c.c.reference_id == reference_id,
            time >= start,
            time < end,
        )
        .group_by(c.c.feature, c.c.item)
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
    hourly: bool = False,
) -> dict[str, tuple[int, float, float, float | None, float | None]]:
    """feature -> (count, sum, sum of squares, min, max) of the finite values in [start, end) (whole hours
    where `hourly`); only the named features when given (the estimate reads one row per minute)."""
    m, time = _source(db.MinuteMoments, hourly)
    stmt = (
        select(
            m.c.feature,
            func.sum(m.c.n),
            func.sum(m.c.total),
            func.sum(m.c.squares),
            func.min(m.c.low),
            func.max(m.c.high),
        )
        .where(
            m.c.model == model,
            m.c.version == version,
            m.c.reference_id == reference_id,
            time >= start,
            time < end,
        )
        .group_by(m.c.feature)
    )
    if features is not None:
        stmt = stmt.where(m.c.feature.in_(list(features)))
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


#: Prefixed to a pending minute's kind while a tick evaluates it (`claim_pending`, `finish_pending`).
CLAIMED = "claimed:"


def claim_pending(conn: Session) -> list[tuple[str, str, dt.datetime, str]]:
    """Take every pending minute (model, version, minute, kind) for a tick: each is marked claimed (its kind
    prefixed `CLAIMED`) and stays until `finish_pending` deletes it after the tick, so the minutes of a tick
    cut short (its collector died) are taken again by the next tick, which takes claimed minutes too. A
    minute noted again meanwhile gets a row of its own, left to the next tick (ingest never waits for a
    tick). Only the lease holder claims (`collector.leases`)."""
    p = db.table(db.PendingMinute)
    left = p.alias("left_claimed")
    unclaimed = not_(p.c.kind.startswith(CLAIMED))
    twin = and_(
        left.c.model == p.c.model,
        left.c.version == p.c.version,
        left.c.minute == p.c.minute,
        left.c.kind == literal(CLAIMED) + p.c.kind,
    )
    conn.execute(delete(p).where(unclaimed, exists().where(twin)))  # already claimed by a tick cut short
    conn.execute(update(p).where(unclaimed).values(kind=literal(CLAIMED) + p.c.kind))
    stmt = select(p.c.model, p.c.version, p.c.minute, p.c.kind).where(p.c.kind.startswith(CLAIMED))
    return [(m, v, minute, kind.removeprefix(CLAIMED)) for m, v, minute, kind in conn.execute(stmt)]


def finish_pending(conn: Session) -> None:
    """Delete the minutes claimed for a tick once it evaluated their windows."""
    p = db.table(db.PendingMinute)
    conn.execute(delete(p).where(p.c.kind.startswith(CLAIMED)))


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
    """Replace the labelled-record summaries of the given buckets (their record counts stay): one Core
    DELETE per 500 buckets and one multi-row INSERT, not a statement per minute through the ORM."""
    t = db.table(db.MinutePerformance)
    minutes = [minute_time(m) for m in sorted(summaries)]
    for i in range(0, len(minutes), 500):
        conn.execute(
            t.delete().where(
                t.c.model == model, t.c.version == version, t.c.minute.in_(minutes[i : i + 500]),
                t.c.item != RECORDS_ITEM,
            )
        )  # fmt: skip
    rows = (
        (model, version, minute, sl, *row)
        for m in sorted(summaries)
        for minute in (minute_time(m),)
        for sl, items in sorted(summaries[m].items())
        for row in _packed(items)
    )
    insert_many(conn, t, ("model", "version", "minute", "slice", "item", "n", "total", "squares", "cells"), rows)


def _packed(items: Mapping[str, Sums]) -> Iterator[tuple[str, int, float, float, str | None]]:
    """One slice-minute's items as stored: (item, n, total, squares, cells), the ROC AUC cells in one row."""
    cells: dict[str, int] = {}
    for item, x in sorted(items.items()):
        if item.startswith(CELL_PREFIX):
            cells[item[len(CELL_PREFIX) :]] = x.n
        else:
            yield item, x.n, _storable(x.total), _storable(x.squares), None
    if cells:
        yield CELLS_ITEM, sum(cells.values()), 0.0, 0.0, json.dumps(cells, separators=(",", ":"))


def _add_cells(into: dict[str, int], text: str | None) -> None:
    """Add one packed row's cell counts to `into` (cell -> n)."""
    for cell, n in json.loads(text or "{}").items():
        into[cell] = into.get(cell, 0) + int(n)


def window_summary(
    conn: Session, *, model: str, version: str, start: dt.datetime, end: dt.datetime, hourly: bool = False
) -> tuple[Summary, dict[str, int]]:
    """The labelled-record summary and the records per slice of [start, end), summed over its minutes
    (whole hours where `hourly`)."""
    p, time = _source(db.MinutePerformance, hourly)
    where = (p.c.model == model, p.c.version == version, time >= start, time < end)
    stmt = (
        select(p.c.slice, p.c.item, func.sum(p.c.n), func.sum(p.c.total), func.sum(p.c.squares))
        .where(*where, p.c.item != CELLS_ITEM)
        .group_by(p.c.slice, p.c.item)
    )
    summary: Summary = {}
    totals: dict[str, int] = {}
    for sl, item, n, total, squares in conn.execute(stmt):
        if item == RECORDS_ITEM:
            totals[sl] = int(n)
        else:
            summary.setdefault(sl, {})[item] = Sums(int(n), float(total or 0.0), float(squares or 0.0))
    cells: dict[str, dict[str, int]] = {}
    for sl, text in conn.execute(select(p.c.slice, p.c.cells).where(*where, p.c.item == CELLS_ITEM)):
        _add_cells(cells.setdefault(sl, {}), text)
    for sl, counts in cells.items():
        into = summary.setdefault(sl, {})
        for cell, n in counts.items():
            item = CELL_PREFIX + cell
            into[item] = Sums(n) + into[item] if item in into else Sums(n)  # old rows: one per cell
    return summary, totals


def roll_up(conn: Session, *, model: str, version: str, reference_id: int, hours: Iterable[dt.datetime]) -> None:
    """Write each given hour of a model version as the sum of its minutes, in every roll-up table (the
    hour's rows are replaced: its minutes may have been added to or summarised again since). Counts and
    moments are those binned on `reference_id`, the only reference a version's aggregates hold at a time;
    naming it lets the primary key's index find the hour's minutes."""
    hours = sorted(set(hours))
    if not hours:
        return
    for entity, hourly in db.ROLLUPS:
        src = db.table(entity)
        keys = [c.name for c in src.primary_key.columns if c.name != "minute"]
        sums = [c.name for c in src.columns if not c.primary_key and c.name != "cells"]
        folded = [func.min(src.c[n]) if n == "low" else func.max(src.c[n]) if n == "high" else func.sum(src.c[n])
                  for n in sums]  # fmt: skip
        mine = [src.c.model == model, src.c.version == version]
        theirs = [hourly.c.model == model, hourly.c.version == version]
        if "reference_id" in keys:
            mine.append(src.c.reference_id == reference_id)
            theirs.append(hourly.c.reference_id == reference_id)
        packed = "cells" in src.c
        if packed:
            mine.append(src.c.item != CELLS_ITEM)  # summed in SQL; the packed cells are added below
        conn.execute(delete(hourly).where(*theirs, hourly.c.hour.in_(hours)))
        for hour in hours:
            in_hour = (src.c.minute >= hour, src.c.minute < hour + dt.timedelta(hours=1))
            rows = (
                select(*(src.c[k] for k in keys), literal(hour, db.UTCDateTime()).label("hour"), *folded)
                .where(*mine, *in_hour)
                .group_by(*(src.c[k] for k in keys))
            )
            conn.execute(hourly.insert().from_select([*keys, "hour", *sums], rows))
            if packed:
                _roll_up_cells(conn, src, hourly, model=model, version=version, hour=hour, in_hour=in_hour)


def _roll_up_cells(
    conn: Session, src: Table, hourly: Table, *, model: str, version: str, hour: dt.datetime, in_hour: Any
) -> None:
    """Write one hour's packed ROC AUC cells per slice as the sum of its minutes' (JSON cannot be summed
    in SQL on every backend)."""
    per_slice: dict[str, dict[str, int]] = {}
    stmt = select(src.c.slice, src.c.cells).where(
        src.c.model == model, src.c.version == version, src.c.item == CELLS_ITEM, *in_hour
    )
    for sl, text in conn.execute(stmt):
        _add_cells(per_slice.setdefault(sl, {}), text)
    rows = [
        (model, version, hour, sl, CELLS_ITEM, sum(cells.values()), 0.0, 0.0, json.dumps(cells, separators=(",", ":")))
        for sl, cells in sorted(per_slice.items())
    ]
    insert_many(conn, hourly, ("model", "version", "hour", "slice", "item", "n", "total", "squares", "cells"), rows)
