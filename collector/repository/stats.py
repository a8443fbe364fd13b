"""SDK stats deltas (exact call counters, latency histograms) and the deploys they reveal."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector import db
from collector.repository._sql import insert
from collector.repository.batches import scoped_batch_key

#: The usage fields of a stats batch, stored in their own table (db.StatsUsage).
USAGE_FIELDS = ("compute_seconds", "input_tokens", "output_tokens")


def insert_stats(conn: Session, *, row: dict[str, Any]) -> None:
    """Store one stats delta; its batch id is stored scoped to its model (see db.Stats), its usage (when it
    counted any) beside it in db.StatsUsage."""
    usage = {k: row.get(k, 0) for k in USAGE_FIELDS}
    usage["feature_ages"] = row.get("feature_ages") or None
    usage["genai"] = row.get("genai") or None
    row = {k: v for k, v in row.items() if k not in USAGE_FIELDS and k not in ("feature_ages", "genai")}
    row["batch_id"] = scoped_batch_key(row["model"], row["batch_id"])
    conn.execute(db.table(db.Stats).insert().values(**row))
    if any(usage.values()):
        keys = {k: row[k] for k in ("batch_id", "end", "model", "version")}
        conn.execute(db.table(db.StatsUsage).insert().values(**keys, **usage))


def feature_age_rows(conn: Session) -> list[tuple[str, str, dict[str, Any]]]:
    """(model, version, feature ages) of every stats batch that carried any, oldest first, to rebuild /metrics."""
    t = db.table(db.StatsUsage)
    stmt = select(t.c.model, t.c.version, t.c.feature_ages).order_by(t.c.end, t.c.batch_id)
    # no ages is SQL NULL on SQLite but JSON null on PostgreSQL's JSON column: both read as None
    return [(m, v, ages) for m, v, ages in conn.execute(stmt) if ages]


def genai_rows(conn: Session) -> list[tuple[str, str, dict[str, Any]]]:
    """(model, version, LLM-call stats) of every stats batch that carried any, oldest first, to rebuild /metrics."""
    t = db.table(db.StatsUsage)
    stmt = select(t.c.model, t.c.version, t.c.genai).order_by(t.c.end, t.c.batch_id)
    return [(m, v, g) for m, v, g in conn.execute(stmt) if g]


def usage_totals(conn: Session) -> list[tuple[str, str, float, int, int]]:
    """(model, version, compute seconds, input tokens, output tokens) summed per version, to rebuild /metrics.

    Compute seconds are summed here in the order they arrived, as the running totals were."""
    t = db.table(db.StatsUsage)
    stmt = select(t.c.model, t.c.version, t.c.compute_seconds, t.c.input_tokens, t.c.output_tokens).order_by(
        t.c.end, t.c.batch_id
    )
    sums: dict[tuple[str, str], list[Any]] = {}
    for model, version, seconds, tin, tout in conn.execute(stmt):
        acc = sums.setdefault((model, version), [0.0, 0, 0])
        acc[0] += seconds
        acc[1] += tin
        acc[2] += tout
    return [(m, v, a[0], a[1], a[2]) for (m, v), a in sums.items()]


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
        """Calls of either outcome."""
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


def record_deploy(conn: Session, *, model: str, version: str, first_seen: dt.datetime) -> bool:
    """Note that `version` of `model` serves; True the first time it is seen (a deploy)."""
    stmt = (
        insert(conn, db.Deploy)
        .values(model=model, version=version, first_seen=first_seen, recorded_at=db.utcnow())
        .on_conflict_do_nothing(index_elements=["model", "version"])
        .returning(db.table(db.Deploy).c.version)
    )
    return conn.execute(stmt).first() is not None


def deploys(conn: Session, *, model: str) -> list[db.Deploy]:
    """A model's deploys (the first sighting of each version), oldest first."""
    stmt = select(db.Deploy).where(db.Deploy.model == model).order_by(db.Deploy.first_seen)
    return list(conn.execute(stmt).scalars())
