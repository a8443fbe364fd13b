"""Leases in the database: a row per name saying which collector holds it until when."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import CursorResult, case, delete, or_, select, update
from sqlalchemy.orm import Session

from collector import db
from collector.repository._sql import insert


def take_lease(conn: Session, *, name: str, holder: str, now: dt.datetime, seconds: float) -> bool:
    """Take or renew lease `name` for `holder` until `now + seconds`; True when `holder` holds it now.

    One conditional UPDATE decides (the row lock serialises two collectors on PostgreSQL, SQLite has one
    writer): it succeeds for the holder itself and for anyone once the lease expired."""
    until = now + dt.timedelta(seconds=seconds)
    conn.execute(
        insert(conn, db.Lease)
        .values(name=name, holder=holder, acquired_at=now, expires_at=until)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    lease = db.Lease
    taken = cast(
        CursorResult[Any],
        conn.execute(
            update(lease)
            .where(lease.name == name, or_(lease.holder == holder, lease.expires_at < now))
            .values(
                holder=holder,
                expires_at=until,
                acquired_at=case((lease.holder == holder, lease.acquired_at), else_=now),
            )
            .execution_options(synchronize_session=False)
        ),
    )
    return taken.rowcount == 1


def release_lease(conn: Session, *, name: str, holder: str) -> None:
    """Give lease `name` up if `holder` holds it, so another collector takes it at once."""
    lease = db.Lease
    conn.execute(
        delete(lease)
        .where(lease.name == name, lease.holder == holder)
        .execution_options(synchronize_session=False)
    )


def lease_holder(conn: Session, *, name: str) -> tuple[str, dt.datetime, dt.datetime] | None:
    """(holder, acquired at, expires at) of lease `name`, None when nobody took it yet."""
    lease = db.Lease
    row = conn.execute(
        select(lease.holder, lease.acquired_at, lease.expires_at).where(lease.name == name)
    ).first()
    return None if row is None else (str(row[0]), row[1], row[2])
