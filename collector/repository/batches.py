"""Batch ids per model: a retried batch is stored once, a reused id with other content refused."""

from __future__ import annotations

import hashlib
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector import db
from collector.repository._sql import insert

Claim = Literal["new", "duplicate", "conflict"]


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
        insert(conn, db.Batch)
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


def scoped_batch_key(model: str, batch_id: str) -> str:
    """A key unique to (model, batch id), for tables keyed by batch id across models (stats)."""
    return hashlib.sha256(f"{model}\x00{batch_id}".encode()).hexdigest()
