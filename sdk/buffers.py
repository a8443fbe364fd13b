"""The state shared by serving threads and the shipper: exact counters and the bounded queues.

Serving threads hold `lock` only to add to counters and append to a queue; the shipper holds it only
to swap the counters out and to pop a batch. Nothing under the lock does I/O or waits.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from typing import Any

#: The stats batch's usage fields (sdk/wire.py), in the order `Buffers` keeps them.
USAGE = ("compute_seconds", "input_tokens", "output_tokens")


class Buffers:
    """Counters since the last stats snapshot, lifetime totals, and the record and label queues."""

    __slots__ = (
        "acquire",
        "bounds",
        "compute_seconds",
        "counts",
        "dropped",
        "dropped_total",
        "error",
        "feature_ages",
        "genai",
        "input_tokens",
        "internal_errors",
        "labels",
        "latency_sum",
        "lock",
        "ok",
        "output_tokens",
        "records",
        "release",
        "sampled",
        "start",
        "usage_dropped",
        "wall",
    )

    def __init__(self, bounds: Sequence[float], max_queue: int, start: float, wall: bool = False) -> None:
        self.lock = threading.Lock()
        # Bound once: acquire()/release() cost half of ``with lock`` on the per-call path.
        self.acquire = self.lock.acquire
        self.release = self.lock.release
        self.bounds = tuple(bounds)
        self.ok = 0
        self.error = 0
        self.counts = [0] * (len(self.bounds) + 1)
        self.latency_sum = 0.0
        self.sampled = 0
        self.dropped = 0
        self.start = start
        #: Usage since the last snapshot (cost): compute seconds and tokens; `wall` adds each call's seconds.
        self.wall = wall
        self.compute_seconds = 0.0
        self.input_tokens = 0
        self.output_tokens = 0
        self.usage_dropped = 0
        #: Per feature: [counts per FEATURE_AGE_BOUNDS bucket (+Inf last), sum of ages in seconds].
        self.feature_ages: dict[str, list[Any]] = {}
        #: LLM calls (`sdk.genai`): "ttft" / "tpot" -> [counts per bucket (+Inf last), sum]; "finish_reasons".
        self.genai: dict[str, Any] = {}
        self.dropped_total = 0
        self.internal_errors = 0
        self.records: deque[Any] = deque(maxlen=max_queue)
        self.labels: deque[Any] = deque(maxlen=max_queue)

    def push(self, queue: deque[Any], items: Sequence[Any]) -> None:
        """Append items; when the queue is full the oldest item is dropped and counted."""
        with self.lock:
            room = queue.maxlen - len(queue)  # type: ignore[operator]
            lost = len(items) - room
            if lost > 0:
                self.dropped += lost
                self.dropped_total += lost
            queue.extend(items)
            if queue is self.records:
                self.sampled += len(items)

    def pop(self, queue: deque[Any], limit: int) -> list[Any]:
        """Remove and return up to ``limit`` items from the old end of a queue."""
        with self.lock:
            k = min(limit, len(queue))
            popleft = queue.popleft
            return [popleft() for _ in range(k)]

    def add_dropped(self, n: int) -> None:
        """Count rows the SDK gave up on (a rejected batch); they reach the next stats batch."""
        with self.lock:
            self.dropped += n
            self.dropped_total += n

    def add_internal_error(self) -> None:
        """Count one failure inside the SDK (never raised to the caller)."""
        with self.lock:
            self.internal_errors += 1

    def snapshot(self, now: float) -> dict[str, Any] | None:
        """Take the counters since the last snapshot and reset them; None when nothing happened."""
        with self.lock:
            ok, error, counts, total = self.ok, self.error, self.counts, self.latency_sum
            sampled, dropped, start = self.sampled, self.dropped, self.start
            usage = self.compute_seconds, self.input_tokens, self.output_tokens
            ages, self.feature_ages = self.feature_ages, {}
            genai, self.genai = self.genai, {}
            self.ok = self.error = self.sampled = self.dropped = 0
            self.counts = [0] * len(counts)
            self.latency_sum = 0.0
            self.compute_seconds, self.input_tokens, self.output_tokens = 0.0, 0, 0
            if not (ok or error or sampled or dropped or any(usage) or ages or genai):
                return None  # a quiet interval joins the next batch, so batches tile the timeline
            self.start = max(now, start)
        # usage fields only when counted, so a model without them sends what older collectors accept
        extra: dict[str, Any] = {k: v for k, v in zip(USAGE, usage, strict=True) if v}
        if ages:
            extra["feature_ages"] = {f: {"counts": c, "sum": total} for f, (c, total) in ages.items()}
        if genai:
            extra["genai"] = {
                k: (dict(v) if k == "finish_reasons" else {"counts": v[0], "sum": v[1]}) for k, v in genai.items()
            }
        return {
            "start": start,
            "end": max(now, start),
            "ok": ok,
            "error": error,
            "latency_bounds": list(self.bounds),
            "latency_counts": counts,
            "latency_sum": total,
            "sampled": sampled,
            "dropped": dropped,
            **extra,
        }

    def add_usage(self, compute_seconds: float, input_tokens: int, output_tokens: int) -> None:
        """Count one call's checked usage (compute seconds, tokens) for the next stats batch."""
        with self.lock:
            self.compute_seconds += compute_seconds
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens

    def close_request(self, ctx: Any, dt: float, failed: bool) -> None:
        """Count a request the middleware saw end (``ctx``: its `sdk.context.RequestContext`), once.

        Its rows (those its ``observe`` calls added, or 1 when it made none) each count ``dt``, the
        request's latency; all are errors when the request failed (5xx or an exception), else the rows
        whose ``observe`` block raised are. Closing under the lock means an ``observe`` that ends later
        (a background task after the response) counts itself instead of being lost.
        """
        with self.lock:
            if not ctx.open:
                return
            ctx.open = False
            ok, error = ctx.ok, ctx.error
            if failed:
                ok, error = 0, max(ok + error, 1)
            elif ok + error == 0:
                ok = 1
            n = ok + error
            self.ok += ok
            self.error += error
            self.counts[bisect_left(self.bounds, dt)] += n
            self.latency_sum += dt * n
