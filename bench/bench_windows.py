"""Cost of evaluating longer windows from the same minutes: a tick after one new record, by `drift.window`.

For each database and each `drift.window` setting (by default `1h`, then `[1h, 1d]`, then `[1h, 1d, 7d]`):
a collector with that spec gets a reference and N records spread over the last 7 days (so every minute of
a week holds data, the worst case for summing minutes), is evaluated once, then one more record lands in
the newest hour and `POST /v1/evaluate` is timed (best of three such ticks). The baseline is the `1h`
setting in the same run: the ratio is what the longer windows add, since a 7d window sums 10,080 minutes.

Run by hand: `.venv/bin/python bench/bench_windows.py [--rows 50000] [--databases sqlite postgresql]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_tick import database, records, send, timed_evaluate

from tests.conftest import start_collector

WEEK = 7 * 86400
SPEC = """\
version: 1
models:
  - name: bench
    features: [{features}]
    prediction: {{type: binary, positive_class: 1}}
    drift: {{window: {window}, metrics: [psi, js], min_count: 5}}
"""


def one_setting(window: str, n: int, features: int, database_url: str, workdir: Path) -> float:
    """The best of three ticks, each after one new record, with records over every minute of a week."""
    spec = workdir / "bench.yaml"
    names = ", ".join(f"{{name: f{j}, type: numeric}}" for j in range(features))
    spec.write_text(SPEC.format(features=names, window=window))
    c = start_collector(database_url, workdir, config=spec)
    try:
        ref = np.random.default_rng(99).normal(size=(5000, features))
        answer = c.post("/v1/references", {"model": "bench", "columns": {f"f{j}": ref[:, j].tolist()
                                                                         for j in range(features)}})
        assert answer[0] == 200, answer
        now = time.time()
        recs = records(n, features, 0.0, seed=1)
        for i, r in enumerate(recs):  # spread evenly over the last week, oldest first
            r["ts"] = now - WEEK + 60 + i * (WEEK - 120) / n
        send(c, recs)
        timed_evaluate(c)  # the first evaluation builds the aggregates and evaluates every window
        ticks = []
        for k in range(4):
            late = records(1, features, now - 120, seed=10 + k)
            send(c, late)
            ticks.append(timed_evaluate(c))
        return min(ticks[1:])  # the first tick after ingest warms caches
    finally:
        c.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--features", type=int, default=5)
    ap.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--windows", nargs="+", default=["1h", "[1h, 1d]", "[1h, 1d, 7d]"])
    args = ap.parse_args()
    print(f"{args.rows} records over 7 days, {args.features} features; tick after one new record (best of 3)")
    print(f"{'database':>10} | {'drift.window':>14} | {'tick':>9} | {'x 1h':>6}")
    for kind in args.databases:
        base = None
        for window in args.windows:
            with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
                t = one_setting(window, args.rows, args.features, url, Path(tmp))
            base = base or t
            print(f"{kind:>10} | {window:>14} | {t:>7.3f} s | {t / base:>6.1f}", flush=True)


if __name__ == "__main__":
    main()
