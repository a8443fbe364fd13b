"""SQLite: JSON as text, naive UTC datetimes, WAL, bulk ingest through the DB-API cursor.

The bulk path skips SQLAlchemy's per-row type processing, which cost ~20 us a row.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeEngine

from collector.encoding import RECORD_COLUMNS, attributions_of, encode_json, json_or_none, sample_key

__all__ = ["DIALECT", "RECORD_COLUMNS", "insert_records", "read_datetime", "record_row", "utc_text"]

_SQL = (
    f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}) VALUES ({', '.join('?' * len(RECORD_COLUMNS))}) "
    "ON CONFLICT DO NOTHING"
)


def utc_text(ts: dt.datetime) -> str:
    """A datetime as SQLAlchemy's SQLite DateTime stores it: naive UTC, microseconds, space-separated."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f")


def read_datetime(text: str) -> dt.datetime:
    """SQLite's text as a UTC datetime. Before ingest checked event times, a year before 1000 was stored
    unpadded ('1-01-01 00:00:00.000000'): it is read back rather than failing every query over its row."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        year, sep, rest = text.partition("-")
        value = dt.datetime.fromisoformat(f"{int(year):04d}{sep}{rest}")
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def record_row(model: str, version: str, batch_id: str, received_at: str, r: Any) -> tuple[Any, ...]:
    """One row in RECORD_COLUMNS order, encoded exactly as the mapped types would encode it."""
    return (
        model, r.id, utc_text(r.ts), version, received_at, encode_json(r.features), encode_json(r.prediction),
        r.score, encode_json(r.slices), batch_id, json_or_none(attributions_of(r)), sample_key(r.id),
    )  # fmt: skip


def insert_records(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """INSERT ... ON CONFLICT DO NOTHING of pre-encoded rows; returns the positions of those stored now.

    One executemany under a savepoint; where some row was already there (rare: a re-sent record), the
    savepoint is rolled back and the rows go one by one, to learn which were new.
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    if not raw.in_transaction:  # a savepoint outside a transaction would commit on release
        raw.execute("BEGIN")
    raw.execute("SAVEPOINT records_insert")
    before = raw.total_changes
    raw.executemany(_SQL, rows)
    if raw.total_changes - before == len(rows):
        raw.execute("RELEASE records_insert")
        return list(range(len(rows)))
    raw.execute("ROLLBACK TO records_insert")
    raw.execute("RELEASE records_insert")
    stored = []
    for i, row in enumerate(rows):
        before = raw.total_changes
        raw.execute(_SQL, row)
        if raw.total_changes > before:
            stored.append(i)
    return stored


def _pragmas(dbapi_conn: Any, _: Any) -> None:
    """WAL and relaxed syncing on every new connection, so the loop and the API share the file."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class SQLite:
    """SQLite through the standard library's sqlite3: a file (or memory) database for one process."""

    name = "sqlite"
    json_ddl = "JSON"
    json_column: TypeEngine[Any] | None = None
    naive_datetimes = True
    #: sqlite3's errors all reach the API wrapped by SQLAlchemy: none of its own to translate
    unavailable_errors: tuple[type[Exception], ...] = ()
    rejected_errors: tuple[type[Exception], ...] = ()

    def make_engine(self, url: URL, json_serializer: Callable[[Any], str]) -> Engine:
        """An engine with WAL and a busy timeout, usable from the loop's thread and the API's."""
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=json_serializer
        )
        event.listen(engine, "connect", _pragmas)
        return engine

    def missing_database(self, url: URL) -> str | None:
        """The file's path (or the URL, for an in-memory database) where no file is there to read."""
        path = url.database or ""
        exists = path not in ("", ":memory:") and os.path.exists(path)
        return None if exists else path or url.render_as_string(hide_password=True)

    def insert(self, table: Table) -> Insert:
        """SQLite's INSERT, which knows ON CONFLICT."""
        return sqlite.insert(table)

    def datetime_reader(self) -> Callable[[Any], dt.datetime | None] | None:
        """Stored text to aware UTC datetimes, tolerating the unpadded years older versions wrote."""
        return lambda value: None if value is None else read_datetime(value)

    def insert_records(
        self,
        conn: Connection,
        *,
        model: str,
        version: str,
        batch_id: str,
        received_at: dt.datetime,
        records: Sequence[Any],
    ) -> list[int]:
        """Pre-encoded rows through the DB-API cursor (see `insert_records`)."""
        received = utc_text(received_at)
        return insert_records(conn, [record_row(model, version, batch_id, received, r) for r in records])

    def insert_rows(
        self, conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """The driver's executemany of one prepared INSERT."""
        names, marks = ", ".join(f'"{c}"' for c in columns), ", ".join("?" * len(columns))
        conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', list(rows))

    def lock_version(self, conn: Connection, key: int, *, shared: bool) -> None:
        """Nothing: SQLite has one writer at a time, and ingest writes (claims its batch) before it reads
        the aggregate state, so a rebuild and a batch never interleave."""

    def refresh_statistics(self, conn: Connection, tables: Sequence[str]) -> None:
        """Nothing: SQLite's planner needs no refresh for the collector's key lookups."""

    def set_primary_key(self, conn: Connection, table: Table, columns: Sequence[str]) -> None:
        """SQLite cannot change a primary key in place: copy the rows into the table as now defined."""
        if list(columns) != [c.name for c in table.primary_key.columns]:
            raise ValueError(f"{table.name}: SQLite re-creates the key the table defines, not {columns}")
        old = [c["name"] for c in inspect(conn).get_columns(table.name)]
        aside = f"{table.name}_before_rekey"
        conn.execute(text(f'ALTER TABLE "{table.name}" RENAME TO "{aside}"'))
        table.create(conn)
        cols = ", ".join(f'"{c}"' for c in old)
        conn.execute(text(f'INSERT INTO "{table.name}" ({cols}) SELECT {cols} FROM "{aside}"'))
        conn.execute(text(f'DROP TABLE "{aside}"'))

    def prepare_rekey(self, conn: Connection, table: Table) -> None:
        """Nothing: `set_primary_key` copies the table, which SQLite always allows."""

    def setup_time_series(self, engine: Engine) -> bool:
        """Nothing: SQLite has no time-series tables; plain tables serve."""
        return False

    def delete_some(self, table: str, where: str) -> str:
        """By rowid: each one a lookup in the table's b-tree."""
        return f'DELETE FROM "{table}" WHERE rowid IN (SELECT rowid FROM "{table}" WHERE {where} LIMIT :n)'

    def retention_policies(self, engine: Engine, drop_after: Mapping[str, int]) -> set[str]:
        """None: every old row is deleted in batches."""
        return set()


DIALECT = SQLite()
