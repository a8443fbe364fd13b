"""Reads for comparing two versions of one model: per-version call counts, value samples, shadow pairs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from collector import db


def version_calls(
    conn: Session, *, model: str, version: str, since: dt.datetime, until: dt.datetime
) -> tuple[int, int, float, int]:
    """(ok, error, latency sum in seconds, calls timed) of one version's SDK stats deltas ending in (since, until]."""
    t = db.Stats
    stmt = select(func.sum(t.ok), func.sum(t.error), func.sum(t.latency_sum)).where(
        t.model == model, t.version == version, t.end > since, t.end <= until
    )
    ok, error, latency = conn.execute(stmt).one()
    ok, error = int(ok or 0), int(error or 0)
    return ok, error, float(latency or 0.0), ok + error


def version_sample(
    conn: Session, *, model: str, version: str, start: dt.datetime, end: dt.datetime, size: int
) -> list[tuple[Any, Any, float | None]]:
    """(features, prediction, score) of the window's reservoir: the `size` records with the smallest sample
    keys (the same seeded uniform sample the drift evaluation reads)."""
    r = db.Record
    stmt = (
        select(r.features, r.prediction, r.score)
        .where(r.model == model, r.version == version, r.ts >= start, r.ts < end)
        .order_by(r.sample_key.is_(None), r.sample_key, r.record_id)
        .limit(size)
    )
    return [(f, p, s) for f, p, s in conn.execute(stmt)]


def shadow_pairs(
    conn: Session, *, model: str, primary: str, shadow: str, start: dt.datetime, end: dt.datetime, size: int
) -> list[tuple[Any, Any]]:
    """(primary's prediction, shadow's prediction) of records with one id under both versions, the primary's
    in [start, end); at most `size`, by the primary's sample key."""
    a, b = aliased(db.Record), aliased(db.Record)
    stmt = (
        select(a.prediction, b.prediction)
        .join(b, and_(b.model == a.model, b.record_id == a.record_id, b.version == shadow))
        .where(a.model == model, a.version == primary, a.ts >= start, a.ts < end)
        .order_by(a.sample_key.is_(None), a.sample_key, a.record_id)
        .limit(size)
    )
    return [(p, q) for p, q in conn.execute(stmt)]
