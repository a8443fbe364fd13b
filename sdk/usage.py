"""Checking what a call reports it used (compute seconds, tokens) before it is counted for cost.

Standard library only. A bad value (negative, not a whole number of tokens, NaN, absurdly large) is
never raised into serving code: the call's usage is dropped whole and the monitor counts and logs it.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

from .buffers import Buffers
from .logs import RateLimitedLog
from .wire import FEATURE_AGE_BOUNDS, MAX_FEATURE_AGES, MAX_GPU_SECONDS_PER_CALL, MAX_TOKENS_PER_CALL

_FEATURE_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_.-]{0,63}")

_INTS = (int,)


def _tokens(name: str, v: Any) -> int | str:
    if v is None:
        return 0
    if type(v) is bool or not isinstance(v, _INTS):
        # numpy integers are accepted through __index__; floats (even 3.0) are not a token count
        index = getattr(v, "__index__", None)
        if type(v) is bool or index is None:
            return f"{name} must be a whole number of tokens, got {type(v).__name__}"
        v = index()
    if not 0 <= v <= MAX_TOKENS_PER_CALL:
        return f"{name} must be 0..{MAX_TOKENS_PER_CALL:,}, got {v}"
    return int(v)


def checked_usage(gpu_seconds: Any, input_tokens: Any, output_tokens: Any) -> tuple[float, int, int] | str:
    """The call's usage as (compute seconds, input tokens, output tokens), or what is wrong with it."""
    seconds = 0.0
    if gpu_seconds is not None:
        if type(gpu_seconds) is bool:
            return "gpu_seconds must be a number of seconds, got bool"
        try:
            seconds = float(gpu_seconds)
        except (TypeError, ValueError):
            return f"gpu_seconds must be a number of seconds, got {type(gpu_seconds).__name__}"
        if not (math.isfinite(seconds) and 0 <= seconds <= MAX_GPU_SECONDS_PER_CALL):
            return f"gpu_seconds must be finite and 0..{MAX_GPU_SECONDS_PER_CALL:,}, got {seconds!r}"
    tin = _tokens("input_tokens", input_tokens)
    if isinstance(tin, str):
        return tin
    tout = _tokens("output_tokens", output_tokens)
    if isinstance(tout, str):
        return tout
    return seconds, tin, tout


def count_usage(buf: Buffers, log: RateLimitedLog, gpu_seconds: Any, input_tokens: Any, output_tokens: Any) -> bool:
    """Add one call's usage to the next stats batch; a bad one is counted in ``usage_dropped`` and logged."""
    g = 0.0 if gpu_seconds is None else gpu_seconds
    a = 0 if input_tokens is None else input_tokens
    b = 0 if output_tokens is None else output_tokens
    # fast path for plain ints and floats (NaN fails the comparison); anything else is checked in full
    if (
        type(a) is int
        and type(b) is int
        and (type(g) is float or type(g) is int)
        and 0 <= a <= MAX_TOKENS_PER_CALL
        and 0 <= b <= MAX_TOKENS_PER_CALL
        and 0 <= g <= MAX_GPU_SECONDS_PER_CALL
    ):
        buf.acquire()
        try:
            buf.compute_seconds += g
            buf.input_tokens += a
            buf.output_tokens += b
        finally:
            buf.release()
        return True
    usage = checked_usage(gpu_seconds, input_tokens, output_tokens)
    if isinstance(usage, str):
        with buf.lock:
            buf.usage_dropped += 1
        log.warning("usage", "driftline: usage dropped (counted in usage_dropped, not raised): %s", usage)
        return False
    buf.add_usage(*usage)
    return True


def _age(now: float, ts: Any) -> float | None:
    """Seconds from a computed-at time (unix seconds or a datetime, naive = UTC) to `now`; None if unusable.
    A time slightly ahead of `now` (clock skew between hosts) is age 0."""
    if isinstance(ts, _dt.datetime):
        t = (ts if ts.tzinfo else ts.replace(tzinfo=_dt.UTC)).timestamp()
    elif type(ts) is bool:
        return None
    else:
        try:
            t = float(ts)
        except (TypeError, ValueError):
            return None
    age = now - t
    return max(age, 0.0) if math.isfinite(age) else None


def count_feature_ages(buf: Buffers, log: RateLimitedLog, feature_times: Mapping[str, Any], now: float) -> None:
    """Add one call's feature ages (`observe(feature_times=)`) to the histograms of the next stats batch.

    A bad name or time drops that feature's age for this call (counted in ``usage_dropped``, logged);
    beyond `MAX_FEATURE_AGES` distinct features per monitor new ones are dropped the same way. Never
    raises: anything unexpected (not a mapping) is an internal error, counted and logged."""
    try:
        _count_ages(buf, log, feature_times, now)
    except Exception:
        buf.add_internal_error()
        log.warning("internal-feature_times", "driftline: internal error in feature_times (not raised)", exc_info=True)


def _count_ages(buf: Buffers, log: RateLimitedLog, feature_times: Mapping[str, Any], now: float) -> None:
    bad: list[str] = []
    with buf.lock:
        hists = buf.feature_ages
        for name, ts in feature_times.items():
            age = _age(now, ts) if type(name) is str and _FEATURE_NAME.fullmatch(name) else None
            h = hists.get(name) if age is not None else None
            if h is None and age is not None and len(hists) < MAX_FEATURE_AGES:
                h = hists[name] = [[0] * (len(FEATURE_AGE_BOUNDS) + 1), 0.0]
            if h is None or age is None:
                buf.usage_dropped += 1
                bad.append(repr(name)[:80])
                continue
            h[0][bisect_left(FEATURE_AGE_BOUNDS, age)] += 1
            h[1] += age
    if bad:
        log.warning(
            "feature-times",
            "driftline: feature times dropped (counted in usage_dropped, not raised): %s; a time is unix "
            "seconds or a datetime, a name a feature name, at most %d features",
            ", ".join(bad),
            MAX_FEATURE_AGES,
        )
