"""Replay throughput: a generated Parquet prediction log into SQLite and into PostgreSQL, beside a raw
psycopg COPY of the same rows into the same table, all in one run.

Run by hand: `.venv/bin/python bench/bench_replay.py [--rows 1000000]`. PostgreSQL comes from
DRIFTLINE_TEST_DATABASE_URL (default postgres@127.0.0.1:5432/test); the bench works in scratch databases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector import db, migrations
from collector.dialects import postgres
from collector.encoding import sample_key
from driftline import replay as rp
from spec import load_spec
from tests.replay_data import prediction_log, write_parquet

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def raw_copy(url: str, path: Path) -> float:
    """Baseline: read the Parquet file with pyarrow and COPY its rows into `records` in 5000-row transactions,
    features as JSON: what a hand-written loader must do at the least (no validation, redaction, windows)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    cols = ", ".join(postgres.RECORD_COLUMNS)
    t0 = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(dsn) as conn:
        for b in pq.ParquetFile(path).iter_batches(batch_size=5000):
            d = b.to_pydict()
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(f"COPY records ({cols}) FROM STDIN") as cp,
            ):
                for i in range(b.num_rows):
                    feats = {k: d[k][i] for k in ("income", "age", "debt_ratio", "region", "email")}
                    cp.write_row(
                        (
                            "credit",
                            d["id"][i],
                            d["ts"][i],
                            "raw",
                            now,
                            db.encode_json(feats),
                            db.encode_json(d["prediction"][i]),
                            d["score"][i],
                            db.encode_json({"region": d["region"][i]}),
                            "raw",
                            None,  # attributions
                            sample_key(d["id"][i]),  # the reservoir key the collector stores with each record
                        )
                    )
    return time.perf_counter() - t0


def scratch_pg(admin_url: str) -> tuple[str, str]:
    name = f"driftline_bench_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_pg(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def timed_replay(url: str, path: Path) -> tuple[float, float, rp.ReplayResult]:
    """(seconds to ingest, seconds to evaluate every window, result)."""
    spec = load_spec(ROOT / "examples" / "credit.yaml")
    model = spec.model("credit")
    assert model is not None
    sink = rp.EmbeddedSink(url, spec)
    evaluate = sink.evaluate
    sink.evaluate = lambda: 0  # type: ignore[method-assign]  # time the ingest and the evaluation apart
    t0 = time.perf_counter()
    result = rp.replay(path, model, sink, columns=rp.Columns(label="label"), progress=False)
    ingest = time.perf_counter() - t0
    t1 = time.perf_counter()
    result.windows = evaluate()
    return ingest, time.perf_counter() - t1, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    admin_url = os.environ.get("DRIFTLINE_TEST_DATABASE_URL", DEFAULT_PG)
    hours = 100
    with tempfile.TemporaryDirectory() as tmp:
        path = write_parquet(
            prediction_log(args.rows // hours, hours, shift_from_hour=hours // 2), Path(tmp) / "log.parquet"
        )
        size = path.stat().st_size / 1e6
        results = {}
        name, url = scratch_pg(admin_url)
        try:
            migrations.migrate(db.make_engine(url))
            results["raw COPY into PostgreSQL (baseline)"] = (raw_copy(url, path), 0.0)
            with create_engine(url).begin() as conn:
                conn.execute(text("TRUNCATE records"))
            ingest, evaluate, _ = timed_replay(url, path)
            results["driftline replay into PostgreSQL"] = (ingest, evaluate)
        finally:
            drop_pg(admin_url, name)
        ingest, evaluate, _ = timed_replay(f"sqlite:///{Path(tmp) / 'replay.db'}", path)
        results["driftline replay into SQLite"] = (ingest, evaluate)

    base = results["raw COPY into PostgreSQL (baseline)"][0]
    print(f"\n{args.rows:,} rows ({size:.0f} MB Parquet, {hours} hourly windows, labels in a column)")
    print(f"{'path':<38}{'ingest s':>9}{'rows/s':>10}{'vs COPY':>9}{'evaluate s':>12}")
    for k, (ingest, evaluate) in results.items():
        ev = f"{evaluate:>12.1f}" if evaluate else f"{'-':>12}"
        print(f"{k:<38}{ingest:>9.1f}{args.rows / ingest:>10,.0f}{base / ingest:>8.0%}{ev}")


if __name__ == "__main__":
    main()
