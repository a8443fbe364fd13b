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


class Buffers:
    """Counters since the last stats snapshot, lifetime totals, and the record and label queues."""

    __slots__ = (
        "acquire",
        "bounds",
        "counts",
        "dropped",
        "dropped_total",
        "error",
        "internal_errors",
        "labels",
        "latency_sum",
        "lock",
        "ok",
        "records",
        "release",
        "sampled",
        "start",
    )

    def __init__(self, bounds: Sequence[float], max_queue: int, start: float) -> None:
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
            self.ok = self.error = self.sampled = self.dropped = 0
            self.counts = [0] * len(counts)
            self.latency_sum = 0.0
            if not (ok or error or sampled or dropped):
                return None  # a quiet interval joins the next batch, so batches tile the timeline
            self.start = max(now, start)
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
        }

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
