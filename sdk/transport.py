"""How batches reach the collector: a one-method `Transport` protocol, HTTP, and a mock for tests.

Shaped like httpx's transports: ``MockTransport(handler)`` lets users test serving code without a
collector, and the SDK's own tests use it to fail, delay and inspect requests.
"""

from __future__ import annotations

import gzip
import http.client
import json as _json
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request the SDK sends: method, path (``/v1/records``), headers and body bytes."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name, or None."""
        return _header(self.headers, name)

    def json(self) -> Any:
        """The body decoded from JSON, un-gzipped first when ``Content-Encoding: gzip``."""
        data = self.body
        if (self.header("Content-Encoding") or "").lower() == "gzip":
            data = gzip.decompress(data)
        return _json.loads(data) if data else None


class Response:
    """The collector's answer: a status and body bytes; ``Response(200, json={...})`` builds one."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int, body: bytes = b"", *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status = int(status)
        self.body = _json.dumps(json).encode() if json is not None else bytes(body)
        self.headers: Mapping[str, str] = dict(headers or {})

    def json(self) -> Any:
        """The body decoded from JSON (None when empty)."""
        return _json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name, or None."""
        return _header(self.headers, name)

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.body[:80]!r})"


@runtime_checkable
class Transport(Protocol):
    """Sends one request and returns the response; raising means "unreachable" and is retried."""

    def send(self, request: Request) -> Response: ...


def accept(request: Request) -> Response:
    """The default mock answer: 200, as the collector answers a stored batch."""
    return Response(200, json={"accepted": 1, "duplicate": False})


class MockTransport:
    """A transport that answers every request with ``handler(request)``: no network, no collector.

    Every request is kept in `requests` (unless ``record=False``), so a test can read what the SDK
    sent with ``transport.bodies("/v1/records")``.
    """

    def __init__(self, handler: Callable[[Request], Response] = accept, *, record: bool = True) -> None:
        self.handler = handler
        self.record = record
        self.requests: list[Request] = []

    def send(self, request: Request) -> Response:
        """Keep the request, then return the handler's response (or raise what it raises)."""
        if self.record:
            self.requests.append(request)
        return self.handler(request)

    def bodies(self, path: str) -> list[Any]:
        """The decoded JSON bodies of every request sent to ``path``, oldest first."""
        return [r.json() for r in list(self.requests) if r.path == path]


class HTTPTransport:
    """HTTP(S) to a collector over one kept-alive ``http.client`` connection, reopened after an error.

    Adds ``Authorization: Bearer <token>`` when the request has none. Not shared across ``fork()``:
    the SDK calls `after_fork` in the child so it never writes to the parent's socket.
    """

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 5.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"collector URL must look like http://host:port, got {base_url!r}")
        self.base_url = base_url
        self.token = token
        self.timeout = float(timeout)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def send(self, request: Request) -> Response:
        """Send over the kept-alive connection; a stale reused connection is retried once, fresh."""
        headers = dict(request.headers)
        if self.token and _header(headers, "Authorization") is None:
            headers["Authorization"] = f"Bearer {self.token}"
        with self._lock:
            reused = self._conn is not None
            try:
                return self._exchange(request, headers)
            except (ConnectionError, http.client.HTTPException):
                self._drop()
                if not reused:
                    raise
            except BaseException:
                self._drop()
                raise
            try:
                return self._exchange(request, headers)
            except BaseException:
                self._drop()
                raise

    def _exchange(self, request: Request, headers: dict[str, str]) -> Response:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        conn.request(request.method, self._prefix + request.path, body=request.body, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.will_close:
            self._drop()
        return Response(resp.status, body, headers=dict(resp.getheaders()))

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def after_fork(self) -> None:
        """Forget (without closing) a connection inherited from the parent process."""
        self._conn = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the kept-alive connection."""
        with self._lock:
            self._drop()
