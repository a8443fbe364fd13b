"""SDK overhead per call for each input library, beside the same loop without the SDK, in the same run.

Run by hand: ``.venv/bin/python bench/bench_sdk_inputs.py`` (``--sizes 1 64 1024 --rate 0.01``). For each
input type (lists, numpy, pandas, polars, pyarrow, torch CPU) and batch size, a loop of calls with
``Monitor.observe(ids=..., features=X)`` and ``obs.predictions(y)`` (16 features, ids given, a fresh
id list per call from a pool of 100 (10,000 single ids), so ~1 - 0.99**n of the calls have a sampled
row and pay for selecting and queueing it) is timed against the same loop that only reads ``X`` and
``y``. Each figure is the median over repeats of the runs taken back to back; the overhead is expressed as a share of a
1 ms and of a 100 us predict. Shipping goes to a MockTransport that discards, so no I/O is measured.

Times are CPU times, not wall-clock, because the 2 shared cores these figures come from run other work:
``serving`` is the calling thread's CPU time (``time.thread_time``: what a call adds to its latency
while the GIL is free), ``+ shipping`` the whole process's (``time.process_time``: the shipping thread's
redaction, JSON and gzip of the sampled rows as well, which hold the GIL unless the model's predict
releases it, as numpy and torch kernels do). ``--cuda``: the same with torch CUDA tensors, on a GPU.
``--before DIR``: an earlier copy of the sdk package timed beside this one, runs alternating, so
before/after figures share the machine's state.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sdk

FEATURES = 16
#: Id lists per size: 10,000 single ids, so ~1% of single-row calls are sampled as at rate 0.01 in a server
POOL = {1: 10_000}


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


def load_before(path: str) -> Any:
    """An earlier copy of the ``sdk`` package (``git archive <commit> sdk | tar -x -C DIR``; its imports are
    relative) loaded as ``sdk_before``, so both are timed in the same run, alternating."""
    root = Path(path) / "sdk" if (Path(path) / "sdk").is_dir() else Path(path)
    spec = importlib.util.spec_from_file_location(
        "sdk_before", root / "__init__.py", submodule_search_locations=[str(root)]
    )
    assert spec is not None and spec.loader is not None, f"no sdk package under {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules["sdk_before"] = module
    spec.loader.exec_module(module)
    return module


def _monitor(package: Any, rate: float) -> Any:
    return package.Monitor(
        "bench",
        "v1",
        transport=package.MockTransport(
            lambda request: package.Response(200, json={"accepted": 0}), record=False
        ),
        sample_rate=rate,
        feature_names=[f"x{j}" for j in range(FEATURES)],
        flush_interval=0.2,
        max_queue=1_000_000,
    )


def bench(
    kind: str, n: int, rate: float, calls: int, repeats: int, sdks: dict[str, Any]
) -> tuple[float, dict[str, tuple[float, float]]]:
    """The share of calls that had a sampled row, and per SDK the µs per call it adds (serving thread,
    whole process) to the bare loop, runs alternating in the same process."""
    x, y = inputs(kind, n)
    pool = POOL.get(n, 100)
    ids = [[f"b{b}-{i}" for i in range(n)] for b in range(pool)]
    mons = {label: _monitor(package, rate) for label, package in sdks.items()}
    sink: list[Any] = [None, None]

    def bare(k: int) -> None:
        for i in range(k):
            sink[0] = ids[i % pool]
            sink[0], sink[1] = x, y

    def watched(mon: Any) -> Callable[[int], None]:
        observe = mon.observe

        def loop(k: int) -> None:
            for i in range(k):
                with observe(ids=ids[i % pool], features=x) as obs:
                    obs.predictions(y)

        return loop

    def idle() -> None:
        for mon in mons.values():
            mon.flush(60.0)

    loops = {"bare": bare, **{label: watched(mon) for label, mon in mons.items()}}
    try:
        first = next(iter(mons.values()))
        sampled = 0
        for b in range(pool):  # warm-up, and the sampled share over the pool
            with first.observe(ids=ids[b], features=x) as obs:
                obs.predictions(y)
                sampled += bool(obs.sampled_ids)
        for loop in loops.values():
            loop(min(calls, 1000))
        runs: dict[str, list[tuple[float, float]]] = {label: [] for label in loops}
        for _ in range(repeats):
            for label, loop in loops.items():
                runs[label].append(timed(loop, calls, idle))
        med = {
            label: tuple(statistics.median(r[k] for r in rs) for k in (0, 1)) for label, rs in runs.items()
        }
        base = med["bare"]
        return sampled / pool, {label: (med[label][0] - base[0], med[label][1] - base[1]) for label in mons}
    finally:
        for mon in mons.values():
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
    parser.add_argument("--before", help="an earlier sdk package directory to time beside this one")
    args = parser.parse_args()
    kinds = [*args.kinds, *(["torch CUDA"] if args.cuda else [])]
    sdks: dict[str, Any] = {"SDK": sdk}
    if args.before:
        sdks["before"] = load_before(args.before)
    print(
        f"python {sys.version.split()[0]}, sample rate {args.rate}, {FEATURES} features, median of {args.repeats}"
    )
    print("CPU us per call added by the SDK (SDK loop - bare loop); as % of a 1 ms and a 100 us predict")
    print("sampled: share of calls with a sampled row; serving: calling thread; +shipping: whole process")
    head = f"{'input':<11} {'rows':>5} {'sampled':>8} {'sdk':>7} {'serving':>8} {'% 1ms':>7} {'% 100us':>8}"
    print(f"{head} {'+shipping':>10} {'% 1ms':>7} {'% 100us':>8}")
    for n in args.sizes:
        calls = max(200, args.budget // n)
        for kind in kinds:
            share, added = bench(kind, n, args.rate, calls, args.repeats, sdks)
            for label, (serving, total) in added.items():
                print(
                    f"{kind:<11} {n:>5} {share:>8.0%} {label:>7} {serving:>8.2f} {serving / 10:>6.2f}% "
                    f"{serving:>7.1f}% {total:>10.2f} {total / 10:>6.2f}% {total:>7.1f}%"
                )


if __name__ == "__main__":
    main()
