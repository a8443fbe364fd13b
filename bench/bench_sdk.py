"""Cost of the SDK on the serving thread, against prometheus_client's ``Histogram.observe``.

Run by hand: ``.venv/bin/python bench/bench_sdk.py``. Each figure is the median over repeats of
(time.perf_counter_ns for a loop of many calls) / calls; shipping goes to a MockTransport that
discards, so no I/O is measured.
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


def _discard(request: Request) -> Response:
    return Response(200, json={"accepted": 0})


def _monitor(rate: float, **kw: Any) -> Monitor:
    opts: dict[str, Any] = {"flush_interval": 0.2, "max_queue": 1_000_000, **kw}
    return Monitor("bench", "v1", transport=MockTransport(_discard, record=False), sample_rate=rate, **opts)


def per_call_us(loop: Callable[[int], None], calls: int, repeats: int) -> float:
    """Median µs per call over ``repeats`` runs of ``loop(calls)``."""
    loop(min(calls, 1000))
    runs = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter_ns()
        loop(calls)
        runs.append((time.perf_counter_ns() - t0) / calls / 1000)
    return statistics.median(runs)


def bench_histogram(calls: int, repeats: int) -> float:
    from prometheus_client import CollectorRegistry, Histogram

    hist = Histogram("bench_seconds", "bench", registry=CollectorRegistry())
    observe = hist.observe

    def loop(k: int) -> None:
        for _ in range(k):
            observe(0.01)

    return per_call_us(loop, calls, repeats)


def bench_unsampled(calls: int, repeats: int) -> float:
    mon = _monitor(0.0)
    features = {"income": 52000.0, "region": "EU"}
    ids = [[f"req-{i}"] for i in range(1000)]
    observe = mon.observe
    pred = [1]

    def loop(k: int) -> None:
        for i in range(k):
            with observe(ids=ids[i % 1000], features=features) as obs:
                obs.predictions(pred)

    try:
        return per_call_us(loop, calls, repeats)
    finally:
        mon.close(1.0)


def bench_sampled_redacted(calls: int, repeats: int, shipping: bool = True) -> float:
    """``shipping=False``: the shipper never runs, as while the collector is down; the default-size
    queue fills up and every call then drops the oldest sample."""
    extra = {} if shipping else {"flush_interval": 3600.0, "batch_size": 5000, "max_queue": 10_000}
    mon = _monitor(1.0, redact=["ssn"], **extra)
    features = {"income": 52000.0, "note": "mail jane.doe@example.com", "ssn": "078-05-1120"}
    observe = mon.observe
    pred = [1]

    def loop(k: int) -> None:
        for i in range(k):
            with observe(ids=[f"req-{i}"], features=features, slices={"region": "EU"}) as obs:
                obs.predictions(pred)

    try:
        return per_call_us(loop, calls, repeats)
    finally:
        mon.close(5.0)


def bench_numpy_batch(calls: int, repeats: int) -> float:
    import numpy as np

    rng = np.random.default_rng(0)
    mon = _monitor(0.01, feature_names=[f"x{j}" for j in range(16)])
    x = rng.normal(size=(256, 16))
    y = rng.integers(0, 2, size=256)
    batches = [[f"b{b}-{i}" for i in range(256)] for b in range(100)]
    observe = mon.observe

    def loop(k: int) -> None:
        for i in range(k):
            with observe(ids=batches[i % 100], features=x) as obs:
                obs.predictions(y)

    try:
        return per_call_us(loop, calls, repeats)
    finally:
        mon.close(5.0)


def bench_middleware(calls: int, repeats: int) -> tuple[float, float]:
    """µs per request of a Starlette app called in-process (no sockets), without and with
    `DriftlineMiddleware`, alternating runs in the same process so both see the same machine."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from sdk.asgi import DriftlineMiddleware

    async def predict(request: Any) -> JSONResponse:
        return JSONResponse({"prediction": 1})

    plain = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
    watched = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
    mon = _monitor(0.01)
    watched.add_middleware(DriftlineMiddleware, monitor=mon)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/predict", "raw_path": b"/predict", "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"bench-1")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def run(app: Any, k: int) -> None:
        for _ in range(k):
            await app(dict(scope), receive, send)

    loop = asyncio.new_event_loop()
    try:
        times: dict[int, list[float]] = {0: [], 1: []}
        for app in (plain, watched):
            loop.run_until_complete(run(app, 1000))  # warm-up
        for _ in range(repeats):
            for i, app in enumerate((plain, watched)):
                gc.collect()
                t0 = time.perf_counter_ns()
                loop.run_until_complete(run(app, calls))
                times[i].append((time.perf_counter_ns() - t0) / calls / 1000)
        return statistics.median(times[0]), statistics.median(times[1])
    finally:
        loop.close()
        mon.close(5.0)


def bench_usage(calls: int, repeats: int) -> tuple[float, float, float]:
    """µs per unsampled single-row call: bare, with ``obs.usage(gpu_seconds, input_tokens, output_tokens)``
    (cost counters), and bare on a ``compute="wall"`` monitor; alternating runs in the same process."""
    plain, wall = _monitor(0.0), _monitor(0.0, compute="wall")
    ids = [[f"req-{i}"] for i in range(1000)]
    pred = [1]

    def bare(mon: Monitor) -> Callable[[int], None]:
        observe = mon.observe

        def loop(k: int) -> None:
            for i in range(k):
                with observe(ids=ids[i % 1000]) as obs:
                    obs.predictions(pred)

        return loop

    def counted(k: int) -> None:
        observe = plain.observe
        for i in range(k):
            with observe(ids=ids[i % 1000]) as obs:
                obs.predictions(pred)
                obs.usage(gpu_seconds=0.02, input_tokens=812, output_tokens=96)

    loops = (bare(plain), counted, bare(wall))
    times: list[list[float]] = [[], [], []]
    try:
        for loop in loops:
            loop(1000)  # warm-up
        for _ in range(repeats):
            for i, loop in enumerate(loops):
                gc.collect()
                t0 = time.perf_counter_ns()
                loop(calls)
                times[i].append((time.perf_counter_ns() - t0) / calls / 1000)
        a, b, c = (statistics.median(t) for t in times)
        return a, b, c
    finally:
        plain.close(1.0)
        wall.close(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", choices=["usage"], help="run one table only")
    args = parser.parse_args()
    c, r = args.calls, args.repeats
    if args.only != "usage":
        _main_tables(c, r)
    bare, counted, wall = bench_usage(c, r)
    print(f"\n{'cost counters, unsampled single-row call':<50} {'us/call':>10} {'x bare':>11}")
    print(f"{'  bare Monitor.observe call':<50} {bare:>10.3f} {1.0:>11.2f}")
    print(f"{'  + obs.usage(gpu_seconds, input/output tokens)':<50} {counted:>10.3f} {counted / bare:>11.2f}")
    print(f"{'  Monitor(compute=wall), bare call':<50} {wall:>10.3f} {wall / bare:>11.2f}")


def _main_tables(c: int, r: int) -> None:
    base = bench_histogram(c, r)
    rows = [
        ("prometheus_client Histogram.observe (baseline)", base),
        ("Monitor, unsampled single-row call", bench_unsampled(c, r)),
        ("Monitor, sampled + redacted single-row call", bench_sampled_redacted(max(c // 10, 1000), r)),
        (
            "  same, collector down (queue full, drops oldest)",
            bench_sampled_redacted(max(c // 10, 1000), r, False),
        ),
        ("Monitor, 256-row numpy batch at rate 0.01", bench_numpy_batch(max(c // 100, 200), r)),
    ]
    print(f"python {sys.version.split()[0]}, {c} calls x {r} repeats (median)")
    print(f"{'case':<50} {'us/call':>10} {'x baseline':>11}")
    for name, us in rows:
        print(f"{name:<50} {us:>10.3f} {us / base:>11.2f}")
    without, with_mw = bench_middleware(max(c // 20, 1000), r)
    print(f"\n{'ASGI request, Starlette app in-process':<50} {'us/request':>10} {'overhead':>11}")
    print(f"{'  without DriftlineMiddleware':<50} {without:>10.2f}")
    print(f"{'  with DriftlineMiddleware (rate 0.01)':<50} {with_mw:>10.2f} {with_mw - without:>+9.2f}us")


if __name__ == "__main__":
    main()
