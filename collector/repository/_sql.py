"""What the repository modules share: the storage dialect's INSERT on an entity's table, and a bulk INSERT."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from collector import db, dialects


def insert(conn: Session, entity: type[db.Base]) -> Any:
    """The storage dialect's INSERT (which knows ON CONFLICT) on an entity's table.

    Typed Any: `on_conflict_do_nothing` / `on_conflict_do_update` live on each dialect's own Insert class.
    """
    return dialects.of(conn).insert(db.table(entity))


def insert_many(conn: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """INSERT many new rows (tuples in `columns` order) by the dialect's bulk path (COPY, the driver's
    executemany), each column's values bound through its type once per distinct value. SQLAlchemy's
    executemany processes every parameter of every row in Python: most of the time of writing a replay's
    summaries. The rows stored are the same."""
    dialect = conn.get_bind().dialect
    # the dialect's own implementation of each type: the same text SQLAlchemy would store (SQLite's
    # DATETIME writes microseconds, which the primary key and every range comparison rely on)
    processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    binders = [(j, f) for j, f in enumerate(processors) if f is not None]
    caches: list[dict[Any, Any]] = [{} for _ in binders]
    values = []
    for row in rows:
        if binders:
            row = list(row)
            for (j, f), cache in zip(binders, caches, strict=True):
                v = row[j]
                row[j] = cache[v] if v in cache else cache.setdefault(v, f(v))
        values.append(tuple(row))
    if values:
        dialects.of(conn).insert_rows(conn.connection(), table, columns, values)
