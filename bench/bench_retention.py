"""Retention's batched deletes (`collector.retention`) beside one plain DELETE of the same rows, in the same
run, on a SQLite file and a scratch PostgreSQL database, in-process.

For each database: N raw records older than the spec's `retention.records` and N/10 young ones, stored twice
(one copy per way of deleting). Timed: one `DELETE FROM records WHERE ts < cutoff` in one transaction (the
baseline), and `Retention.run` with batches of 10,000 rows, each its own transaction. Beside the total time,
the longest transaction: how long ingest (which writes records too) may wait behind a deletion.

Run by hand: `.venv/bin/python bench/bench_retention.py [--rows 200000] [--databases sqlite postgresql]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector import db, migrate
from collector.metrics import MetricsState
from collector.retention import Retention
from spec import load_spec_text

ROOT = Path(__file__).resolve().parent.parent
SPEC = (ROOT / "examples" / "credit.yaml").read_text() + "retention: {records: 30d}\n"


def scratch_pg() -> tuple[str, Callable[[], None]]:
    admin_url = os.environ.get(
        "DRIFTLINE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"driftline_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def fill(engine: Engine, n: int, now: dt.datetime) -> None:
    """N records 40..70 days old and N/10 from the last day."""
    features = json.loads('{"income": 51000.5, "age": 41.0, "debt_ratio": 0.3, "region": "north"}')
    rows: list[dict[str, Any]] = []
    for i in range(n + n // 10):
        age = dt.timedelta(days=40 + 30 * i / n) if i < n else dt.timedelta(hours=(i - n) * 24 * 10 / n)
        rows.append({
            "model": "credit", "record_id": f"r{i}", "ts": now - age, "version": "v1", "received_at": now,
            "features": features, "prediction": 1, "score": 0.7, "slices": None, "batch_id": "b",
        })  # fmt: skip
    with engine.begin() as conn:
        for lo in range(0, len(rows), 20_000):
            conn.execute(insert(db.table(db.Record)), rows[lo : lo + 20_000])


def transactions(engine: Engine) -> list[float]:
    """Durations of the engine's transactions from now on (seconds), appended as each commits."""
    spans: list[float] = []
    started: dict[int, float] = {}
    event.listen(engine, "begin", lambda conn: started.__setitem__(id(conn), time.perf_counter()))
    event.listen(engine, "commit", lambda conn: spans.append(time.perf_counter() - started.pop(id(conn))))
    return spans


def measure(url: str, n: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    now = dt.datetime.now(dt.UTC)
    spec = load_spec_text(SPEC)
    for way in ("one DELETE (baseline)", "Retention.run, batches of 10,000"):
        engine = db.make_engine(url)
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM records"))
        fill(engine, n, now)
        spans = transactions(engine)
        t = time.perf_counter()
        if way.startswith("one"):
            with engine.begin() as conn:
                cutoff = now - dt.timedelta(days=30)
                stmt = db.table(db.Record).delete().where(db.table(db.Record).c.ts < cutoff)
                deleted = conn.execute(stmt).rowcount
        else:
            deleted = Retention(sessionmaker(engine), spec, MetricsState()).run(now)["records"]
        seconds = time.perf_counter() - t
        with engine.connect() as conn:
            left = conn.scalar(text("SELECT count(*) FROM records"))
        assert deleted == n and left == n // 10, (deleted, left)
        out[way] = {"seconds": seconds, "longest": max(spans), "transactions": len(spans)}
        engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(f"{args.rows:,} old records deleted, {args.rows // 10:,} young kept\n")
    print("| database | way | s | rows/s | x baseline time | longest transaction s | transactions |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for database in args.databases:
        with tempfile.TemporaryDirectory() as tmp:
            drop: Callable[[], None] = lambda: None  # noqa: E731
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            if database == "postgresql":
                url, drop = scratch_pg()
            try:
                results = measure(url, args.rows)
            finally:
                drop()
        base = results["one DELETE (baseline)"]["seconds"]
        for way, r in results.items():
            print(
                f"| {database} | {way} | {r['seconds']:.2f} | {args.rows / r['seconds']:,.0f} | "
                f"{r['seconds'] / base:.2f} | {r['longest']:.3f} | {r['transactions']:.0f} |"
            )


if __name__ == "__main__":
    main()
