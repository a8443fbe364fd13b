"""Rate-limited warnings on the ``driftline.sdk`` logger, so a broken input never floods serving logs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger("driftline.sdk")

#: A warning with the same key is logged at most once per this many seconds.
DEFAULT_INTERVAL = 60.0


class RateLimitedLog:
    """Logs a warning per key at most once per ``interval`` seconds and reports how many it held back."""

    def __init__(
        self, interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, key: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Log ``msg % args`` unless ``key`` was logged within the interval; True when it was logged."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            msg += " (%d more like this since the last message)"
            args = (*args, held)
        logger.warning(msg, *args, exc_info=exc_info)
        return True
