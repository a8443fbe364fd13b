"""The request an observation belongs to, carried in a `contextvars.ContextVar`.

A middleware (`sdk.asgi.DriftlineMiddleware`) or `request_scope` sets one `RequestContext` per request.
Inside it, ``Monitor.observe`` calls without ``ids`` take their record ids from the request id, so the
id a client sent in ``x-request-id`` (or the one the middleware generated and echoed back) is the key
to send labels under. A contextvar rather than a thread-local, because an asyncio server runs many
requests on one thread and Starlette runs sync endpoints on worker threads with a copy of the context:
the object is shared by reference, so counts made on a worker thread reach the middleware.

While the middleware counts the request (``monitor`` set and ``open``), the rows that ``observe``
calls of that monitor see are added here instead of to the monitor's counters, and the middleware
counts them once, with the request's latency and outcome, when the response is complete.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .sampling import new_ids

#: A request id taken from a header as is: 1..128 visible ASCII characters (anything else is replaced).
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


class RequestContext:
    """One request: its id, the monitor that counts it (or None), and its rows while it is open."""

    __slots__ = ("error", "id", "monitor", "ok", "open", "rows")

    def __init__(self, request_id: str, monitor: Any = None) -> None:
        self.id = request_id
        #: The `Monitor` whose counts wait for the request's end; None: every observe counts itself.
        self.monitor = monitor
        self.open = monitor is not None
        self.ok = 0
        self.error = 0
        self.rows = 0

    def row_ids(self, n: int) -> list[str]:
        """Record ids for the next ``n`` rows observed without ids in this request.

        Row k of the request (counted from 0 over all its calls) is ``<request id>-<k>``, except that a
        request whose first call is one row uses the request id itself, so a one-prediction request's
        record id is exactly what the client sent or received in ``x-request-id``.
        """
        k = self.rows
        self.rows = k + n
        if k == 0 and n == 1:
            return [self.id]
        rid = self.id
        return [f"{rid}-{j}" for j in range(k, k + n)]


CURRENT: ContextVar[RequestContext | None] = ContextVar("driftline_request", default=None)


def valid_request_id(value: str | None) -> str:
    """``value`` when it is a usable request id (1..128 visible ASCII characters), else a new uuid4 hex."""
    if value is not None and _REQUEST_ID.fullmatch(value):
        return value
    return new_ids(1)[0]


def request_id() -> str | None:
    """The current request's id (inside `DriftlineMiddleware` or `request_scope`), else None.

    Serving code that sends labels later stores this id (or returns it to its caller) and passes it
    to ``Monitor.log_labels``.
    """
    ctx = CURRENT.get()
    return None if ctx is None else ctx.id


@contextmanager
def request_scope(request_id: str | None = None) -> Iterator[str]:
    """Give the ``observe`` calls inside the block a request id, for servers with no ASGI middleware.

    ``request_id`` is used when valid (1..128 visible ASCII characters), else one is generated; the
    block gets the id. Unlike the middleware it counts nothing itself: each ``observe`` counts its rows.
    """
    ctx = RequestContext(valid_request_id(request_id))
    token = CURRENT.set(ctx)
    try:
        yield ctx.id
    finally:
        CURRENT.reset(token)
