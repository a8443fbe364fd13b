"""What the repository modules share: the storage dialect's INSERT on an entity's table."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from collector import db, dialects


def insert(conn: Session, entity: type[db.Base]) -> Any:
    """The storage dialect's INSERT (which knows ON CONFLICT) on an entity's table.

    Typed Any: `on_conflict_do_nothing` / `on_conflict_do_update` live on each dialect's own Insert class.
    """
    return dialects.of(conn).insert(db.table(entity))
