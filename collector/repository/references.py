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


def latest_reference_id(conn: Session, *, model: str, version: str | None) -> int | None:
    """The id of the newest reference for this model version, else the newest for the model as a whole
    (the unversioned one first): an index lookup that loads none of the reference's columns."""
    ref = db.Reference
    base = select(ref.id).where(ref.model == model)
    for cond in ((ref.version == version,) if version else ()) + (ref.version.is_(None),):
        found = conn.scalar(base.where(cond).order_by(ref.id.desc()).limit(1))
        if found is not None:
            return int(found)
    found = conn.scalar(base.order_by(ref.id.desc()).limit(1))
    return None if found is None else int(found)


def reference_by_id(conn: Session, reference_id: int) -> db.Reference | None:
    """One stored reference, every column."""
    return conn.get(db.Reference, reference_id)


def reference_attributions(conn: Session, reference_id: int) -> dict[str, Any] | None:
    """Only a reference's stored attributions (its binning and samples are large and not needed)."""
    return conn.scalar(select(db.Reference.attributions).where(db.Reference.id == reference_id))


def reference_calibration(conn: Session, reference_id: int) -> dict[str, Any] | None:
    """Only a reference's CBPE calibration."""
    return conn.scalar(select(db.Reference.calibration).where(db.Reference.id == reference_id))


def latest_reference(conn: Session, *, model: str, version: str | None) -> db.Reference | None:
    """The newest reference for this model version, else the newest for the model as a whole."""
    found = latest_reference_id(conn, model=model, version=version)
    return None if found is None else reference_by_id(conn, found)
