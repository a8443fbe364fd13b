"""TimescaleDB: hypertables, compression and retention, used only where the extension can be created.

A server lists `timescaledb` in pg_available_extensions as soon as the package is installed, but the
extension can be created only once it is in shared_preload_libraries (which takes a restart). So
"available" is not "usable": where it is not preloaded, or CREATE EXTENSION fails for another reason
(tried on a connection of its own), Driftline keeps plain tables and logs one warning naming the fix.
Where it is usable, the time-series tables become hypertables compressed by model and ordered by time,
then by the rest of their primary key: every key column segmented or ordered on, as TimescaleDB asks of
unique keys. Tested against TimescaleDB 2.28.3 on throw-away clusters, one preloading it and one not
(tests/test_timescale.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("driftline.timescale")

#: Every time-series table has this column; queries select by it, then by a time range.
SEGMENT_BY = "model"


@dataclass(frozen=True)
class Hypertable:
    """One time-series table: its time column, chunk size, and the age at which chunks compress."""

    table: str
    time_column: str
    chunk_interval: str
    compress_after: str


#: Time-series tables. Each primary key contains its time column, as hypertables require.
HYPERTABLES: tuple[Hypertable, ...] = (
    Hypertable("records", "ts", "1 day", "7 days"),
    Hypertable("stats", "start", "1 day", "7 days"),
    Hypertable("drift", "window_start", "7 days", "30 days"),
    Hypertable("performance", "window_start", "7 days", "30 days"),
    Hypertable("quality", "window_start", "7 days", "30 days"),
    Hypertable("attributions", "window_start", "7 days", "30 days"),
)


def compress_orderby(h: Hypertable, key: list[str]) -> list[str]:
    """The compression order: time first (newest first, so time-range queries skip whole batches by
    their min/max), then every other primary-key column not segmented on."""
    return [h.time_column] + [c for c in key if c not in (h.time_column, SEGMENT_BY)]


def available(engine: Engine) -> bool:
    """Whether the server has TimescaleDB's files (listed in pg_available_extensions); not whether it
    can be created, see `setup_if_available`."""
    with engine.connect() as conn:
        return bool(
            conn.scalar(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"))
        )


def preloaded(conn: Connection) -> bool | None:
    """Whether shared_preload_libraries names timescaledb; None where this role may not read it."""
    setting = conn.scalar(text("SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'"))
    if setting is None:
        return None
    names = (part.strip().strip('"').rsplit("/", 1)[-1] for part in str(setting).split(","))
    return "timescaledb" in names


def _create_extension(engine: Engine) -> bool:
    """Create the extension where it can be; otherwise one warning and False (plain tables).

    The attempt runs on a connection of its own: a server that cannot load TimescaleDB ends the session
    (FATAL "must be preloaded"), which no savepoint survives."""
    with engine.connect() as conn:
        loaded = preloaded(conn)
    if loaded is False:
        log.warning(
            "TimescaleDB is installed on the PostgreSQL server but not preloaded, so it cannot be used: "
            "keeping plain tables. For hypertables add timescaledb to shared_preload_libraries and "
            "restart PostgreSQL."
        )
        return False
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        log.warning("TimescaleDB cannot be created (%s): keeping plain tables.", reason)
        return False
    return True


def _hypertable(conn: Connection, h: Hypertable) -> None:
    exists = conn.scalar(
        text("SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = :t"),
        {"t": h.table},
    )
    if not exists:
        conn.execute(
            text(
                "SELECT create_hypertable(:t, :c, chunk_time_interval => CAST(:i AS interval), "
                "if_not_exists => TRUE, migrate_data => TRUE)"
            ),
            {"t": h.table, "c": h.time_column, "i": h.chunk_interval},
        )


def _columns(setting: str | None) -> list[str]:
    """A compression setting as TimescaleDB shows it ('ts DESC,"check"') as plain items ('ts DESC', 'check')."""
    return [c.strip().replace('"', "") for c in (setting or "").split(",") if c.strip()]


def _compression(conn: Connection, h: Hypertable) -> None:
    """Compression by model, ordered by time then the rest of the live primary key. Set again only where
    it differs (a database set up by an older Driftline): chunks compressed before keep their settings."""
    key = list(inspect(conn).get_pk_constraint(h.table)["constrained_columns"])
    orderby = [f"{c} DESC" if c == h.time_column else c for c in compress_orderby(h, key)]
    current = conn.execute(
        text(
            "SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings "
            "WHERE hypertable = CAST(:t AS regclass)"
        ),
        {"t": h.table},
    ).first()
    if current is None or (_columns(current.segmentby), _columns(current.orderby)) != ([SEGMENT_BY], orderby):
        order = ", ".join(f'"{c}" DESC' if c == h.time_column else f'"{c}"' for c in compress_orderby(h, key))
        conn.execute(
            text(
                f'ALTER TABLE "{h.table}" SET (timescaledb.compress, '
                f"timescaledb.compress_segmentby = '\"{SEGMENT_BY}\"', "
                f"timescaledb.compress_orderby = '{order}')"
            )
        )
    conn.execute(
        text("SELECT add_compression_policy(:t, CAST(:i AS interval), if_not_exists => TRUE)"),
        {"t": h.table, "i": h.compress_after},
    )


def uncompress(conn: Connection, table: str) -> None:
    """Decompress every chunk of a compressed hypertable and turn its compression off, so a migration can
    change its key; `setup_if_available` turns compression back on, ordered by the new key. A no-op on a
    plain table or where TimescaleDB is not created."""
    if not conn.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")):
        return
    compressed = conn.scalar(
        text(
            "SELECT count(*) FROM timescaledb_information.hypertables "
            "WHERE hypertable_name = :t AND compression_enabled"
        ),
        {"t": table},
    )
    if not compressed:
        return
    log.info(
        "decompressing %s to change its key; its chunks compress again under the compression policy", table
    )
    conn.execute(text("SELECT remove_compression_policy(:t, if_exists => TRUE)"), {"t": table})
    conn.execute(
        text(
            "SELECT decompress_chunk(c, if_compressed => TRUE) FROM show_chunks(CAST(:t AS regclass)) c"
        ),
        {"t": table},
    )
    conn.execute(text(f'ALTER TABLE "{table}" SET (timescaledb.compress = false)'))


def setup_if_available(engine: Engine, retention: str | None = None) -> bool:
    """Turn the time-series tables into compressed hypertables where TimescaleDB can be created;
    returns False (plain tables) where it cannot, with one warning if it is installed but unusable."""
    if not available(engine):
        return False
    if not _create_extension(engine):
        return False
    with engine.begin() as conn:
        licensed = conn.scalar(text("SELECT current_setting('timescaledb.license', true)")) != "apache"
        for h in HYPERTABLES:
            _hypertable(conn, h)
            if licensed:
                _compression(conn, h)
            if retention:
                conn.execute(
                    text("SELECT add_retention_policy(:t, CAST(:i AS interval), if_not_exists => TRUE)"),
                    {"t": h.table, "i": retention},
                )
    if not licensed:
        log.warning(
            "TimescaleDB runs under its Apache-2.0 licence, which has no compression: not compressing."
        )
    log.info("TimescaleDB found: %s are hypertables", ", ".join(h.table for h in HYPERTABLES))
    return True


def retention_policies(engine: Engine, drop_after: Mapping[str, int]) -> set[str]:
    """Retention policies on the hypertables given a period (seconds, by table name): a policy is replaced
    where its interval differs, removed where the table has no period any more. Returns the hypertables a
    policy now covers (their rows go with whole chunks); empty where TimescaleDB is not created."""
    with engine.begin() as conn:
        if not conn.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")):
            return set()
        current = {
            str(t): str(c.get("drop_after"))
            for t, c in conn.execute(
                text(
                    "SELECT hypertable_name, config FROM timescaledb_information.jobs "
                    "WHERE proc_name = 'policy_retention'"
                )
            )
        }
        covered: set[str] = set()
        for h in HYPERTABLES:
            seconds = drop_after.get(h.table)
            wanted = None if seconds is None else _interval(seconds)
            if h.table in current and (wanted is None or not _same_interval(conn, current[h.table], wanted)):
                conn.execute(text("SELECT remove_retention_policy(:t, if_exists => TRUE)"), {"t": h.table})
                current.pop(h.table)
            if wanted is None:
                continue
            if h.table not in current:
                conn.execute(
                    text("SELECT add_retention_policy(:t, CAST(:i AS interval), if_not_exists => TRUE)"),
                    {"t": h.table, "i": wanted},
                )
            covered.add(h.table)
    return covered


def _interval(seconds: int) -> str:
    """A period as interval text: whole days where it is, else seconds."""
    return f"{seconds // 86400} days" if seconds % 86400 == 0 else f"{seconds} seconds"


def _same_interval(conn: Connection, a: str, b: str) -> bool:
    """Whether two intervals are equal as PostgreSQL compares them ('720:00:00' is '30 days')."""
    return bool(conn.scalar(text("SELECT CAST(:a AS interval) = CAST(:b AS interval)"), {"a": a, "b": b}))
