"""`DriftlineMiddleware`: an ASGI middleware (FastAPI, Starlette, any ASGI app) that counts requests.

Pure ASGI, so it imports no framework and adds one coroutine frame per request (no
``BaseHTTPMiddleware`` task and queue). Per HTTP request it:

- takes the request id from a header (``x-request-id`` by default) when it is 1..128 visible ASCII
  characters, else generates one, echoes it in the response, and sets it as the current request
  (`sdk.context`), so ``observe`` calls in the handler use it as record id and `sdk.request_id()` gives it;
- counts the request once, when the response is complete: its rows (what the handler's ``observe``
  calls of the same monitor saw, or 1) as errors when the status is 5xx or an exception escaped the app,
  else as ok (rows whose ``observe`` block raised stay errors), each with the request's latency, in the
  monitor's counters and histogram (the availability and latency SLIs the collector computes);
- on the lifespan's shutdown, flushes the monitor on a worker thread before the server is told
  shutdown is complete, so a worker that exits (gunicorn restarting it, a deploy) delivers its last
  counts without blocking the event loop.

Everything it does besides calling the app is guarded: it never raises into the server, and the app's
own exception passes through unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from .context import CURRENT, RequestContext, valid_request_id
from .monitor import Monitor

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def flush_async(monitor: Monitor, timeout: float = 5.0) -> bool:
    """``monitor.flush(timeout)`` on a worker thread, so ``async`` code can wait for delivery without
    blocking its event loop (``Monitor.flush`` itself blocks the calling thread)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, monitor.flush, timeout)


class DriftlineMiddleware:
    """Counts every HTTP request to ``app`` in ``monitor`` and gives it a request id (module docstring).

    ``app.add_middleware(DriftlineMiddleware, monitor=mon)`` on FastAPI/Starlette, or
    ``DriftlineMiddleware(app, mon)`` around any ASGI app. ``exclude_paths``: path prefixes that are not
    model traffic (``/metrics``, ``/healthz``), passed through uncounted and without a request id.
    ``echo_header``: add the request id to the response under ``header`` unless the app set it.
    ``flush_timeout``: how long the lifespan shutdown waits for delivery.
    """

    def __init__(
        self,
        app: ASGIApp,
        monitor: Monitor,
        *,
        header: str = "x-request-id",
        exclude_paths: Iterable[str] = (),
        echo_header: bool = True,
        flush_timeout: float = 5.0,
    ) -> None:
        self.app = app
        self.monitor = monitor
        self._header = header.lower().encode("latin-1")
        self._exclude = tuple(exclude_paths)
        self._echo = echo_header
        self._flush_timeout = float(flush_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if kind != "http" or (self._exclude and str(scope.get("path", "")).startswith(self._exclude)):
            await self.app(scope, receive, send)
            return
        mon = self.monitor
        try:
            ctx = RequestContext(self._request_id(scope), mon if mon._live() else None)
            token = CURRENT.set(ctx)
            t0 = mon._timer()
        except Exception:
            mon._internal_error("middleware")
            await self.app(scope, receive, send)
            return
        status = 0
        header, echo = self._header, self._echo

        def finish(failed: bool) -> None:
            try:
                if ctx.open:
                    mon._buffers.close_request(ctx, mon._timer() - t0, failed)
            except Exception:
                mon._internal_error("middleware")

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            try:
                mtype = message.get("type")
                if mtype == "http.response.start":
                    status = int(message.get("status", 0))
                    if echo:
                        headers = list(message.get("headers") or ())
                        if not any(k.lower() == header for k, _ in headers):
                            headers.append((header, ctx.id.encode("latin-1")))
                            message["headers"] = headers
                elif mtype == "http.response.body" and not message.get("more_body", False):
                    finish(status >= 500)
            except Exception:
                mon._internal_error("middleware")
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            finish(True)  # the server answers 500 (or drops the connection): an error either way
            raise
        else:
            finish(status == 0 or status >= 500)  # no response at all is not a success
        finally:
            CURRENT.reset(token)

    def _request_id(self, scope: Scope) -> str:
        header = self._header
        for key, value in scope.get("headers") or ():
            if key.lower() == header:
                return valid_request_id(value.decode("latin-1"))
        return valid_request_id(None)

    def _lifespan_send(self, send: Send) -> Send:
        mon, timeout = self.monitor, self._flush_timeout

        async def lifespan_send(message: Message) -> None:
            if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                try:
                    await flush_async(mon, timeout)
                except Exception:
                    mon._internal_error("middleware")
            await send(message)

        return lifespan_send
