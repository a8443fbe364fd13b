"""Cursors of the series reads: a page that filled its `limit` names the next one in a `Link` header
(RFC 8288, `rel="next"`), whose `cursor` parameter starts the next page right after its last point.

A cursor is the last point's place in the read order (window start, window length, version and the kind's
key columns), base64url-encoded JSON: opaque to clients, decoded and checked here, so a cursor that was
edited or belongs to another kind of series is a 422 naming the parameter, never a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response

from collector import repository
from collector.service import InputError

_FIX = "pass the cursor of the previous page's Link header unchanged, or leave it out for the first page"


def encode(kind: str, point: Any) -> str:
    """The cursor that starts the next page of a `kind` read right after `point`."""
    start, seconds, *rest = repository.series_key(kind, point)
    text = json.dumps([kind, start.astimezone(dt.UTC).isoformat(), seconds, *rest], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(kind: str, cursor: str | None) -> tuple[Any, ...] | None:
    """The key a cursor holds (None without one); 422 naming `cursor` when it is not one this read issued."""
    if cursor is None:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        issued, start, seconds, *rest = raw
        when = dt.datetime.fromisoformat(start)
        valid = (
            issued == kind
            and when.tzinfo is not None
            and type(seconds) is int
            and len(rest) == 1 + len(repository.SERIES_ORDER[kind])
            and all(isinstance(x, str) for x in rest)
        )
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        valid = False
    if not valid:
        raise InputError(422, ["query", "cursor"], f"not a cursor of this {kind} read: {_FIX}")
    return (when, seconds, *rest)


def link_next(kind: str, points: Sequence[Any], limit: int, request: Request, response: Response) -> None:
    """Name the next page in a `Link` header when this one is full (there may be more points after it)."""
    if points and len(points) >= limit:
        url = request.url.include_query_params(cursor=encode(kind, points[-1]))
        response.headers["Link"] = f'<{url}>; rel="next"'
