"""Retrains, deploys and rollbacks per model: stored once per event id, read newest first."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from collector import db
from collector.repository._sql import insert
from collector.repository.batches import Claim


def insert_event(conn: Session, *, row: dict[str, Any]) -> tuple[Claim, db.Event | None]:
    """Store an event once per (model, event_id): ("new", None) the first time; ("duplicate", the stored
    event) when the same content was stored under the id before; ("conflict", the stored event) when other
    content was."""
    stmt = (
        insert(conn, db.Event)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["model", "event_id"])
        .returning(db.table(db.Event).c.event_id)
    )
    if conn.execute(stmt).first() is not None:
        return "new", None
    stored = conn.get(db.Event, (row["model"], row["event_id"]))
    if stored is None:  # pragma: no cover - the row that conflicted cannot vanish inside this transaction
        return "conflict", None
    return ("duplicate" if stored.digest == row["digest"] else "conflict"), stored


def model_events(
    conn: Session,
    *,
    model: str,
    kind: str | None = None,
    version: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 1000,
    after: tuple[dt.datetime, str] | None = None,
) -> list[db.Event]:
    """A model's events at `since` or later and before `until`, newest first (then by event id, descending);
    `after` (time, event id) starts right after that event of the same order (a page's cursor)."""
    e = db.Event
    conds: list[Any] = [e.model == model]
    if kind is not None:
        conds.append(e.kind == kind)
    if version is not None:
        conds.append(e.version == version)
    if since is not None:
        conds.append(e.ts >= since)
    if until is not None:
        conds.append(e.ts < until)
    if after is not None:
        ts, event_id = after
        conds.append(or_(e.ts < ts, and_(e.ts == ts, e.event_id < event_id)))
    stmt = select(e).where(*conds).order_by(e.ts.desc(), e.event_id.desc()).limit(limit)
    return list(conn.execute(stmt).scalars())


def event_counts(conn: Session) -> dict[tuple[str, str], int]:
    """Stored events by (model, kind): the exported event counters' totals after a restart."""
    stmt = select(db.Event.model, db.Event.kind, func.count()).group_by(db.Event.model, db.Event.kind)
    return {(model, kind): int(n) for model, kind, n in conn.execute(stmt)}
