"""The event times the collector accepts: one documented range for records, labels, stats and replay.

An event time must lie in [2000-01-01T00:00:00Z, the collector's clock + the allowed future skew]. Older
times are unit mistakes or placeholders (0, 0001-01-01), and far-future ones (9999-12-31) overflow the
window arithmetic; both are refused where they enter, naming the record, never stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sdk.wire import DEFAULT_MAX_FUTURE_SKEW_SECONDS, EARLIEST_EVENT_TIME

EARLIEST = dt.datetime.fromtimestamp(EARLIEST_EVENT_TIME, dt.UTC)


def as_utc(ts: dt.datetime) -> dt.datetime:
    """An aware datetime; naive means UTC (the wire's rule)."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=dt.UTC)


def bounds(
    now: dt.datetime | None = None, max_future_skew: float = DEFAULT_MAX_FUTURE_SKEW_SECONDS
) -> tuple[dt.datetime, dt.datetime]:
    """The accepted range [earliest, latest] at `now` (default: the clock)."""
    now = as_utc(now) if now is not None else dt.datetime.now(dt.UTC)
    return EARLIEST, now + dt.timedelta(seconds=max_future_skew)


def context_bounds(context: Mapping[str, Any] | None) -> tuple[dt.datetime, dt.datetime]:
    """`bounds` from a validation context: {"now": datetime, "max_future_skew": seconds}, both optional."""
    context = context or {}
    return bounds(context.get("now"), context.get("max_future_skew", DEFAULT_MAX_FUTURE_SKEW_SECONDS))


def _text(ts: dt.datetime) -> str:
    """ISO-8601 to the second, Z for UTC (isoformat, unlike strftime, pads years before 1000)."""
    text = ts.replace(microsecond=0).isoformat()
    return text.removesuffix("+00:00") + "Z" if ts.utcoffset() == dt.timedelta(0) else text


def out_of_range(ts: dt.datetime, lo: dt.datetime, hi: dt.datetime) -> str | None:
    """Why `ts` is not an accepted event time (a sentence naming the range), or None when it is."""
    ts = as_utc(ts)
    if lo <= ts <= hi:
        return None
    side = "before the earliest accepted" if ts < lo else "later than the latest accepted"
    return (
        f"event time {_text(ts)} is {side} ({_text(lo)} to {_text(hi)}, the collector's clock plus its "
        "allowed skew): send the real time as unix seconds (never milliseconds) or ISO-8601"
    )
