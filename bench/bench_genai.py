"""Cost of recording one LLM call with the SDK (`sdk.llm_call`), beside a bare call in the same run.

Run by hand: ``.venv/bin/python bench/bench_genai.py``. Cases alternate within each repeat (same process, same
load); each figure is the median over repeats of (perf_counter_ns for a loop of calls) / calls. The "model"
is a stub returning a fixed answer, so only the SDK's work on the serving thread is measured; shipping goes to
a MockTransport that discards (its thread's work is not on the serving thread).
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

from sdk import MockTransport, Monitor, Request, Response, llm_call

PROMPT = "How can I change the shipping address of my order? I moved last week and the parcel is not sent yet."
ANSWER = "Open Orders, pick the order and choose Edit address; it can change until the parcel ships."


def _discard(request: Request) -> Response:
    return Response(200, json={"accepted": 0})


def _monitor(rate: float) -> Monitor:
    return Monitor(
        "bench", "v1", transport=MockTransport(_discard, record=False), sample_rate=rate,
        flush_interval=0.2, max_queue=1_000_000,
    )


def _model(prompt: str) -> tuple[str, int, int]:
    """The stub LLM: a fixed answer with its token counts."""
    return ANSWER, 24, 19


def cases() -> tuple[list[tuple[str, Callable[[int], None]]], list[Monitor]]:
    """(name, loop) per case; the monitors to close."""
    off, rare, every = _monitor(0.0), _monitor(0.01), _monitor(1.0)
    ids = [f"req-{i}" for i in range(1000)]

    def bare(k: int) -> None:
        for _ in range(k):
            _model(PROMPT)

    def observed(k: int) -> None:
        observe = off.observe
        for i in range(k):
            with observe(ids=[ids[i % 1000]]) as obs:
                _, tin, tout = _model(PROMPT)
                obs.predictions(["stop"])
                obs.usage(input_tokens=tin, output_tokens=tout)

    def recorded(mon: Monitor) -> Callable[[int], None]:
        def loop(k: int) -> None:
            for i in range(k):
                with llm_call(mon, request_model="gpt-4o", prompt=PROMPT, id=ids[i % 1000]) as call:
                    call.first_token()
                    text, tin, tout = _model(PROMPT)
                    call.response(text, input_tokens=tin, output_tokens=tout, finish_reason="stop",
                                  response_model="gpt-4o-2024-08-06")

        return loop

    return [
        ("bare call (no SDK)", bare),
        ("Monitor.observe + obs.usage (unsampled)", observed),
        ("llm_call, unsampled (sample_rate=0)", recorded(off)),
        ("llm_call, sample_rate=0.01", recorded(rare)),
        ("llm_call, every call a record (sample_rate=1)", recorded(every)),
    ], [off, rare, every]


def run(calls: int, repeats: int) -> list[tuple[str, float]]:
    """Median µs per call of each case, alternating cases within each repeat."""
    loops, monitors = cases()
    times: list[list[float]] = [[] for _ in loops]
    try:
        for _, loop in loops:
            loop(1000)
        for _ in range(repeats):
            for i, (_, loop) in enumerate(loops):
                gc.collect()
                t0 = time.perf_counter_ns()
                loop(calls)
                times[i].append((time.perf_counter_ns() - t0) / calls / 1000)
    finally:
        for mon in monitors:
            mon.close(1.0)
    return [(name, statistics.median(t)) for (name, _), t in zip(loops, times, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rows: list[Any] = run(args.calls, args.repeats)
    observe = rows[1][1]
    print(f"{'case':<48} {'us/call':>9} {'x observe':>10} {'+us vs bare':>12}")
    for name, us in rows:
        print(f"{name:<48} {us:>9.3f} {us / observe:>10.2f} {us - rows[0][1]:>12.3f}")


if __name__ == "__main__":
    main()
