"""Read latency by history length: `GET /v1/models/{m}/drift` through a real collector over HTTP, with 10
and with 10,000 hourly windows stored (5 features x 3 statistics each), in one run.

Each size gets a fresh database filled through the repository (what evaluation would have stored), then a
collector process; the figure is the median of 30 reads of the newest point (`limit=1`), of the newest
100 points, and of one feature's newest 100. Flat means the 10,000-window read costs about what the
10-window one does.

Run by hand: `.venv/bin/python bench/bench_reads.py [--windows 10 10000] [--databases sqlite postgresql]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_tick import database

from collector import db, dialects, migrations, repository
from collector.api import paging
from tests.conftest import http, start_collector

FEATURES = [f"f{j}" for j in range(5)]
METRICS = ("psi", "kl", "js")
READS = {
    "newest point": "?limit=1",
    "newest 100": "?limit=100",
    "one feature, newest 100": "?feature=f3&metric=psi&limit=100",
}


def fill(url: str, windows: int) -> None:
    """`windows` hourly windows of drift points for model `bench`, newest ending an hour ago."""
    engine = db.make_engine(url)
    migrations.migrate(engine)
    sessions = sessionmaker(engine)
    newest = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=2)
    now = dt.datetime.now(dt.UTC)
    with sessions.begin() as s:
        repository.register_models(s, names=["bench"], source="api", project="default")
    rows = []
    for w in range(windows):
        start = newest - dt.timedelta(hours=w)
        for f in FEATURES:
            for m in METRICS:
                rows.append({"model": "bench", "version": "v1", "feature": f, "metric": m, "window_seconds": 3600,
                             "window_start": start, "window_end": start + dt.timedelta(hours=1), "value": 0.1,
                             "status": "ok", "n_reference": 1000, "n_current": 1000, "reference_id": 1,
                             "computed_at": now})  # fmt: skip
        if len(rows) >= 20_000:
            with sessions.begin() as s:
                repository.upsert_drift(s, rows=rows)
            rows = []
    with sessions.begin() as s:
        repository.upsert_drift(s, rows=rows)
        # as autovacuum would after a bulk load: the planner sees the table's size and uses the index
        dialects.of(s).refresh_statistics(s.connection(), ["drift"])
    engine.dispose()


def halfway(windows: int) -> str:
    """The cursor of the last point of the window halfway back through the history (as a Link header gives)."""
    newest = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=2)
    start = newest - dt.timedelta(hours=windows // 2)
    last = SimpleNamespace(window_start=start, window_seconds=3600, version="v1", feature=FEATURES[-1], metric="psi")
    return paging.encode("drift", last)


def timed(url: str, token: str, path: str, n: int = 30) -> float:
    """Median seconds of `n` reads of `path` (after one warm-up read)."""
    http("GET", url + path, token=token)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        status, _ = http("GET", url + path, token=token)
        times.append(time.perf_counter() - t)
        assert status == 200
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, nargs="+", default=[10, 10_000])
    ap.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    args = ap.parse_args()
    print(f"{'database':>10} | {'windows':>8} | {'read':>24} | {'median':>9} | {'x fewest':>8}")
    for kind in args.databases:
        base: dict[str, float] = {}
        for windows in args.windows:
            with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
                fill(url, windows)
                c = start_collector(url, Path(tmp), config=None)
                try:
                    reads = {**READS, "100 from a cursor halfway": f"?limit=100&cursor={halfway(windows)}"}
                    for name, query in reads.items():
                        t = timed(c.url, c.read, f"/v1/models/bench/drift{query}")
                        base.setdefault(name, t)
                        print(f"{kind:>10} | {windows:>8,} | {name:>24} | {t * 1e3:>6.2f} ms | {t / base[name]:>8.2f}")
                finally:
                    c.stop()


if __name__ == "__main__":
    main()
