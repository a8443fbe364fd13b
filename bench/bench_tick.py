"""Cost of one evaluation tick through a real collector, by how many rows the window holds (issue 16's yardstick).

For each database (a SQLite file, a scratch PostgreSQL database) and window size N: a collector gets a
reference and N records in one complete 1-hour event-time window, is evaluated once, then
  - "one new record": one more record lands in that window, then `POST /v1/evaluate` is timed;
  - "nothing new": `POST /v1/evaluate` again at once (the best of five);
  - "one new label": every record of the window carries a label; one more label arrives, then a tick.
Then one tick for many models (100 x 25 features by default) after one new record in each.
The floor is PSI of the same features from 60 per-minute histograms in numpy (what a tick that reads
aggregates must at least do). Ratios are against the smallest N, measured in the same run.

Run by hand: `.venv/bin/python bench/bench_tick.py [--rows 10000 100000 1000000] [--databases sqlite postgresql]`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import Collector, http, start_collector

WINDOW = 3600


def post(c: Collector, path: str, body: Any, token: str) -> Any:
    status, answer = http("POST", c.url + path, body, token=token, timeout=600)
    if status != 200:
        raise RuntimeError(f"{path} answered {status}: {answer}")
    return answer


def records(n: int, features: int, start: float, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    return [
        {
            "id": f"s{seed}-{i}",
            "ts": start + (i * (WINDOW - 1)) / max(n, 1),
            "features": {f"f{j}": float(x[i, j]) for j in range(features)},
            "prediction": int(x[i, 0] > 0),
            "score": float(1 / (1 + np.exp(-x[i, 0]))),
        }
        for i in range(n)
    ]


def send(c: Collector, recs: list[dict[str, Any]], batch: int = 5000, model: str = "bench") -> None:
    for i in range(0, len(recs), batch):
        body = {
            "batch_id": secrets.token_hex(8),
            "model": model,
            "version": "v1",
            "records": recs[i : i + batch],
        }
        post(c, "/v1/records", body, c.ingest)


def label(c: Collector, ids: list[str], seed: int, batch: int = 20_000, model: str = "bench") -> None:
    rng = np.random.default_rng(seed)
    for i in range(0, len(ids), batch):
        part = ids[i : i + batch]
        values = rng.integers(0, 2, size=len(part)).tolist()
        body = {"batch_id": secrets.token_hex(8), "model": model,
                "labels": [{"id": r, "label": v} for r, v in zip(part, values, strict=True)]}
        post(c, "/v1/labels", body, c.ingest)


def timed_evaluate(c: Collector) -> float:
    t = time.perf_counter()
    post(c, "/v1/evaluate", None, c.admin)
    return time.perf_counter() - t


def floor_psi(features: int, bins: int = 10, repeat: int = 50) -> float:
    """PSI of `features` features from 60 per-minute histograms (sum, smooth, score): the least a tick does."""
    rng = np.random.default_rng(0)
    minutes = rng.integers(0, 100, size=(features, 60, bins)).astype(np.float64)
    ref = np.full(bins, 1 / bins)
    t = time.perf_counter()
    for _ in range(repeat):
        cur = minutes.sum(axis=1) + 0.5
        cur /= cur.sum(axis=1, keepdims=True)
        _ = ((cur - ref) * np.log(cur / ref)).sum(axis=1)
    return (time.perf_counter() - t) / repeat


def add_model(c: Collector, name: str, features: int) -> None:
    post(c, "/v1/models", {"name": name}, c.admin)
    ref = np.random.default_rng(99).normal(size=(5000, features))
    post(
        c,
        "/v1/references",
        {"model": name, "columns": {f"f{j}": ref[:, j].tolist() for j in range(features)}},
        c.admin,
    )


def one_size(n: int, features: int, database_url: str, workdir: Path) -> tuple[float, float, float]:
    """(tick after one new record, tick with nothing new, tick after one new label) for a window of `n`
    labelled rows of one model."""
    c = start_collector(database_url, workdir, config=None)
    try:
        add_model(c, "bench", features)
        start = (time.time() // WINDOW - 3) * WINDOW  # a complete window, 2-3 hours ago
        send(c, records(n, features, start, seed=1))
        label(c, [f"s1-{i}" for i in range(n)], seed=1)  # every record labelled: performance has work
        timed_evaluate(c)  # the first evaluation of the full window (builds the aggregates)
        send(c, records(1, features, start + 10, seed=2))
        timed_evaluate(c)  # the first tick after ingest binned a record (warms caches)
        send(c, records(1, features, start + 20, seed=3))
        one_new = timed_evaluate(c)
        nothing_new = min(timed_evaluate(c) for _ in range(5))
        label(c, ["s3-0"], seed=4)
        new_label = timed_evaluate(c)
        return one_new, nothing_new, new_label
    finally:
        c.stop()


def many_models(models: int, features: int, rows: int, database_url: str, workdir: Path) -> float:
    """A tick after one new record in each of `models` models of `features` features, `rows` rows each."""
    c = start_collector(database_url, workdir, config=None)
    try:
        start = (time.time() // WINDOW - 3) * WINDOW
        for m in range(models):
            add_model(c, f"bench{m}", features)
            send(c, records(rows, features, start, seed=m), model=f"bench{m}")
        timed_evaluate(c)
        for m in range(models):
            send(c, records(1, features, start + 10, seed=1000 + m), model=f"bench{m}")
        timed_evaluate(c)
        for m in range(models):
            send(c, records(1, features, start + 20, seed=2000 + m), model=f"bench{m}")
        return timed_evaluate(c)
    finally:
        c.stop()


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh database of `kind`: a SQLite file, or a scratch PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/bench.db"
        return
    admin_url = os.environ.get(
        "DRIFTLINE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"driftline_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--features", type=int, default=5)
    ap.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--models", type=int, default=100, help="models in the many-models tick (0: skip it)")
    ap.add_argument("--model-features", type=int, default=25)
    args = ap.parse_args()
    floor = floor_psi(args.features)
    print(
        f"{'database':>10} | {'window rows':>12} | {'tick, one new record':>22} | {'x smallest':>10} | "
        f"{'tick, nothing new':>18} | {'x floor (new)':>13} | {'tick, one new label':>20} | {'x smallest':>10}"
    )
    for kind in args.databases:
        results = []
        for n in args.rows:
            with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
                results.append((n, *one_size(n, args.features, url, Path(tmp))))
        base_new, base_label = results[0][1], results[0][3]
        for n, new, idle, lab in results:
            print(
                f"{kind:>10} | {n:>12,} | {new:>20.3f} s | {new / base_new:>10.1f} | {idle * 1e3:>15.1f} ms | "
                f"{new / floor:>13,.0f} | {lab:>18.3f} s | {lab / base_label:>10.1f}"
            )
    print(
        f"floor: PSI of {args.features} features from 60 per-minute histograms in numpy: {floor * 1e6:.0f} us"
    )
    if args.models:
        many_floor = floor_psi(args.models * args.model_features)
        print(
            f"\n{'database':>10} | {'models x features':>17} | {'tick, one new record each':>26} | {'x floor':>8}"
        )
        for kind in args.databases:
            with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
                t = many_models(args.models, args.model_features, 100, url, Path(tmp))
            label = f"{args.models} x {args.model_features}"
            print(f"{kind:>10} | {label:>17} | {t:>24.3f} s | {t / many_floor:>8,.0f}")
        print(
            f"floor: PSI of {args.models * args.model_features} features from 60 per-minute histograms: "
            f"{many_floor * 1e3:.2f} ms"
        )


if __name__ == "__main__":
    main()
