"""PostgreSQL: JSONB, bulk ingest through psycopg 3's COPY, ANALYZE after bulk loads, TimescaleDB."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy import Connection, Engine, Table, create_engine, inspect, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeEngine

from collector.dialects import timescale
from collector.encoding import RECORD_COLUMNS, attributions_of, json_or_none, sample_key

__all__ = ["DIALECT", "RECORD_COLUMNS", "analyze", "copy_records", "executemany_records", "record_row"]

_COLS = ", ".join(RECORD_COLUMNS)


def _aware(ts: dt.datetime) -> dt.datetime:
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts


def record_row(model: str, version: str, batch_id: str, received_at: dt.datetime, r: Any) -> tuple[Any, ...]:
    """One COPY row in RECORD_COLUMNS order, built straight from a validated record."""
    score = r.score if r.score is None or math.isfinite(r.score) else None
    return (
        model,
        r.id,
        _aware(r.ts),
        version,
        received_at,
        json_or_none(r.features),
        json_or_none(r.prediction),
        score,
        json_or_none(r.slices),
        batch_id,
        json_or_none(attributions_of(r)),
        sample_key(r.id),
    )


def _instant(ts: dt.datetime) -> tuple[int, int]:
    """A datetime as (whole seconds, microseconds) since the epoch, to match keys across time zones."""
    delta = _aware(ts) - _EPOCH
    return delta.days * 86400 + delta.seconds, delta.microseconds


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def copy_records(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """COPY rows into `records`; where any record was already stored, stage and insert the new ones only.
    Returns the positions of the rows stored now (what the per-minute aggregates add).

    COPY is all-or-nothing on a key conflict, so it runs under a savepoint: the common case (new
    records) pays for COPY alone, and a re-sent record costs one staged INSERT ... ON CONFLICT.
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        with raw.transaction(), raw.cursor() as cur, cur.copy(f"COPY records ({_COLS}) FROM STDIN") as cp:
            for d in rows:
                cp.write_row(d)
        return list(range(len(rows)))
    except pg_errors.UniqueViolation:
        pass
    with raw.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS records_stage (LIKE records INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        with cur.copy(f"COPY records_stage ({_COLS}) FROM STDIN") as cp:
            for d in rows:
                cp.write_row(d)
        cur.execute(
            f"INSERT INTO records ({_COLS}) SELECT {_COLS} FROM records_stage ON CONFLICT DO NOTHING "
            "RETURNING record_id, ts"
        )
        stored = {(rid, _instant(ts)) for rid, ts in cur.fetchall()}
        cur.execute("DROP TABLE records_stage")
    out = []
    for i, d in enumerate(rows):  # a record sent twice in one batch is stored, and counted, once
        key = (d[1], _instant(d[2]))
        if key in stored:
            stored.discard(key)
            out.append(i)
    return out


def executemany_records(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Multi-row INSERT ... ON CONFLICT DO NOTHING: the alternative bulk path, kept for the benchmark."""
    raw = conn.connection.driver_connection
    assert raw is not None
    placeholders = ", ".join(["%s"] * len(RECORD_COLUMNS))
    with raw.cursor() as cur:
        cur.executemany(
            f"INSERT INTO records ({_COLS}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",
            rows,
        )
        return len(rows)


def analyze(conn: Connection, tables: Sequence[str]) -> None:
    """Refresh the planner's statistics (ANALYZE samples a bounded number of rows, so it stays cheap)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        for t in tables:
            cur.execute(f'ANALYZE "{t}"')


class Postgres:
    """PostgreSQL through psycopg 3 (plain, or with TimescaleDB where the server can create it)."""

    name = "postgresql"
    json_ddl = "JSONB"
    json_column: TypeEngine[Any] | None = JSONB()
    naive_datetimes = False
    unavailable_errors: tuple[type[Exception], ...] = (psycopg.OperationalError,)
    rejected_errors: tuple[type[Exception], ...] = (psycopg.DataError,)

    def make_engine(self, url: URL, json_serializer: Callable[[Any], str]) -> Engine:
        """A pooled psycopg 3 engine (a bare `postgresql://` URL means psycopg 3) without prepared plans.

        psycopg prepares a statement after 5 runs, and PostgreSQL may then pick a generic plan; for the
        collector's batch-sized IN lists that plan scans the table per batch (bench_replay: 20 s a batch).
        """
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            json_serializer=json_serializer,
            connect_args={"prepare_threshold": None},
        )

    def missing_database(self, url: URL) -> str | None:
        """None: a server database is there or refuses the connection with its own message."""
        return None

    def insert(self, table: Table) -> Insert:
        """PostgreSQL's INSERT, which knows ON CONFLICT."""
        return postgresql.insert(table)

    def datetime_reader(self) -> Callable[[Any], dt.datetime | None] | None:
        """None: psycopg reads timestamptz as aware datetimes itself."""
        return None

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
        """COPY, with the exact fallback for re-sent records (see `copy_records`)."""
        return copy_records(conn, [record_row(model, version, batch_id, received_at, r) for r in records])

    def insert_rows(
        self, conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """COPY: several times the rate of psycopg's pipelined executemany for the summaries a tick writes."""
        raw = conn.connection.driver_connection
        assert raw is not None
        names = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as cp:
            for row in rows:
                cp.write_row(row)

    def lock_version(self, conn: Connection, key: int, *, shared: bool) -> None:
        """A transaction-scoped advisory lock on one model version's aggregates: ingest holds it shared,
        a rebuild exclusive, so no batch is binned on a reference the rebuild is replacing."""
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.execute(text(f"SELECT {fn}(:k)"), {"k": key})

    def refresh_statistics(self, conn: Connection, tables: Sequence[str]) -> None:
        """ANALYZE the tables, so lookups by key keep using their index as tables grow."""
        analyze(conn, tables)

    def set_primary_key(self, conn: Connection, table: Table, columns: Sequence[str]) -> None:
        """Drop the old primary-key constraint and add the new one, in place."""
        old = inspect(conn).get_pk_constraint(table.name)["name"]
        keys = ", ".join(f'"{c}"' for c in columns)  # quoted: quality's key holds "check", a keyword
        conn.execute(text(f'ALTER TABLE "{table.name}" DROP CONSTRAINT "{old}", ADD PRIMARY KEY ({keys})'))

    def prepare_rekey(self, conn: Connection, table: Table) -> None:
        """Decompress the table where it is a compressed hypertable (see `timescale.uncompress`)."""
        timescale.uncompress(conn, table.name)

    def setup_time_series(self, engine: Engine) -> bool:
        """Compressed hypertables where TimescaleDB can be created (see `timescale`)."""
        return timescale.setup_if_available(engine)

    def delete_some(self, table: str, where: str) -> str:
        """By ctid, as `ctid = ANY(ARRAY(...))`, which PostgreSQL reads with a TID scan (`ctid IN (SELECT
        ...)` is a semi-join that scans the whole table for every batch)."""
        return f'DELETE FROM "{table}" WHERE ctid = ANY(ARRAY(SELECT ctid FROM "{table}" WHERE {where} LIMIT :n))'

    def retention_policies(self, engine: Engine, drop_after: Mapping[str, int]) -> set[str]:
        """TimescaleDB's retention policies on the hypertables, where it is created (see `timescale`)."""
        return timescale.retention_policies(engine, drop_after)


DIALECT = Postgres()
