"""PostgreSQL bulk ingest through psycopg 3's COPY, with an exact fallback for re-sent records."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from psycopg import errors as pg_errors
from sqlalchemy import Connection

from collector.db import attributions_of, encode_json

RECORD_COLUMNS = (
    "model",
    "record_id",
    "ts",
    "version",
    "received_at",
    "features",
    "prediction",
    "score",
    "slices",
    "batch_id",
    "attributions",
)
_JSON_COLUMNS = {"features", "prediction", "slices", "attributions"}
_COLS = ", ".join(RECORD_COLUMNS)


def _json(value: Any) -> str | None:
    return None if value is None else encode_json(value)


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
        _json(r.features),
        _json(r.prediction),
        score,
        _json(r.slices),
        batch_id,
        _json(attributions_of(r)),
    )


def copy_records(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """COPY rows into `records`; where any record was already stored, stage and insert the new ones only.

    COPY is all-or-nothing on a key conflict, so it runs under a savepoint: the common case (new
    records) pays for COPY alone, and a re-sent record costs one staged INSERT ... ON CONFLICT.
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        with raw.transaction(), raw.cursor() as cur, cur.copy(f"COPY records ({_COLS}) FROM STDIN") as cp:
            for d in rows:
                cp.write_row(d)
        return len(rows)
    except pg_errors.UniqueViolation:
        pass
    with raw.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS records_stage (LIKE records INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        with cur.copy(f"COPY records_stage ({_COLS}) FROM STDIN") as cp:
            for d in rows:
                cp.write_row(d)
        cur.execute(f"INSERT INTO records ({_COLS}) SELECT {_COLS} FROM records_stage ON CONFLICT DO NOTHING")
        inserted = cur.rowcount
        cur.execute("DROP TABLE records_stage")
    return inserted


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
