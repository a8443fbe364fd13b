"""Soak: SDK processes at a fixed rate against several collectors sharing one PostgreSQL (issue 18).

Starts `--collectors` real collector processes on one scratch PostgreSQL database (leases on, so one
evaluates) and `--processes` SDK processes, each observing `--rate` single-row calls a second with unique ids
(sample rate 1, so every call is a record) against the collectors in turn, for `--minutes`. It prints:
  - records a second held, each process's sends and drops;
  - each collector's resident memory at start, at the end and its peak (sampled every 5 s);
  - p50/p99 of the SDK's POSTs (records and stats batches), timed around the transport;
  - records lost (sent but not stored) and duplicated (stored twice), from the database;
  - windows each collector evaluated (`driftline_windows_evaluated_total`) and which held the lease: only
    the holder evaluates, so the standby's count is 0 and their sum counts each changed window once.

Run by hand: `.venv/bin/python bench/bench_soak.py [--minutes 10] [--processes 4] [--collectors 2] [--rate 100]`.
Needs the PostgreSQL at DRIFTLINE_TEST_DATABASE_URL (default postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import Collector, create_tokens, start_collector

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "credit.yaml"


def value(metrics: str, name: str, labels: str) -> float:
    """One sample's value on /metrics, 0 where the series has none yet (a standby never evaluated)."""
    m = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", metrics, re.M)
    return float(m.group(1)) if m else 0.0


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sdk_process(idx: int, url: str, token: str, rate: float, seconds: float, out: Any) -> None:
    """One serving process: `rate` calls a second for `seconds`, every call a record; reports to `out`."""
    import numpy as np

    from sdk import Monitor
    from sdk.transport import HTTPTransport, Request, Response

    latencies: list[float] = []

    class Timed(HTTPTransport):
        def send(self, request: Request) -> Response:
            t = time.perf_counter()
            try:
                return super().send(request)
            finally:
                latencies.append(time.perf_counter() - t)

    rng = np.random.default_rng(idx)
    mon = Monitor("credit", "v1", transport=Timed(url, token, 30.0), sample_rate=1.0, max_queue=200_000,
                  batch_size=500, flush_interval=0.5)  # fmt: skip
    start, sent = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate) + 1
        for _ in range(due - sent):
            with mon.observe(
                ids=[f"p{idx}-{sent}"],
                features={"income": float(rng.normal(50, 10)), "age": float(rng.normal(40, 8)),
                          "debt_ratio": float(rng.beta(2, 5)), "region": "EU"},
            ) as obs:  # fmt: skip
                obs.predictions([sent % 2])
            sent += 1
        time.sleep(0.005)
    loop = time.perf_counter() - start
    mon.flush(timeout=120)
    mon.close(timeout=10)
    out.put((idx, sent, mon.dropped_total, latencies, loop))


def watch_memory(collectors: list[Collector], stop: threading.Event, peaks: list[float]) -> None:
    """Track each collector's peak resident memory until `stop`."""
    while not stop.wait(5):
        for i, c in enumerate(collectors):
            peaks[i] = max(peaks[i], rss_mb(c.proc.pid))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--collectors", type=int, default=2)
    ap.add_argument("--rate", type=float, default=100, help="calls a second per SDK process")
    args = ap.parse_args()
    admin_url = os.environ.get("DRIFTLINE_TEST_DATABASE_URL", DEFAULT_PG)
    name = f"driftline_soak_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / name
    workdir.mkdir(exist_ok=True)
    collectors: list[Collector] = []
    try:
        tokens = create_tokens(url)
        extra = ("--evaluation-interval", "15")
        collectors = [
            start_collector(url, workdir, config=EXAMPLE, tokens=tokens, extra=extra) for _ in range(args.collectors)
        ]
        time.sleep(3)  # the first sample after start-up, imports done
        rss_start = [rss_mb(c.proc.pid) for c in collectors]
        peaks = list(rss_start)
        stop = threading.Event()
        watcher = threading.Thread(target=watch_memory, args=(collectors, stop, peaks), daemon=True)
        watcher.start()
        out: Any = mp.get_context("spawn").Queue()
        seconds = args.minutes * 60
        procs = [
            mp.get_context("spawn").Process(
                target=sdk_process,
                args=(i, collectors[i % len(collectors)].url, tokens[1], args.rate, seconds, out),
            )
            for i in range(args.processes)
        ]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        results = [out.get(timeout=seconds + 600) for _ in procs]
        took = time.perf_counter() - t0
        for p in procs:
            p.join(30)
        for c in collectors:
            c.evaluate()  # the last windows, by whichever holds the lease
        stop.set()
        rss_end = [rss_mb(c.proc.pid) for c in collectors]
        report(args, url, collectors, results, took, rss_start, rss_end, peaks)
    finally:
        for c in collectors:
            c.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def report(
    args: argparse.Namespace, url: str, collectors: list[Collector], results: list[Any], took: float,
    rss_start: list[float], rss_end: list[float], peaks: list[float],
) -> None:  # fmt: skip
    """Print the soak's table."""
    sent = sum(r[1] for r in results)
    dropped = sum(r[2] for r in results)
    lat = sorted(x for r in results for x in r[3])
    engine = create_engine(url)
    with engine.connect() as conn:
        stored, distinct = conn.execute(text("SELECT count(*), count(DISTINCT record_id) FROM records")).one()
    engine.dispose()
    print(f"\n{args.processes} SDK processes x {args.rate:g} calls/s, {args.collectors} collectors, one PostgreSQL, "
          f"{args.minutes:g} min")  # fmt: skip
    held = sum(r[1] / r[4] for r in results)
    print(f"records sent {sent:,}: {held:,.0f}/s held while serving (asked {args.processes * args.rate:g}/s); "
          f"{took:.0f} s with start-up and the last flush")  # fmt: skip
    print(f"stored {stored:,}; lost {sent - dropped - distinct:,}; duplicated {stored - distinct:,}; "
          f"dropped by the SDK {dropped:,}")  # fmt: skip
    if lat:
        print(f"SDK POSTs: {len(lat):,}, p50 {lat[len(lat) // 2] * 1e3:.1f} ms, "
              f"p99 {lat[int(len(lat) * 0.99)] * 1e3:.1f} ms, max {lat[-1] * 1e3:.1f} ms")  # fmt: skip
    print(f"\n{'collector':>9} | {'RSS start MB':>12} | {'RSS end MB':>10} | {'end/start':>9} | {'peak MB':>7} | "
          f"{'lease':>5} | {'windows evaluated':>17}")  # fmt: skip
    total = 0.0
    for i, c in enumerate(collectors):
        text_ = c.metrics()
        held = value(text_, "driftline_lease_held", 'lease="evaluation"')
        evaluated = value(text_, "driftline_windows_evaluated_total", 'model="credit"')
        total += evaluated
        print(f"{i:>9} | {rss_start[i]:>12.0f} | {rss_end[i]:>10.0f} | {rss_end[i] / rss_start[i]:>9.2f} | "
              f"{peaks[i]:>7.0f} | {held:>5.0f} | {evaluated:>17.0f}")  # fmt: skip
    print(f"windows evaluated, both collectors: {total:.0f}")


if __name__ == "__main__":
    main()
