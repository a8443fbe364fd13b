"""Text on the page: escaping, numbers, times and status badges, each formatted one way everywhere.

Every text that comes from the database passes through `esc`; a status badge's class comes from a fixed
list, never from the data.
"""

from __future__ import annotations

import datetime as dt
import html
import math

from analyzers.registry import display_name

DASH = "\u2013"  # en dash, for ranges and for "no value"
TIMES = "\u00d7"
ESTIMATED = "estimated_accuracy"  # CBPE's metric name in the performance series
STATUS_CLASSES = {
    "ok": "st-ok",
    "warn": "st-warn",
    "alert": "st-alert",
    "drift": "st-alert",  # attributions that moved
    "insufficient_data": "st-none",
    "immature": "st-none",
}


def esc(value: object) -> str:
    """Text from anywhere, escaped for HTML and SVG text and attribute values."""
    return html.escape(str(value), quote=True)


def fmt_num(value: float | None, digits: int = 3) -> str:
    """A number to `digits` decimals; an en dash for none or a non-finite value."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:.{digits}f}"


def fmt_pct(value: float | None, digits: int = 1) -> str:
    """A proportion as a percentage; an en dash for none or a non-finite value."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value * 100:.{digits}f}%"


def fmt_when(t: dt.datetime, seconds: bool | None = None) -> str:
    """A time in UTC to the minute, or to the second where it falls inside a minute (windows shorter than a
    minute) or `seconds` asks for it (the caller says "UTC")."""
    t = t.astimezone(dt.UTC)
    with_seconds = bool(t.second or t.microsecond) if seconds is None else seconds
    return t.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def fmt_span(start: dt.datetime, end: dt.datetime) -> str:
    """A window as text: "2026-03-02 07:00-08:00 UTC" (with an en dash); to the second where either end
    falls inside a minute, so a 5-second window reads "07:50:05-07:50:10", never "07:50-07:50"."""
    seconds = any(t.astimezone(dt.UTC).second or t.microsecond for t in (start, end))
    same_day = start.date() == end.date() or end == dt.datetime.combine(
        start.date() + dt.timedelta(days=1), dt.time(), dt.UTC
    )
    clock = end.astimezone(dt.UTC).strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{fmt_when(start, seconds)}{DASH}{clock if same_day else fmt_when(end, seconds)} UTC"


def fmt_duration(seconds: int) -> str:
    """A window length as an adjective: "hour", "15-minute", "2-day"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n}-{unit}" if n != 1 else unit.replace("minute", "1-minute")
    return f"{seconds}-second"


def fmt_eta(seconds: float | None) -> str:
    """How long until an error budget is spent, in the unit a person reads best."""
    if seconds is None:
        return "not burning"
    if seconds <= 0:
        return "spent"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def metric_name(metric: str) -> str:
    """A statistic's or metric's display name, from the statistics registry (the one place it lives)."""
    return display_name(metric)


def status_badge(status: str, text: str | None = None) -> str:
    """A status badge, reading `text` (default: the status); the class comes from a fixed list, never from
    the database."""
    shown = status.replace("_", " ") if text is None else text
    return f'<span class="badge {STATUS_CLASSES.get(status, "st-none")}">{esc(shown)}</span>'



def shorten(text: str, limit: int = 14) -> str:
    """`text` cut to `limit` characters with an ellipsis, for axis labels."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def coord(x: float) -> str:
    """An SVG coordinate."""
    return f"{x:.1f}"
