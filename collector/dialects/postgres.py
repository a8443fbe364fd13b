"""PostgreSQL bulk ingest through psycopg 3's COPY, with an exact fallback for re-sent records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

RECORD_COLUMNS = (
    "model", "record_id", "ts", "version", "received_at", "features", "prediction", "score", "slices", "batch_id",
)
_JSON_COLUMNS = {"features", "prediction", "slices"}
_COLS = ", ".join(RECORD_COLUMNS)


def _row(r: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        (None if r[c] is None else json.dumps(r[c], separators=(",", ":"))) if c in _JSON_COLUMNS else r[c]
        for c in RECORD_COLUMNS
    )


def copy_records(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """COPY rows into `records`; where any record was already stored, stage and insert the new ones only.

    COPY is all-or-nothing on a key conflict, so it runs under a savepoint: the common case (new
    records) pays for COPY alone, and a re-sent record costs one staged INSERT ... ON CONFLICT.
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    data = [_row(r) for r in rows]
    try:
        with raw.transaction(), raw.cursor() as cur, cur.copy(f"COPY records ({_COLS}) FROM STDIN") as cp:
            for d in data:
                cp.write_row(d)
        return len(data)
    except Exception as exc:  # psycopg.errors.UniqueViolation, imported lazily to keep this module light
        if type(exc).__name__ != "UniqueViolation":
            raise
    with raw.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS records_stage (LIKE records INCLUDING DEFAULTS) ON COMMIT DROP")
        with cur.copy(f"COPY records_stage ({_COLS}) FROM STDIN") as cp:
            for d in data:
                cp.write_row(d)
        cur.execute(
            f"INSERT INTO records ({_COLS}) SELECT {_COLS} FROM records_stage ON CONFLICT DO NOTHING"
        )
        inserted = cur.rowcount
        cur.execute("DROP TABLE records_stage")
    return inserted


def executemany_records(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Multi-row INSERT ... ON CONFLICT DO NOTHING: the alternative bulk path, kept for the benchmark."""
    raw = conn.connection.driver_connection
    assert raw is not None
    placeholders = ", ".join(["%s"] * len(RECORD_COLUMNS))
    with raw.cursor() as cur:
        cur.executemany(
            f"INSERT INTO records ({_COLS}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",
            [_row(r) for r in rows],
        )
        return len(rows)
