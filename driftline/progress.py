"""A one-line progress bar on stderr with a rate, for the demo's traffic and replay's rows.

On a terminal the bar is redrawn in place; a log record written meanwhile (the SDK's warnings go to the
root logger's handlers) first clears the bar's line, so it prints on a line of its own instead of inside
the bar, and the next update draws the bar again below it.
"""

from __future__ import annotations

import logging
import sys
import time


class Progress:
    """Redraws in place on a terminal; prints a line every 10% otherwise (logs, CI)."""

    def __init__(self, total: float, unit: str = "rows", width: int = 30) -> None:
        self.total, self.unit, self.width, self.t0 = total, unit, width, time.monotonic()
        self.tty = sys.stderr.isatty()
        self._last = -1
        self._drawn = False
        self._clear = _ClearLine(self)
        if self.tty:
            for handler in _handlers():
                handler.addFilter(self._clear)

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
        self._drawn = self.tty

    def clear(self) -> None:
        """Blank the bar's line on a terminal, so what is written next starts at its beginning."""
        if self._drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self._drawn = False

    def done(self) -> None:
        """End the bar's line on a terminal."""
        if self.tty:
            sys.stderr.write("\n")
            self._drawn = False
            for handler in _handlers():
                handler.removeFilter(self._clear)


def _handlers() -> list[logging.Handler]:
    """The handlers a warning reaches: the root logger's, or Python's last resort when it has none."""
    root = logging.getLogger().handlers
    return list(root) if root else [h for h in (logging.lastResort,) if h is not None]


class _ClearLine(logging.Filter):
    """Clears the progress bar's line before a log record is written; lets every record through."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        """Clear the line, then let the record be written."""
        self.progress.clear()
        return True
