"""Ground-truth labels by record id, and the joins that pair them with predictions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector import db
from collector.repository._sql import insert


def upsert_labels(conn: Session, *, rows: Sequence[dict[str, Any]]) -> int:
    """Store labels by record id; a later label for the same id replaces the earlier one."""
    if not rows:
        return 0
    stmt = insert(conn, db.Label)
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


def predictions_by_id(
    conn: Session, *, model: str, ids: Sequence[str]
) -> dict[str, tuple[str, Any, dt.datetime]]:
    """record id -> (version, prediction, event time) for these ids: one key lookup per id, no join
    (label ingest)."""
    stmt = select(db.Record.record_id, db.Record.version, db.Record.prediction, db.Record.ts).where(
        db.Record.model == model, db.Record.record_id.in_(list(ids))
    )
    return {rid: (v, p, ts) for rid, v, p, ts in conn.execute(stmt)}


def labelled_ids(conn: Session, *, model: str, ids: Sequence[str]) -> set[str]:
    """Which of these record ids already have a label (a record that arrives after its label); one
    index probe when the model has no labels at all."""
    if not ids or conn.scalar(select(db.Label.record_id).where(db.Label.model == model).limit(1)) is None:
        return set()
    stmt = select(db.Label.record_id).where(db.Label.model == model, db.Label.record_id.in_(list(ids)))
    return set(conn.scalars(stmt))


def last_received(conn: Session) -> dict[tuple[str, str], dt.datetime]:
    """(model, "records" | "labels") -> when the newest one arrived."""
    out: dict[tuple[str, str], dt.datetime] = {}
    for kind, entity in (("records", db.Record), ("labels", db.Label)):
        for m, ts in conn.execute(select(entity.model, func.max(entity.received_at)).group_by(entity.model)):
            if ts is not None:
                out[(m, kind)] = ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)
    return out


def count_labels(conn: Session) -> dict[str, int]:
    """Stored labels per model."""
    stmt = select(db.Label.model, func.count()).group_by(db.Label.model)
    return {m: int(n) for m, n in conn.execute(stmt)}
