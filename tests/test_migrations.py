"""Versioned migrations: applied once, in order, on both dialects; TimescaleDB only where it exists."""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, Table, delete, inspect, select, text
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from collector import db, dialects, migrations, repository
from collector.dialects import postgres, sqlite, timescale
from contract import DriftlineError


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
    with engine.connect() as conn:
        listed = bool(
            conn.scalar(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"))
        )
    assert timescale.available(engine) is listed
    engine.dispose()


# ------------------------------------------------------------------------------- storage dialects


def test_every_dialect_module_is_found_and_picked_by_sqlalchemy_name() -> None:
    """A module in collector/dialects/ that defines DIALECT is a backend; the rest are its helpers."""
    package = Path(dialects.__file__).parent
    defined = {
        info.name
        for info in pkgutil.iter_modules([str(package)])
        if "\nDIALECT = " in (package / f"{info.name}.py").read_text()
    }
    assert {"postgres", "sqlite"} <= defined
    by_module = {name: importlib.import_module(f"collector.dialects.{name}").DIALECT.name for name in defined}
    assert set(dialects.registered()) == set(by_module.values()) >= {"postgresql", "sqlite"}
    assert dialects.named("postgresql") is postgres.DIALECT
    assert dialects.for_url("postgresql://u@h/db") is postgres.DIALECT
    assert dialects.for_url("postgresql+psycopg://u@h/db") is postgres.DIALECT
    assert dialects.for_url("sqlite:///x.db") is sqlite.DIALECT
    for d in dialects.registered().values():
        assert d.json_ddl and isinstance(d.naive_datetimes, bool)


def test_an_unknown_backend_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(dialects.UnknownDialectError, match=r"'mysql'.*postgresql, sqlite") as caught:
        dialects.for_url("mysql://u@h/db")
    assert isinstance(caught.value, DriftlineError) and isinstance(caught.value, ValueError)


def test_the_dialect_of_a_session_connection_and_engine_is_their_database(db_url: str) -> None:
    engine = db.make_engine(db_url)
    want = dialects.for_url(db_url)
    with engine.connect() as conn, Session(engine) as s:
        assert dialects.of(engine) is dialects.of(conn) is dialects.of(s) is want
    engine.dispose()


def test_a_dialect_whose_driver_is_not_installed_is_left_out_and_named_when_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An optional backend's missing driver must not break the collector's import (or the other backends)."""
    real = importlib.import_module

    def without_sqlite_driver(name: str, package: str | None = None) -> Any:
        if name == "collector.dialects.sqlite":
            raise ModuleNotFoundError("No module named 'fancydb'", name="fancydb")
        return real(name, package)

    monkeypatch.setattr(dialects.importlib, "import_module", without_sqlite_driver)
    monkeypatch.setattr(dialects, "_UNAVAILABLE", {})
    found = dialects.registered.__wrapped__()
    assert "sqlite" not in found and found["postgresql"] is postgres.DIALECT
    monkeypatch.setattr(dialects, "registered", lambda: found)
    with pytest.raises(
        dialects.UnknownDialectError, match=r"sqlite\.py needs a driver \(No module named 'fancydb'\)"
    ):
        dialects.named("sqlite")


def test_only_dialect_modules_name_a_backend() -> None:
    """No `dialect.name ==` check, backend literal or backend import outside collector/dialects/."""
    root = Path(dialects.__file__).parent.parent
    pattern = re.compile(
        r"dialect\.name\s*[=!]=|get_backend_name\(\)\s*[=!]=|sqlalchemy\.dialects|[\"'](postgresql|sqlite)[\"']"
    )
    offenders = [
        f"{p.relative_to(root.parent)}:{n}"
        for p in sorted(root.rglob("*.py"))
        if "dialects" not in p.parts
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_a_missing_sqlite_file_is_reported_and_a_server_database_never(tmp_path: Path) -> None:
    """Readers that must not create a database ask the dialect where its file should be."""
    absent = tmp_path / "none.db"
    assert sqlite.DIALECT.missing_database(make_url(f"sqlite:///{absent}")) == str(absent)
    assert sqlite.DIALECT.missing_database(make_url("sqlite://")) == "sqlite://"
    present = tmp_path / "here.db"
    present.write_bytes(b"")
    assert sqlite.DIALECT.missing_database(make_url(f"sqlite:///{present}")) is None
    assert postgres.DIALECT.missing_database(make_url("postgresql://u@h/db")) is None


def test_json_columns_take_each_dialects_type() -> None:
    """JSONB on PostgreSQL, the generic JSON elsewhere, as each dialect module declares."""
    assert isinstance(db.JSONType.dialect_impl(postgresql_dialect.dialect()), JSONB)
    assert not isinstance(db.JSONType.dialect_impl(sqlite_dialect.dialect()), JSONB)


# ------------------------------------------------------------------- migration 10: window lengths

T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def as_before_migration_10(engine: Engine) -> None:
    """Put a migrated database back to its shape before migration 10: the per-window tables keyed without
    the window's length (they are empty after a fresh migrate, so they are made again in the old shape)."""
    with engine.begin() as conn:
        for entity in migrations.WINDOW_TABLES:
            table = db.table(entity)
            table.drop(conn)
            Table(table.name, MetaData(), *(c._copy() for c in table.columns if c.name != "window_seconds")).create(
                conn
            )
        conn.execute(delete(db.table(db.SchemaVersion)).where(db.SchemaVersion.version == 10))


def old_points(hours: int, start: dt.datetime) -> dict[str, dict[str, Any]]:
    """One row per per-window table for a window of `hours` from `start`, as a version before 10 wrote it."""
    end = start + dt.timedelta(hours=hours)
    key = {"model": "credit", "version": "v1", "window_start": start, "window_end": end, "computed_at": T0}
    return {
        "drift": {**key, "feature": "income", "metric": "psi", "value": 0.1 * hours, "status": "ok",
                  "n_reference": 10, "n_current": 10, "reference_id": 1},
        "performance": {**key, "slice": "all", "metric": "accuracy", "value": 0.9, "support": 5, "total": 5,
                        "status": "ok"},
        "quality": {**key, "feature": "income", "check": "missing", "count": 1, "total": 10},
        "attributions": {**key, "feature": "income", "kind": "prediction", "status": "ok", "n": 5,
                         "n_reference": 5},
    }  # fmt: skip


def insert_old(engine: Engine, rows: list[dict[str, dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for name in ("drift", "performance", "quality", "attributions"):
            old = Table(name, MetaData(), autoload_with=conn)
            conn.execute(old.insert(), [r[name] for r in rows])


def check_keyed_by_window(engine: Engine) -> None:
    """Every per-window table holds each row's length, keys on it, and takes a second length at one start."""
    with engine.connect() as conn:
        inspector = inspect(conn)
        for entity in migrations.WINDOW_TABLES:
            table = db.table(entity)
            key = inspector.get_pk_constraint(table.name)["constrained_columns"]
            assert "window_seconds" in key and set(key) == {c.name for c in table.primary_key.columns}
            lengths = sorted(conn.execute(select(table.c.window_start, table.c.window_seconds)).all())
            assert lengths == [(T0, 3600), (T0 + dt.timedelta(hours=1), 86400)], table.name
    with Session(engine) as s, s.begin():
        point = {k: v for k, v in old_points(24, T0)["drift"].items()}
        repository.upsert_drift(s, rows=[{**point, "window_seconds": 86400}])
    with Session(engine) as s:
        got = {(p.window_start, p.window_seconds) for p in repository.drift_series(s, model="credit")}
    assert got == {(T0, 3600), (T0, 86400), (T0 + dt.timedelta(hours=1), 86400)}


def test_migration_10_gives_stored_points_their_window_length_and_keys_them_by_it(db_url: str) -> None:
    """Points stored before 10 (an hour's window, and a day's after the spec changed) get end minus start."""
    engine = db.make_engine(db_url)
    migrations.migrate(engine)
    as_before_migration_10(engine)
    insert_old(engine, [old_points(1, T0), old_points(24, T0 + dt.timedelta(hours=1))])
    assert migrations.migrate(engine) == [10]
    check_keyed_by_window(engine)
    engine.dispose()


def test_migration_16_adds_the_packed_cells_column_to_the_summaries_and_their_roll_up(db_url: str) -> None:
    """A database from before 16 (no `cells`, summaries one row per ROC AUC cell) gains the column on both
    tables, keeps its rows, and then stores packed cells."""
    engine = db.make_engine(db_url)
    migrations.migrate(engine)
    tables = ("minute_performance", "hour_performance")
    with engine.begin() as conn:
        for name in tables:
            conn.execute(text(f"ALTER TABLE {name} DROP COLUMN cells"))
        before = Table("minute_performance", MetaData(), autoload_with=conn)  # as the old schema has it
        conn.execute(before.insert().values(model="credit", version="v1", minute=T0, slice="all", item="r:3:1", n=2,
                                            total=0.0, squares=0.0))  # fmt: skip
        conn.execute(delete(db.table(db.SchemaVersion)).where(db.table(db.SchemaVersion).c.version == 16))
    assert migrations.migrate(engine) == [16]
    for name in tables:
        assert "cells" in {c["name"] for c in inspect(engine).get_columns(name)}, name
    with Session(engine) as s:
        got, _ = repository.window_summary(s, model="credit", version="v1", start=T0, end=T0 + dt.timedelta(hours=1))
    assert {k: v.n for k, v in got["all"].items()} == {"r:3:1": 2}
    engine.dispose()


def test_migration_19_adds_the_drift_points_mde_keeping_old_points_and_storing_new_ones(db_url: str) -> None:
    """A database from before 19 keeps its drift points (no MDE: NULL) and then stores each point's MDE."""
    engine = db.make_engine(db_url)
    migrations.migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE drift DROP COLUMN mde"))
        before = Table("drift", MetaData(), autoload_with=conn)
        conn.execute(before.insert().values(**old_points(1, T0)["drift"], window_seconds=3600))
        conn.execute(delete(db.table(db.SchemaVersion)).where(db.table(db.SchemaVersion).c.version == 19))
    assert migrations.migrate(engine) == [19]
    assert "mde" in {c["name"] for c in inspect(engine).get_columns("drift")}
    with Session(engine) as s, s.begin():
        later = {**old_points(1, T0 + dt.timedelta(hours=1))["drift"], "window_seconds": 3600, "mde": 0.157}
        repository.upsert_drift(s, rows=[later])
    with Session(engine) as s:
        got = sorted((p.window_start, p.mde) for p in repository.drift_series(s, model="credit"))
    assert got == [(T0, None), (T0 + dt.timedelta(hours=1), 0.157)]
    engine.dispose()
