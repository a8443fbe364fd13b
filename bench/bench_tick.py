"""Cost of one evaluation tick through a real collector, by how many rows the window holds (issue 16's yardstick).

For each window size N: a collector (SQLite file; PostgreSQL is the next step) gets a reference and N
records in one complete 1-hour event-time window, is evaluated once, then
  - "one new record": one more record lands in that window, then `POST /v1/evaluate` is timed;
  - "nothing new": `POST /v1/evaluate` again at once (still within the 30 s commit grace).
The floor is PSI of the same features from 60 per-minute histograms in numpy (what a tick that reads
aggregates must at least do). Ratios are against the smallest N, measured in the same run.

Run by hand: `.venv/bin/python bench/bench_tick.py [--rows 10000 100000] [--features 5]`.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

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
        }
        for i in range(n)
    ]


def send(c: Collector, recs: list[dict[str, Any]], batch: int = 5000) -> None:
    for i in range(0, len(recs), batch):
        body = {
            "batch_id": secrets.token_hex(8),
            "model": "bench",
            "version": "v1",
            "records": recs[i : i + batch],
        }
        post(c, "/v1/records", body, c.ingest)


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


def one_size(n: int, features: int, database_url: str, workdir: Path) -> tuple[float, float]:
    c = start_collector(database_url, workdir, config=None)
    try:
        post(c, "/v1/models", {"name": "bench"}, c.admin)
        ref = np.random.default_rng(99).normal(size=(5000, features))
        post(
            c,
            "/v1/references",
            {"model": "bench", "columns": {f"f{j}": ref[:, j].tolist() for j in range(features)}},
            c.admin,
        )
        start = (time.time() // WINDOW - 3) * WINDOW  # a complete window, 2-3 hours ago
        send(c, records(n, features, start, seed=1))
        timed_evaluate(c)  # the first evaluation of the full window
        send(c, records(1, features, start + 10, seed=2))
        one_new = timed_evaluate(c)
        nothing_new = timed_evaluate(c)
        return one_new, nothing_new
    finally:
        c.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--features", type=int, default=5)
    args = ap.parse_args()
    results = []
    for n in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            results.append((n, *one_size(n, args.features, f"sqlite:///{tmp}/bench.db", Path(tmp))))
    floor = floor_psi(args.features)
    base_new, base_idle = results[0][1], results[0][2]
    print(
        f"{'window rows':>12} | {'tick, one new record':>22} | {'x smallest':>10} | {'tick, nothing new':>18} | "
        f"{'x floor (new)':>13}"
    )
    for n, new, idle in results:
        print(
            f"{n:>12,} | {new:>20.3f} s | {new / base_new:>10.1f} | {idle:>16.3f} s | {new / floor:>13,.0f}"
        )
    print(
        f"floor: PSI of {args.features} features from 60 per-minute histograms in numpy: {floor * 1e6:.0f} us "
        f"(nothing-new tick at the smallest size: {base_idle * 1e3:.0f} ms)"
    )


if __name__ == "__main__":
    main()
