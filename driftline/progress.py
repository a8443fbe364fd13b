"""A one-line progress bar on stderr with a rate, for the demo's traffic and replay's rows."""

from __future__ import annotations

import sys
import time


class Progress:
    """Redraws in place on a terminal; prints a line every 10% otherwise (logs, CI)."""

    def __init__(self, total: float, unit: str = "rows", width: int = 30) -> None:
        self.total, self.unit, self.width, self.t0 = total, unit, width, time.monotonic()
        self.tty = sys.stderr.isatty()
        self._last = -1

    def update(self, done: float, count: int, note: str = "") -> None:
        """Redraw with `done` of the total reached, `count` units counted so far and a short note."""
        share = min(done / self.total, 1.0) if self.total else 1.0
        pct = int(share * 100)
        if not self.tty and pct // 10 == self._last // 10 and pct != 100:
            return
        if pct == 100 and self._last == 100 and not self.tty:
            return
        self._last = pct
        filled = int(share * self.width)
        rate = count / max(time.monotonic() - self.t0, 1e-9)
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {pct:3d}%  {count:>9,} {self.unit}"
            f"  {rate:>9,.0f} {self.unit}/s  {note}"
        )
        sys.stderr.write(("\r" + line) if self.tty else line + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        """End the bar's line on a terminal."""
        if self.tty:
            sys.stderr.write("\n")
