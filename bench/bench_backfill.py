"""Backfill on Dask: `driftline replay --dask` of a generated, partitioned Parquet data set with 1 and 2 worker
processes (a dask.distributed LocalCluster), beside the single-process replay of the same data set, in one run.

Run by hand: `.venv/bin/python bench/bench_backfill.py [--rows 1000000,10000000] [--workers 1,2]
[--database sqlite|postgresql]`. Every replay fits the reference on the first 10 of 100 hours (drift binning
and CBPE's estimate then run for every row: what the workers take over) and carries labels in a column.
PostgreSQL comes from DRIFTLINE_TEST_DATABASE_URL; the bench works in scratch databases.
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

import numpy as np
from distributed import Client, LocalCluster
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from driftline import replay as rp
from driftline.replay.cluster import replay_dask
from spec import load_spec
from tests.replay_data import START, prediction_log, write_parquet

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HOURS = 100
PART_ROWS = 100_000


def data_set(root: Path, rows: int) -> Path:
    """`rows` rows in parts of 100,000, each spread over the same 100 hours (so parts share minutes, as a
    data set partitioned by anything but time does); unique ids and subjects per part."""
    out = root / f"log-{rows}"
    for k in range(max(1, rows // PART_ROWS)):
        n = min(PART_ROWS, rows)
        cols = prediction_log(n // HOURS, HOURS, shift_from_hour=HOURS // 2, seed=k)
        cols["id"] = np.array([f"k{k}-{i}" for i in range(len(cols["id"]))])
        cols["email"] = np.array([f"user{k}-{i % 5000}@example.com" for i in range(len(cols["id"]))])
        folder = out / f"part={k:04d}"
        folder.mkdir(parents=True)
        write_parquet(cols, folder / "data.parquet")
    return out


def database(kind: str, tmp: Path, label: str) -> tuple[str, Callable[[], None]]:
    """A scratch database URL and how to drop it."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / (label + '.db')}", lambda: None
    admin_url = os.environ.get("DRIFTLINE_TEST_DATABASE_URL", DEFAULT_PG)
    name = f"driftline_bench_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def timed(url: str, path: Path, client: Client | None) -> tuple[float, float, float, rp.ReplayResult]:
    """(seconds to store, seconds to evaluate every window, CPU seconds this process spent storing, result) of
    one replay into `url`. This process is the collector's side: with workers elsewhere, a Dask backfill's
    store phase takes at least its CPU time, whatever the number of workers."""
    spec = load_spec(ROOT / "examples" / "credit.yaml")
    model = spec.model("credit")
    assert model is not None
    sink = rp.EmbeddedSink(url, spec)
    evaluate = sink.evaluate
    sink.evaluate = lambda: 0  # type: ignore[method-assign]  # time storing and evaluating apart
    options = {
        "columns": rp.Columns(label="label"),
        "reference_until": START + dt.timedelta(hours=10),
        "progress": False,
    }
    t0, c0 = time.perf_counter(), time.process_time()
    if client is None:
        result = rp.replay(path, model, sink, **options)  # type: ignore[arg-type]
    else:
        result = replay_dask(path, model, sink, client, **options)  # type: ignore[arg-type]
    store, cpu = time.perf_counter() - t0, time.process_time() - c0
    t1 = time.perf_counter()
    result.windows = evaluate()
    return store, time.perf_counter() - t1, cpu, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="1000000,10000000", help="comma-separated row counts")
    ap.add_argument("--workers", default="1,2", help="comma-separated Dask worker counts")
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = ap.parse_args()
    table: list[tuple[str, float, float, float, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for rows in (int(r) for r in args.rows.split(",")):
            t0 = time.perf_counter()
            path = data_set(tmp, rows)
            print(f"{rows:,} rows generated in {time.perf_counter() - t0:.0f} s", flush=True)
            url, drop = database(args.database, tmp, f"single-{rows}")
            try:
                store, evaluate, cpu, single = timed(url, path, None)
            finally:
                drop()
            table.append((f"{rows:,} rows, single-process replay", store, cpu, evaluate, store + evaluate, rows))
            print(table[-1], flush=True)
            for n in (int(w) for w in args.workers.split(",")):
                t0 = time.perf_counter()
                with (
                    LocalCluster(n_workers=n, threads_per_worker=1, dashboard_address=":0") as cluster,
                    Client(cluster) as client,
                ):
                    started = time.perf_counter() - t0
                    url, drop = database(args.database, tmp, f"dask{n}-{rows}")
                    try:
                        store, evaluate, cpu, result = timed(url, path, client)
                    finally:
                        drop()
                assert result == single, "the Dask replay's result differs from the single-process one"
                label = f"{rows:,} rows, --dask local:{n} (cluster start {started:.1f} s)"
                table.append((label, store, cpu, evaluate, store + evaluate, rows))
                print(table[-1], flush=True)
    print(f"\nbackfill into {args.database}, {HOURS} hourly windows, reference = first 10 hours, labels in a column")
    head = f"{'path':<52}{'store s':>9}{'driver CPU s':>14}{'evaluate s':>12}{'total s':>9}{'rows/s':>9}"
    print(head + f"{'vs single':>11}")
    base = 0.0
    for label, store, cpu, evaluate, total, rows in table:
        if "single" in label:
            base = total
        print(
            f"{label:<52}{store:>9.1f}{cpu:>14.1f}{evaluate:>12.1f}{total:>9.1f}{rows / total:>9,.0f}"
            f"{base / total:>10.2f}x"
        )


if __name__ == "__main__":
    main()
