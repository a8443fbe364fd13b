"""Versioned migrations: applied once, in order, on both dialects; TimescaleDB only where it exists."""

from __future__ import annotations

from sqlalchemy import inspect

from collector import db, migrations
from collector.dialects import timescale


def test_migrations_apply_once_and_record_their_version(db_url: str) -> None:
    engine = db.make_engine(db_url)
    assert migrations.current_version(engine) == 0
    assert migrations.migrate(engine) == [m.version for m in migrations.MIGRATIONS]
    assert migrations.migrate(engine) == []
    assert migrations.current_version(engine) == migrations.MIGRATIONS[-1].version
    tables = set(inspect(engine).get_table_names())
    assert {"records", "labels", "stats", "references", "drift", "tokens", "batches", "models"} <= tables
    engine.dispose()


def test_every_time_series_primary_key_holds_its_time_column_as_hypertables_require() -> None:
    for h in timescale.HYPERTABLES:
        table = db.Base.metadata.tables[h.table]
        assert h.time_column in {c.name for c in table.primary_key.columns}, h.table


def test_timescaledb_is_detected_from_the_server_not_assumed(pg_fresh_url: str) -> None:
    engine = db.make_engine(pg_fresh_url)
    from sqlalchemy import text

    with engine.connect() as conn:
        listed = bool(conn.scalar(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")))
    assert timescale.available(engine) is listed
    engine.dispose()
