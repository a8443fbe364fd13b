"""SDK overhead per call for each input library, beside the same loop without the SDK, in the same run.

Run by hand: ``.venv/bin/python bench/bench_sdk_inputs.py`` (``--sizes 1 64 1024 --rate 0.01``). For each
input type (lists, numpy, pandas, polars, pyarrow, torch CPU) and batch size, a loop of calls with
``Monitor.observe(ids=..., features=X)`` and ``obs.predictions(y)`` (16 features, ids given, a fresh
id list per call from a pool of 100, so ~1 - 0.99**n of the calls have a sampled row and pay for
selecting and queueing it) is timed against the same loop that only reads ``X`` and ``y``. Each figure
is the median over repeats of the two runs taken back to back; the overhead is expressed as a share of a
1 ms and of a 100 us predict. Shipping goes to a MockTransport that discards, so no I/O is measured.

Times are CPU times, not wall-clock, because the 2 shared cores these figures come from run other work:
``serving`` is the calling thread's CPU time (``time.thread_time``: what a call adds to its latency
while the GIL is free), ``+ shipping`` the whole process's (``time.process_time``: the shipping thread's
redaction, JSON and gzip of the sampled rows as well, which hold the GIL unless the model's predict
releases it, as numpy and torch kernels do). ``--cuda``: the same with torch CUDA tensors, on a GPU.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sdk import MockTransport, Monitor, Request, Response

FEATURES = 16
POOL = 100


def _discard(request: Request) -> Response:
    return Response(200, json={"accepted": 0})


def inputs(kind: str, n: int) -> tuple[Any, Any]:
    """Features (n x 16) and predictions (n) of one library."""
    import numpy as np

    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, FEATURES))
    y = rng.integers(0, 2, size=n)
    cols = {f"x{j}": x[:, j] for j in range(FEATURES)}
    if kind == "lists":
        return x.tolist(), y.tolist()
    if kind == "numpy":
        return x, y
    if kind == "pandas":
        import pandas as pd

        return pd.DataFrame(cols), pd.Series(y)
    if kind == "polars":
        import polars as pl

        return pl.DataFrame(cols), pl.Series(y)
    if kind == "pyarrow":
        import pyarrow as pa

        return pa.table(cols), pa.array(y)
    import torch

    device = "cuda" if kind == "torch CUDA" else "cpu"
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)


def timed(loop: Callable[[int], None], calls: int, wait: Callable[[], object]) -> tuple[float, float]:
    """µs of CPU per call of one run of ``loop(calls)``: the calling thread's, and the process's once
    ``wait`` (the monitor's flush) returned, so the shipping thread's work for these calls is in it."""
    gc.collect()
    wait()
    p0, t0 = time.process_time_ns(), time.thread_time_ns()
    loop(calls)
    t1 = time.thread_time_ns()
    wait()
    p1 = time.process_time_ns()
    return (t1 - t0) / calls / 1000, (p1 - p0) / calls / 1000


Figures = tuple[float, float, float, float, float]


def bench(kind: str, n: int, rate: float, calls: int, repeats: int) -> Figures:
    """µs per call (serving thread without the SDK, with it; process without, with) and the share of
    calls that had a sampled row."""
    x, y = inputs(kind, n)
    ids = [[f"b{b}-{i}" for i in range(n)] for b in range(POOL)]
    mon = Monitor(
        "bench",
        "v1",
        transport=MockTransport(_discard, record=False),
        sample_rate=rate,
        feature_names=[f"x{j}" for j in range(FEATURES)],
        flush_interval=0.2,
        max_queue=1_000_000,
    )
    observe = mon.observe
    sink: list[Any] = [None, None]
    sampled = [0]

    def bare(k: int) -> None:
        for i in range(k):
            sink[0] = ids[i % POOL]
            sink[0], sink[1] = x, y

    def watched(k: int) -> None:
        for i in range(k):
            with observe(ids=ids[i % POOL], features=x) as obs:
                obs.predictions(y)

    try:
        with observe(ids=ids[0], features=x) as obs:  # warm-up, and the sampled share over the pool
            obs.predictions(y)
        for b in range(POOL):
            with observe(ids=ids[b], features=x) as obs:
                sampled[0] += bool(obs.sampled_ids)
        bare(1000)
        watched(min(calls, 1000))
        runs: list[tuple[float, float, float, float]] = []
        for _ in range(repeats):
            a = timed(bare, calls, mon.flush)
            b = timed(watched, calls, mon.flush)
            runs.append((a[0], b[0], a[1], b[1]))
        med = [statistics.median(r[k] for r in runs) for k in range(4)]
        return med[0], med[1], med[2], med[3], sampled[0] / POOL
    finally:
        mon.close(5.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--rate", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--budget", type=int, default=100_000, help="rows per timed run (calls = budget / size)"
    )
    parser.add_argument(
        "--kinds", nargs="+", default=["lists", "numpy", "pandas", "polars", "pyarrow", "torch"]
    )
    parser.add_argument("--cuda", action="store_true", help="also torch CUDA tensors")
    args = parser.parse_args()
    kinds = [*args.kinds, *(["torch CUDA"] if args.cuda else [])]
    print(
        f"python {sys.version.split()[0]}, sample rate {args.rate}, {FEATURES} features, median of {args.repeats}"
    )
    print("CPU us per call added by the SDK (SDK loop - bare loop); as % of a 1 ms and a 100 us predict")
    head = (
        f"{'input':<11} {'rows':>5} {'sampled':>8} {'bare us':>8} {'serving':>8} {'% 1ms':>7} {'% 100us':>8}"
    )
    print(f"{head} {'+shipping':>10} {'% 1ms':>7} {'% 100us':>8}")
    for n in args.sizes:
        calls = max(200, args.budget // n)
        for kind in kinds:
            bare_t, sdk_t, bare_p, sdk_p, share = bench(kind, n, args.rate, calls, args.repeats)
            serving, total = sdk_t - bare_t, sdk_p - bare_p
            print(
                f"{kind:<11} {n:>5} {share:>8.0%} {bare_t:>8.3f} {serving:>8.2f} {serving / 10:>6.2f}% "
                f"{serving:>7.1f}% {total:>10.2f} {total / 10:>6.2f}% {total:>7.1f}%"
            )


if __name__ == "__main__":
    main()
