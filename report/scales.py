"""Scales: round tick values, UTC-aligned time ticks and their labels, and the plot frame that maps data
to SVG coordinates."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-12:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude * (1 + 1e-9))
    first = math.floor(lo / step + 1e-9) * step
    n = math.ceil((hi - first) / step - 1e-9)
    return [round(first + i * step, 10) for i in range(n + 1)]


def tick_label(value: float, percent: bool = False) -> str:
    """A tick value as short text, optionally as a percentage."""
    if percent:
        return f"{round(value * 100, 8):g}%"
    return f"{value:g}"


_TIME_STEPS = (60, 300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600)


def time_ticks(start: dt.datetime, end: dt.datetime, most: int = 7) -> list[dt.datetime]:
    """Tick times at a round step (minutes to weeks, UTC-aligned) with at most `most` inside [start, end]."""
    t0, t1 = int(start.timestamp()), int(end.timestamp())
    span = max(t1 - t0, 1)
    step = next((s for s in _TIME_STEPS if span / s <= most), 0)
    if step == 0:
        step = 2592000 * math.ceil(span / most / 2592000)
    first = -(-t0 // step) * step
    return [dt.datetime.fromtimestamp(t, dt.UTC) for t in range(first, t1 + 1, step)]


def time_label(t: dt.datetime, start: dt.datetime, end: dt.datetime) -> str:
    """A time tick's text: only as much of the date as the chart's span needs."""
    if end - start > dt.timedelta(days=3):
        return t.strftime("%m-%d") if t.hour == 0 and t.minute == 0 else t.strftime("%m-%d %H:%M")
    if start.date() == (end - dt.timedelta(microseconds=1)).date():
        return t.strftime("%H:%M")
    return t.strftime("%m-%d %H:%M")


def time_axis_title(start: dt.datetime, end: dt.datetime) -> str:
    """The time axis title; it names the day when every tick is on one."""
    if start.date() == (end - dt.timedelta(microseconds=1)).date():
        return f"Event time (UTC), {start:%Y-%m-%d}"
    return "Event time (UTC)"


@dataclass(frozen=True)
class Frame:
    """The plot area inside an SVG and its linear scales."""

    left: float
    top: float
    right: float
    bottom: float
    x0: float
    x1: float
    y0: float
    y1: float

    def x(self, v: float) -> float:
        """The SVG x of data value `v`."""
        span = self.x1 - self.x0 or 1.0
        return self.left + (v - self.x0) / span * (self.right - self.left)

    def y(self, v: float) -> float:
        """The SVG y of data value `v`, clamped into the frame."""
        span = self.y1 - self.y0 or 1.0
        v = min(max(v, self.y0), self.y1)
        return self.bottom - (v - self.y0) / span * (self.bottom - self.top)
