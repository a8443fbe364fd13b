"""Reference samples: fitted binning, calibration, attributions and sample, newest per model version."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from collector import db


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
    """Store a reference's fitted binning (and CBPE calibration); returns its id."""
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
