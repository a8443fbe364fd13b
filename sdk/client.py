"""One client for a running collector: ingest, references, evaluation and the reads replay, demo and CLI need.

Standard library only, over the SDK's `Transport` and the `wire` paths (so no caller spells a ``/v1`` path).
Unlike `Monitor`, which never raises, this client is for tools that must say why the collector refused:
an answer of 400 or more raises ``error(message)`` (``RuntimeError`` unless the caller names its own
exception class); an unreachable collector raises what the transport raises.
"""

from __future__ import annotations

import gzip
import http.client
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from . import wire
from .reference import reference_body
from .transport import HTTPTransport, Request, Response, Transport

#: How much of a refusal's body the error message quotes.
_QUOTED_BYTES = 300


class CollectorClient:
    """Sends gzip'd JSON with a bearer token, as the SDK's shipper does; reads with the admin transport.

    ``transport`` carries ingest calls (an ingest token); ``admin`` carries evaluation and reads (an admin
    or read token), and defaults to ``transport``.
    """

    def __init__(
        self,
        transport: Transport,
        admin: Transport | None = None,
        *,
        error: Callable[[str], Exception] = RuntimeError,
    ) -> None:
        self.transport = transport
        self.admin = admin or transport
        self.error = error

    @classmethod
    def connect(
        cls,
        url: str,
        token: str,
        admin_token: str | None = None,
        *,
        timeout: float = 60.0,
        admin_timeout: float | None = None,
        error: Callable[[str], Exception] = RuntimeError,
    ) -> CollectorClient:
        """A client over HTTP(S) to ``url``; the admin token (default: ``token``) may wait ``admin_timeout``."""
        ingest = HTTPTransport(url, token, timeout=timeout)
        admin = HTTPTransport(url, admin_token or token, timeout=admin_timeout or timeout)
        return cls(ingest, admin, error=error)

    # ------------------------------------------------------------------------------------------ plumbing

    def post(self, path: str, body: Mapping[str, Any] | None, *, admin: bool = False) -> Any:
        """POST ``body`` as gzip'd JSON and return the decoded answer; a refusal raises ``error``."""
        data = gzip.compress(json.dumps(body).encode(), 1) if body is not None else b""
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        resp = (self.admin if admin else self.transport).send(Request("POST", path, headers, data))
        return self._answer(path, resp).json()

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Response:
        """GET with the admin transport; a refusal raises ``error``."""
        target = f"{path}?{urlencode(query)}" if query else path
        return self._answer(path, self.admin.send(Request("GET", target, {}, b"")))

    def _answer(self, path: str, resp: Response) -> Response:
        if resp.status >= 400:
            text = resp.body[:_QUOTED_BYTES].decode(errors="replace")
            raise self.error(f"the collector refused {path} with {resp.status}: {text}")
        return resp

    # ------------------------------------------------------------------------------------------ writes

    def records(self, body: Mapping[str, Any]) -> tuple[int, bool]:
        """Store a records batch (`wire.RECORDS_PATH`): (records accepted, whether the batch was a duplicate)."""
        out = self.post(wire.RECORDS_PATH, body)
        return int(out["accepted"]), bool(out["duplicate"])

    def labels(self, body: Mapping[str, Any]) -> int:
        """Store a labels batch (`wire.LABELS_PATH`): how many labels were accepted."""
        return int(self.post(wire.LABELS_PATH, body)["accepted"])

    def stats(self, body: Mapping[str, Any]) -> int:
        """Store a stats batch (`wire.STATS_PATH`): how many counters were accepted."""
        return int(self.post(wire.STATS_PATH, body)["accepted"])

    def reference(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Fit and store a reference (`wire.REFERENCES_PATH`); the collector's description of it."""
        return dict(self.post(wire.REFERENCES_PATH, body))

    def upload_reference(
        self,
        data: Any,
        *,
        model: str,
        version: str | None = None,
        features: Sequence[str] | None = None,
        score_column: str | None = None,
        label_column: str | None = None,
    ) -> dict[str, Any]:
        """Fit and store a reference from a DataFrame, columns or rows (`sdk.reference.reference_body`);
        the collector's answer, which `sdk.reference.describe` turns into a few lines."""
        body = reference_body(
            data,
            model=model,
            version=version,
            features=features,
            score_column=score_column,
            label_column=label_column,
        )
        return self.reference(body)

    def evaluate(self) -> int:
        """Evaluate every window that received data, now (admin): how many windows were evaluated."""
        return int(self.post(wire.EVALUATE_PATH, None, admin=True)["windows"])

    # ------------------------------------------------------------------------------------------ reads

    def series(self, model: str, kind: str, *, limit: int = 10_000, **query: Any) -> list[dict[str, Any]]:
        """Up to `limit` of one model's points of a `wire.MODEL_READS` kind (drift, performance, ...), newest
        window first, following the collector's next-page links past `wire.MAX_PAGE_POINTS`."""
        out: list[dict[str, Any]] = []
        params = dict(query)
        while len(out) < limit:
            page_size = min(limit - len(out), wire.MAX_PAGE_POINTS)
            resp = self.get(wire.model_path(model, kind), {"limit": page_size, **params})
            page = list(resp.json())
            out += page
            cursor = next_cursor(resp.header("Link"))
            if cursor is None or not page:
                break
            params["cursor"] = cursor
        return out

    def models(self) -> list[dict[str, Any]]:
        """The models of the token's project: name, project, versions, records, whether the spec declares it."""
        return list(self.get(wire.MODELS_PATH).json())

    def slos(self) -> list[dict[str, Any]]:
        """Every SLO's error budget and burn rates, now."""
        return list(self.get(wire.SLOS_PATH).json())

    def metrics(self) -> str:
        """The Prometheus text exposition (unauthenticated; sent with the admin transport)."""
        return self.get(wire.METRICS_PATH).body.decode()

    def ready(self) -> bool:
        """Whether the collector answers its readiness probe (storage up); False while it is unreachable."""
        try:
            resp = self.admin.send(Request("GET", wire.READY_PATH, {}, b""))
        except (OSError, http.client.HTTPException):
            return False
        return resp.status == 200

    def close(self) -> None:
        """Close the transports' kept-alive connections (those that have any)."""
        for t in {id(self.transport): self.transport, id(self.admin): self.admin}.values():
            close = getattr(t, "close", None)
            if callable(close):
                close()


def next_cursor(link: str | None) -> str | None:
    """The `cursor` of a `Link` header's rel="next" URL (RFC 8288), or None on the last page."""
    for part in (link or "").split(","):
        url, _, params = part.partition(";")
        if re.search(r'\brel="?next"?', params):
            found = parse_qs(urlsplit(url.strip().strip("<>")).query).get("cursor")
            return found[0] if found else None
    return None
