"""What every section of the wire model shares: the strict base model, names, durations and hints.

Kept apart so the model, drift and SLO sections refuse the same mistakes with the same words.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

#: Model, feature, project and SLO names: a letter, then up to 63 letters, digits, `_`, `.` or `-`.
NAME_RE = r"^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$"
_DURATION_RE = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Strict(BaseModel):
    """A frozen section that refuses unknown fields, so a misspelt key is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_duration(text: str) -> int:
    """Seconds in a Prometheus-style duration such as `30s`, `5m`, `1h`, `30d`."""
    m = _DURATION_RE.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration: write a number and a unit, like 30s, 5m, 1h or 30d")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def check_duration(v: Any) -> str:
    """A field validator's check of a duration: the text unchanged when it parses and is longer than zero."""
    if not isinstance(v, str):
        raise ValueError(f"{v!r} is not a duration: write a number and a unit, like 30s, 5m, 1h or 30d")
    if parse_duration(v) <= 0:
        raise ValueError(f"{v!r} must be longer than zero")
    return v


def closest(bad: Any, choices: Iterable[str]) -> str | None:
    """The choice nearest to a misspelt `bad` value, for a "did you mean" hint; None when none is close."""
    if not isinstance(bad, str):
        return None
    close = difflib.get_close_matches(bad, list(choices), n=1)
    return close[0] if close else None


def hint(bad: str, choices: Any) -> str:
    """A reference to an undeclared name: the closest declared one, or the declared ones listed."""
    near = closest(bad, choices)
    return f" (did you mean {near!r}?)" if near else f"; declared: {', '.join(sorted(choices)) or 'none'}"


def article(word: str) -> str:
    """`word` with its indefinite article, as the SLO messages read ("an accuracy SLO")."""
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


class Misplaced(ValueError):
    """A check of the whole file that knows which field it is about (a slice or an SLO's model that is not
    declared), so the error names that field's line, not the top of the file."""

    def __init__(self, loc: tuple[str | int, ...], value: Any, message: str) -> None:
        super().__init__(message)
        self.loc, self.value = loc, value
