"""In-process rate limits: token buckets per API token, and per client address for failed authentication.

A bucket holds up to `burst` requests and refills at `rate` per second; a request takes one, and an
empty bucket answers how long until the next one is there (the 429's Retry-After). Failed
authentication (a presented token that is unknown, malformed or revoked) takes from the sender
address's bucket; once it is empty, that address is refused before its tokens are even looked up,
which bounds guessing. Buckets live in this process only (one collector, one set of limits) and at
most `max_keys` of each kind are kept, the least recently used dropped first, so memory stays bounded.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    level: float
    at: float


class Buckets:
    """Token buckets by key: `burst` deep, refilled at `rate` per second; rate 0 turns the limit off."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.rate = float(rate)
        self.burst = max(1.0, float(burst))
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether limiting is on (a rate of 0 turns it off)."""
        return self.rate > 0

    def _refilled(self, key: str, now: float) -> _Bucket:
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(self.burst, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            b.level = min(self.burst, b.level + (now - b.at) * self.rate)
            b.at = now
            self._buckets.move_to_end(key)
        return b

    def take(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0.0 when allowed, else seconds until one is available."""
        if not self.enabled:
            return 0.0
        with self._lock:
            b = self._refilled(key, self.clock())
            if b.level >= 1.0:
                b.level -= 1.0
                return 0.0
            return (1.0 - b.level) / self.rate

    def wait(self, key: str) -> float:
        """Seconds until `key`'s bucket holds one request again (0.0 when it does), taking nothing."""
        if not self.enabled:
            return 0.0
        with self._lock:
            if key not in self._buckets:
                return 0.0
            b = self._refilled(key, self.clock())
            return 0.0 if b.level >= 1.0 else (1.0 - b.level) / self.rate


@dataclass(frozen=True)
class Limited:
    """A refusal: what was limited (for the message) and whole seconds to wait (for Retry-After)."""

    what: str
    retry_after: int

    def detail(self) -> str:
        """The 429 body's message: what was limited and when to retry."""
        return f"too many requests {self.what}; retry after {self.retry_after} s"

    def headers(self) -> dict[str, str]:
        """The 429 answer's headers (Retry-After in whole seconds)."""
        return {"Retry-After": str(self.retry_after)}


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


class RateLimiter:
    """The collector's two limits: requests per token, and failed authentications per client address."""

    def __init__(
        self,
        *,
        per_token: float,
        token_burst: float,
        failures_per_minute: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tokens = Buckets(per_token, token_burst, clock=clock)
        self.failures = Buckets(failures_per_minute / 60.0, failures_per_minute, clock=clock)
        self._token_text = f"for this token (at most {per_token:g} per second, bursts of {token_burst:g})"
        self._address_text = (
            f"with invalid tokens from this address (at most {failures_per_minute:g} a minute)"
        )

    def address_blocked(self, address: str) -> Limited | None:
        """A refusal when `address` has used up its failed authentications, else None."""
        wait = self.failures.wait(address)
        return Limited(self._address_text, _seconds(wait)) if wait > 0 else None

    def failed(self, address: str) -> None:
        """Count one failed authentication from `address`."""
        self.failures.take(address)

    def token_request(self, token_id: str) -> Limited | None:
        """Take one request from the token's bucket: a refusal when it is empty, else None."""
        wait = self.tokens.take(token_id)
        return Limited(self._token_text, _seconds(wait)) if wait > 0 else None
