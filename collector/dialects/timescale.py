"""TimescaleDB: hypertables, compression and retention, used only where the extension exists.

Written against TimescaleDB 2.x's documented API (create_hypertable with if_not_exists and
migrate_data, ALTER TABLE ... SET (timescaledb.compress ...), add_compression_policy,
add_retention_policy). The machines Driftline is developed on have no TimescaleDB, so this path is
exercised only where the extension is installed; plain PostgreSQL is the tested path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine, text

log = logging.getLogger("driftline.timescale")


@dataclass(frozen=True)
class Hypertable:
    table: str
    time_column: str
    chunk_interval: str
    segment_by: str
    compress_after: str


#: Time-series tables. Each primary key contains its time column, as hypertables require.
HYPERTABLES: tuple[Hypertable, ...] = (
    Hypertable("records", "ts", "1 day", "model", "7 days"),
    Hypertable("stats", "start", "1 day", "model", "7 days"),
    Hypertable("drift", "window_start", "7 days", "model", "30 days"),
    Hypertable("performance", "window_start", "7 days", "model", "30 days"),
    Hypertable("quality", "window_start", "7 days", "model", "30 days"),
)


def available(engine: Engine) -> bool:
    """Whether the server can load TimescaleDB (listed in pg_available_extensions)."""
    with engine.connect() as conn:
        return bool(
            conn.scalar(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"))
        )


def setup_if_available(engine: Engine, retention: str | None = None) -> bool:
    """Turn the time-series tables into compressed hypertables; returns False where there is no TimescaleDB."""
    if not available(engine):
        return False
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
        for h in HYPERTABLES:
            conn.execute(
                text(
                    "SELECT create_hypertable(:t, :c, chunk_time_interval => CAST(:i AS interval), "
                    "if_not_exists => TRUE, migrate_data => TRUE)"
                ),
                {"t": h.table, "c": h.time_column, "i": h.chunk_interval},
            )
            conn.execute(
                text(
                    f'ALTER TABLE "{h.table}" SET (timescaledb.compress, '
                    f"timescaledb.compress_segmentby = '{h.segment_by}', "
                    f"timescaledb.compress_orderby = '{h.time_column} DESC')"
                )
            )
            conn.execute(
                text("SELECT add_compression_policy(:t, CAST(:i AS interval), if_not_exists => TRUE)"),
                {"t": h.table, "i": h.compress_after},
            )
            if retention:
                conn.execute(
                    text("SELECT add_retention_policy(:t, CAST(:i AS interval), if_not_exists => TRUE)"),
                    {"t": h.table, "i": retention},
                )
    log.info("TimescaleDB found: %s are hypertables", ", ".join(h.table for h in HYPERTABLES))
    return True
