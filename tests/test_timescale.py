"""TimescaleDB on real throw-away clusters: hypertables where it is preloaded, plain tables and one warning
where it is installed but not preloaded (the state right after installing the package).

Each cluster is initdb'd into a temp dir on a free port, never the shared one, and removed afterwards.
TimescaleDB's background job runner fails on Debian's PostgreSQL 15.20 (../shared/timescaledb/README.md),
so the clusters start none and the tests run a policy with `CALL run_job(id)`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, event, func, select, text

from collector import db, migrations
from collector.dialects import timescale
from tests.conftest import Collector, cli, free_port, missing, start_collector
from tests.test_migrations import as_before_migration_10, insert_old, old_points

INSTALL = "run ../shared/timescaledb/install.sh as root (.ci/run does)"
KEY_WARNING = "should be used for segmenting or ordering"
#: create_hypertable's advice on db.py's VARCHAR(n) columns, once per table; the lengths are our limits
VARCHAR_ADVICE = "does not follow best practices"


def _pg_config(flag: str) -> Path | None:
    exe = shutil.which("pg_config")
    if exe is None:
        return None
    return Path(subprocess.run([exe, flag], capture_output=True, text=True, check=True).stdout.strip())


def _server_bin() -> Path:
    """PostgreSQL's server binaries (initdb, pg_ctl), or skip/fail naming the fix."""
    bindir = _pg_config("--bindir") or Path("/usr/lib/postgresql/15/bin")
    if not (bindir / "initdb").exists() or not (bindir / "pg_ctl").exists():
        missing(f"initdb and pg_ctl in {bindir}", "apt-get install postgresql-15")
    return bindir


def _require_timescaledb() -> None:
    lib, share = _pg_config("--pkglibdir"), _pg_config("--sharedir")
    if lib is None or share is None:
        missing("pg_config", "apt-get install postgresql-15")
    assert lib is not None and share is not None
    if not (lib / "timescaledb.so").exists() or not (share / "extension" / "timescaledb.control").exists():
        missing(f"TimescaleDB ({lib}/timescaledb.so)", INSTALL)


@dataclass
class Cluster:
    """A throw-away PostgreSQL server: its port and server log."""

    port: int
    log: Path

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def new_database(self, owner: str = "postgres") -> str:
        """A fresh database's URL (superuser connections unless `owner` is another role)."""
        name = f"dl_{secrets.token_hex(4)}"
        admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner}"'))
        admin.dispose()
        return self.url(name, owner)

    def server_log(self) -> str:
        return self.log.read_text(errors="replace")


def _start_cluster(preload: bool) -> Iterator[Cluster]:
    bindir = _server_bin()
    _require_timescaledb()
    root = Path(tempfile.mkdtemp(prefix="driftline-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the server runs as the postgres user
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "server.log"
    port = free_port()
    try:
        subprocess.run(
            [*as_postgres, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
             "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        conf = [
            f"port = {port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{root}'",
            "fsync = off",
        ]
        if preload:
            conf += [
                "shared_preload_libraries = 'timescaledb'",
                "timescaledb.telemetry_level = off",
                "timescaledb.max_background_workers = 0",  # the job runner fails here; tests call run_job
            ]
        with (data / "postgresql.conf").open("a") as f:
            f.write("\n".join(conf) + "\n")
        subprocess.run(
            [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        yield Cluster(port, log)
    finally:
        subprocess.run(
            [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def preloaded() -> Iterator[Cluster]:
    """A cluster with shared_preload_libraries = 'timescaledb'."""
    yield from _start_cluster(preload=True)


@pytest.fixture(scope="module")
def installed_only() -> Iterator[Cluster]:
    """A cluster that lists timescaledb in pg_available_extensions but does not preload it."""
    yield from _start_cluster(preload=False)


def _notices(engine: Engine) -> list[str]:
    """Every NOTICE/WARNING the server sends this engine's connections, as 'SEVERITY: message'."""
    got: list[str] = []

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.add_notice_handler(lambda d: got.append(f"{d.severity}: {d.message_primary}"))

    return got


def _timescale_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "driftline.timescale" and r.levelno >= logging.WARNING
    ]


def _plain(engine: Engine) -> None:
    with engine.connect() as conn:
        assert (
            conn.scalar(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")) == 1
        )
        assert conn.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")) == 0
        kinds = dict(
            conn.execute(
                text("SELECT relname, relkind FROM pg_class WHERE relname = ANY(:t)"), {"t": list(_tables())}
            ).all()
        )
    assert kinds == {t: "r" for t in _tables()}  # ordinary tables, every one there


def _role(cluster: Cluster) -> str:
    """A new ordinary (non-superuser) login role."""
    role = f"app_{secrets.token_hex(3)}"
    admin = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    admin.dispose()
    return role


def _tables() -> tuple[str, ...]:
    return tuple(h.table for h in timescale.HYPERTABLES)


# ------------------------------------------------------------------------------------------ no database


def test_compression_segments_or_orders_on_every_primary_key_column_time_first() -> None:
    for h in timescale.HYPERTABLES:
        key = [c.name for c in db.Base.metadata.tables[h.table].primary_key.columns]
        assert h.time_column in key, h.table
        orderby = timescale.compress_orderby(h, key)
        assert orderby[0] == h.time_column, h.table
        assert set(key) <= {timescale.SEGMENT_BY, *orderby}, h.table
        assert timescale.SEGMENT_BY in db.Base.metadata.tables[h.table].columns, h.table


def test_every_time_series_table_is_a_hypertable_attributions_included() -> None:
    windowed = {
        name
        for name, t in db.Base.metadata.tables.items()
        if "window_start" in t.columns and "window_start" in {c.name for c in t.primary_key.columns}
    }
    assert windowed | {"records", "stats"} == set(_tables())


# ------------------------------------------------------------------------ installed but not preloaded


def test_installed_but_not_preloaded_timescaledb_leaves_plain_tables_and_one_warning(
    installed_only: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Today's main crashed here: CREATE EXTENSION failed with 'extension "timescaledb" must be preloaded'."""
    engine = db.make_engine(installed_only.new_database())
    with caplog.at_level(logging.INFO):
        assert migrations.migrate(engine) == [m.version for m in migrations.MIGRATIONS]
    warnings = _timescale_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "shared_preload_libraries" in warnings[0] and "plain tables" in warnings[0]
    _plain(engine)
    caplog.clear()
    assert migrations.migrate(engine) == []
    assert len(_timescale_warnings(caplog)) == 1
    engine.dispose()


def test_token_create_works_where_timescaledb_is_installed_but_not_preloaded(installed_only: Cluster) -> None:
    done = cli("token", "create", "--scope", "admin", "--database-url", installed_only.new_database())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("dl_"), done.stdout
    assert done.stderr.count("not preloaded") == 1, done.stderr


def test_a_role_that_cannot_read_the_preload_setting_falls_back_after_trying_on_its_own_connection(
    installed_only: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """An ordinary owner role cannot see shared_preload_libraries: CREATE EXTENSION is tried on a connection
    of its own (the server ends that session, FATAL), and the migrations stay applied with one warning."""
    role = _role(installed_only)
    engine = db.make_engine(installed_only.new_database(owner=role))
    with caplog.at_level(logging.INFO):
        assert migrations.migrate(engine) == [m.version for m in migrations.MIGRATIONS]
    warnings = _timescale_warnings(caplog)
    assert len(warnings) == 1 and "cannot be created" in warnings[0], warnings
    assert migrations.current_version(engine) == migrations.MIGRATIONS[-1].version
    _plain(engine)
    engine.dispose()


# ----------------------------------------------------------------------------------------- preloaded


def test_preloaded_timescaledb_makes_compressed_hypertables_with_no_key_column_warning(
    preloaded: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    engine = db.make_engine(preloaded.new_database())
    notices = _notices(engine)
    with caplog.at_level(logging.INFO):
        migrations.migrate(engine)
        migrations.migrate(engine)  # a restart: nothing to redo, nothing new said
    assert _timescale_warnings(caplog) == []
    assert not [n for n in notices if KEY_WARNING in n], notices
    assert [n for n in notices if n.startswith("WARNING") and VARCHAR_ADVICE not in n] == []
    with engine.connect() as conn:
        hyper = dict(
            conn.execute(
                text("SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables")
            ).all()
        )
        settings = {
            t: (s, o)
            for t, s, o in conn.execute(
                text(
                    "SELECT hypertable::text, segmentby, orderby "
                    "FROM timescaledb_information.hypertable_compression_settings"
                )
            )
        }
        policies = dict(
            conn.execute(
                text(
                    "SELECT hypertable_name, config->>'compress_after' FROM timescaledb_information.jobs "
                    "WHERE proc_name = 'policy_compression'"
                )
            ).all()
        )
    assert hyper == {t: True for t in _tables()}
    assert settings["records"] == ("model", "ts DESC,record_id")
    assert settings["attributions"] == ("model", "window_start DESC,version,feature,kind,window_seconds")
    assert set(policies) == set(_tables()) and policies["records"] == "7 days"
    assert KEY_WARNING not in preloaded.server_log()
    engine.dispose()


def test_an_ordinary_role_owning_its_database_gets_hypertables_where_timescaledb_is_preloaded(
    preloaded: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """It cannot read shared_preload_libraries, but TimescaleDB is a trusted extension: creating it works."""
    role = _role(preloaded)
    engine = db.make_engine(preloaded.new_database(owner=role))
    with caplog.at_level(logging.INFO):
        migrations.migrate(engine)
    assert _timescale_warnings(caplog) == []
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT current_user")) == role
        names = set(conn.scalars(text("SELECT hypertable_name FROM timescaledb_information.hypertables")))
    assert names == set(_tables())
    engine.dispose()


def test_settings_from_an_older_driftline_are_replaced_and_warn_no_more(preloaded: Cluster) -> None:
    """A database set up with compress_orderby = 'ts DESC' alone (key columns left out) gets the full order."""
    engine = db.make_engine(preloaded.new_database())
    migrations.migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE records SET (timescaledb.compress_orderby = 'ts DESC')"))
    migrations.migrate(engine)
    with engine.connect() as conn:
        orderby = conn.scalar(
            text(
                "SELECT orderby FROM timescaledb_information.hypertable_compression_settings "
                "WHERE hypertable = 'records'::regclass"
            )
        )
    assert orderby == "ts DESC,record_id"
    engine.dispose()


def _records(
    n: int, start: dt.datetime, rng: np.random.Generator, prefix: str, shift: float = 0.0
) -> list[Any]:
    return [
        {
            "id": f"{prefix}{i}",
            "ts": (start + dt.timedelta(seconds=10 + i)).isoformat().replace("+00:00", "Z"),
            "features": {
                "income": float(rng.normal(50 + shift, 10)),
                "age": float(rng.normal(40, 8)),
                "debt_ratio": float(rng.beta(2, 5)),
                "region": str(rng.choice(["EU", "US", "APAC"])),
            },
            "prediction": int(rng.integers(0, 2)),
            "score": float(rng.random()),
        }
        for i in range(n)
    ]


def _batch(recs: list[Any], batch_id: str | None = None) -> dict[str, Any]:
    return {"batch_id": batch_id or uuid.uuid4().hex, "model": "credit", "version": "v1", "records": recs}


def _compress_everything(url: str) -> dict[str, int]:
    """Run every compression policy now (as its job would), and count compressed chunks per hypertable."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        jobs = conn.scalars(
            text("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'")
        ).all()
        for job in jobs:
            conn.execute(text("CALL run_job(:j)"), {"j": job})
        out = dict(
            conn.execute(
                text(
                    "SELECT hypertable_name, count(*) FILTER (WHERE is_compressed) "
                    "FROM timescaledb_information.chunks GROUP BY hypertable_name"
                )
            ).all()
        )
    engine.dispose()
    return out


def test_the_collector_on_timescaledb_stores_reads_and_reevaluates_in_compressed_chunks(
    preloaded: Cluster, tmp_path: Path
) -> None:
    """Records and drift older than their compress_after are compressed by the policy; a re-sent batch,
    late records and a re-evaluated window then go into those compressed chunks, and read back right."""
    url = preloaded.new_database()
    c: Collector = start_collector(url, tmp_path)
    try:
        rng = np.random.default_rng(12)
        n = 1000
        cols = {
            "income": rng.normal(50, 10, n).tolist(),
            "age": rng.normal(40, 8, n).tolist(),
            "debt_ratio": rng.beta(2, 5, n).tolist(),
            "region": rng.choice(["EU", "US", "APAC"], n).tolist(),
        }
        assert c.post("/v1/references", {"model": "credit", "columns": cols})[0] == 200
        now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        window = now - dt.timedelta(days=40)  # older than every compress_after (7 and 30 days)
        early = _batch(_records(20, window, rng, "early"))
        assert c.post("/v1/records", early)[0] == 200
        assert c.evaluate() == 1
        before = {p["feature"]: p for p in c.get("/v1/models/credit/drift")[1] if p["metric"] == "psi"}
        assert before["income"]["n_current"] == 20

        compressed = _compress_everything(url)
        assert compressed.get("records", 0) >= 1 and compressed.get("drift", 0) >= 1, compressed

        assert c.post("/v1/records", early)[1]["duplicate"] is True
        assert c.post("/v1/records", _batch(early["records"]))[0] == 200  # same records, new batch id
        late = _batch(_records(500, window, rng, "late", shift=10))
        assert c.post("/v1/records", late)[0] == 200
        assert c.evaluate() == 1
        after = {p["feature"]: p for p in c.get("/v1/models/credit/drift")[1] if p["metric"] == "psi"}
        assert after["income"]["n_current"] == 520 and after["income"]["status"] == "alert"
        assert after["income"]["window_start"] == before["income"]["window_start"]
        status, models = c.get("/v1/models")
        assert status == 200 and {m["name"]: m["records"] for m in models}["credit"] == 520
    finally:
        c.stop()
    assert KEY_WARNING not in preloaded.server_log()


def test_migration_10_rekeys_compressed_hypertables_and_compresses_them_again(preloaded: Cluster) -> None:
    """The per-window hypertables of a database before migration 10, with compressed chunks, are decompressed,
    given the window's length in their key, and compressed by it again: no row lost, no key warning."""
    url = preloaded.new_database()
    engine = db.make_engine(url)
    migrations.migrate(engine)
    as_before_migration_10(engine)
    assert timescale.setup_if_available(engine)  # the old-shaped tables as hypertables, compressed by the old key
    long_ago = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=60)
    rows = [old_points(1, long_ago + dt.timedelta(hours=h)) for h in range(0, 48, 2)]
    rows += [old_points(24, long_ago + dt.timedelta(hours=h + 1)) for h in range(0, 48, 2)]
    insert_old(engine, rows)
    assert _compress_everything(url).get("drift", 0) >= 1

    assert migrations.migrate(engine) == [10]
    with engine.connect() as conn:
        for entity in migrations.WINDOW_TABLES:
            table = db.table(entity)
            lengths = conn.execute(select(table.c.window_seconds, func.count()).group_by(table.c.window_seconds))
            assert dict(lengths.all()) == {3600: 24, 86400: 24}, table.name
        orderby = conn.scalar(
            text(
                "SELECT orderby FROM timescaledb_information.hypertable_compression_settings "
                "WHERE hypertable = 'drift'::regclass"
            )
        )
    assert orderby == "window_start DESC,version,feature,metric,window_seconds"
    assert _compress_everything(url).get("drift", 0) >= 1  # the policy is back and compresses by the new key
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM drift")) == 48
    assert KEY_WARNING not in preloaded.server_log()
    engine.dispose()
