"""Cost of a privacy deletion (`collector.privacy.delete_subject`) beside rebuilding the version's aggregates
from every stored record (what a deletion would cost if it did not recount only the touched minutes), in the
same run, on a SQLite file and a scratch PostgreSQL database, in-process.

For each N: N records of the credit model over 12 hours (1,000 e-mail subjects), a reference, one evaluation
tick; then timed: the deletion of one subject by subject key (reads the model's records once), of another by
record ids (an indexed lookup), the next tick (re-evaluates only the touched windows), and, as the baseline,
`Aggregator.rebuild` of the version.

Run by hand: `.venv/bin/python bench/bench_delete.py [--rows 10000 50000] [--databases sqlite postgresql]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector import privacy
from collector.app import build_context
from collector.schemas import RecordBatch, ReferenceIn
from collector.service import store_records, store_reference
from collector.settings import Settings
from spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
REGIONS = ["north", "south", "east", "west"]


def timed(run: Callable[[], Any]) -> float:
    t = time.perf_counter()
    run()
    return time.perf_counter() - t


def measure(url: str, n: int) -> dict[str, float]:
    ctx = build_context(Settings(database_url=url), load_spec(ROOT / "examples" / "credit.yaml"))
    rng = np.random.default_rng(7)
    store_reference(ctx, ReferenceIn(model="credit", columns={
        "income": list(rng.normal(50_000, 12_000, 2000)), "age": list(rng.normal(40, 9, 2000)),
        "debt_ratio": list(rng.uniform(0, 1, 2000)), "region": [REGIONS[i % 4] for i in range(2000)],
    }))  # fmt: skip
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=13)
    income, age, debt = rng.normal(52_000, 12_000, n), rng.normal(41, 9, n), rng.uniform(0, 1, n)
    for lo in range(0, n, 2000):
        records = [
            {"id": f"r{i}", "ts": start + dt.timedelta(seconds=i * 12 * 3600 / n),
             "features": {"income": float(income[i]), "age": float(age[i]), "debt_ratio": float(debt[i]),
                          "region": REGIONS[i % 4], "email": f"user{i % 1000}@example.com"},
             "prediction": int(i % 3 == 0), "score": float(debt[i])}
            for i in range(lo, min(n, lo + 2000))
        ]  # fmt: skip
        store_records(ctx, RecordBatch.model_validate(
            {"batch_id": f"b{lo}", "model": "credit", "version": "v1", "records": records}))  # fmt: skip
    ctx.evaluator.tick()
    ids = [f"r{i}" for i in range(8, n, 1000)]
    out = {
        "delete by subject key": timed(
            lambda: privacy.delete_subject(ctx, model="credit", subject_key="user7@example.com")
        ),
        "delete by record ids": timed(lambda: privacy.delete_subject(ctx, model="credit", ids=ids)),
        "next tick (touched windows)": timed(ctx.evaluator.tick),
    }  # fmt: skip

    def rebuild() -> None:
        with ctx.sessions.begin() as s:
            ctx.evaluator.aggregator.rebuild(s, "credit", "v1")

    out["baseline: rebuild the version"] = timed(rebuild)
    ctx.engine.dispose()
    return out


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    print("| database | rows | step | seconds | x rebuild |")
    print("| --- | ---: | --- | ---: | ---: |")
    for database in args.databases:
        for n in args.rows:
            with tempfile.TemporaryDirectory() as tmp:
                if database == "sqlite":
                    url, drop = f"sqlite:///{tmp}/bench.db", (lambda: None)
                else:
                    url, drop = scratch_pg()
                try:
                    got = measure(url, n)
                finally:
                    drop()
            base = got["baseline: rebuild the version"]
            for step, seconds in got.items():
                print(f"| {database} | {n:,} | {step} | {seconds:.3f} | {seconds / base:.2f} |")


if __name__ == "__main__":
    main()
