"""Pairing the request and response halves of a model server's inference logger (KServe, Seldon Core) by
event id: a half waits here, in this collector's memory, until its other half arrives, for at most
`PAIR_SECONDS` and within `MAX_PENDING` halves and `MAX_PENDING_BYTES`; one that waits longer or is pushed
out is counted as unpaired (the series `contract.series.INFERENCE_UNPAIRED`) and dropped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Half = Literal["request", "response"]
#: How long a half waits for the other one; loggers send both within milliseconds of each other.
PAIR_SECONDS = 300.0
#: Halves waiting at once, and their bodies' total size: a logger that only ever sends one half costs
#: bounded memory.
MAX_PENDING = 10_000
MAX_PENDING_BYTES = 64 << 20


@dataclass(frozen=True)
class Pending:
    """One half waiting: what it decoded to, when it arrived and how large its body was."""

    half: Half
    value: Any
    size: int
    since: float


class Pairing:
    """Waiting halves keyed by (model, event id); thread-safe (sync routes run in a thread pool)."""

    def __init__(
        self,
        on_unpaired: Callable[[str, Half], None],
        *,
        seconds: float = PAIR_SECONDS,
        max_pending: int = MAX_PENDING,
        max_bytes: int = MAX_PENDING_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._waiting: OrderedDict[tuple[str, str], Pending] = OrderedDict()
        self._lock = threading.Lock()
        self._bytes = 0
        self._on_unpaired, self._clock = on_unpaired, clock
        self.seconds, self.max_pending, self.max_bytes = seconds, max_pending, max_bytes

    def offer(self, model: str, event_id: str, half: Half, value: Any, size: int) -> Pending | None:
        """The other half of (model, event id) when it is waiting (taken out), else None (this half now
        waits; a second copy of the same half replaces the first)."""
        key = (model, event_id)
        with self._lock:
            now = self._clock()
            self._expire(now)
            other = self._waiting.get(key)
            if other is not None and other.half != half:
                del self._waiting[key]
                self._bytes -= other.size
                return other
            if other is not None:
                del self._waiting[key]
                self._bytes -= other.size
            self._waiting[key] = Pending(half, value, size, now)
            self._bytes += size
            while len(self._waiting) > self.max_pending or self._bytes > self.max_bytes:
                self._drop_oldest()
            return None

    def waiting(self) -> int:
        """Halves waiting now (expired ones dropped first)."""
        with self._lock:
            self._expire(self._clock())
            return len(self._waiting)

    def _expire(self, now: float) -> None:
        while self._waiting:
            first = next(iter(self._waiting.values()))
            if now - first.since < self.seconds:
                return
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        (model, _), gone = self._waiting.popitem(last=False)
        self._bytes -= gone.size
        self._on_unpaired(model, gone.half)
