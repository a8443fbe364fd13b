"""Request bodies: gzip decoding and a size limit applied before anything is parsed, parsing with the
route's validation context, draining an unread body before answering, and the documented error answers."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Body(bytes):
    """The request body (gzip-decoded, size-limited) and the validation context of the route that read it."""

    context: Mapping[str, Any] | None = None


class _LimitedRequest(Request):
    """A request whose body is read at most `limit` bytes deep, decompressed if gzip'd."""

    limit: int = 0
    context: Mapping[str, Any] | None = None

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.limit:
                raise _too_large(self.limit)
            chunks, size = [], 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > self.limit:
                    raise _too_large(self.limit)
                chunks.append(chunk)
            raw = b"".join(chunks)
            encoding = self.headers.get("content-encoding", "identity").lower()
            if encoding == "gzip":
                raw = _gunzip(raw, self.limit)
            elif encoding not in ("identity", ""):
                raise HTTPException(
                    415, detail=f"content-encoding {encoding!r} is not supported: use gzip or none"
                )
            self._body = raw
        return self._body


def _gunzip(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise HTTPException(
            400, detail=f"body is not valid gzip ({exc}): compress it with gzip or drop the header"
        ) from None
    if len(out) > limit or d.unconsumed_tail:
        raise _too_large(limit)
    return out


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, detail=f"body is larger than {limit} bytes: send smaller batches")


def limited_route(limit: int, context: Mapping[str, Any] | None = None) -> type[APIRoute]:
    """An APIRoute class whose handlers see gzip-decoded bodies of at most `limit` bytes, validated with
    `context` (collector/event_time.py reads the allowed clock skew from it), and refuse query parameters
    they do not take with 422, naming them and the ones they do."""

    class LimitedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            known = sorted(_query_names(self.dependant))

            async def route_handler(request: Request) -> Response:
                unknown = [k for k in dict.fromkeys(request.query_params.keys()) if k not in known]
                if unknown:  # a misspelt or unsupported filter must not silently return everything
                    allowed = ", ".join(known) or "none"
                    raise RequestValidationError(
                        [
                            {
                                "loc": ("query", k),
                                "msg": f"unknown query parameter {k!r}: this endpoint takes {allowed}",
                                "type": "extra_forbidden",
                            }
                            for k in unknown
                        ]
                    )
                req = _LimitedRequest(request.scope, request.receive)
                req.limit = limit
                req.context = context
                return await handler(req)

            return route_handler

    return LimitedRoute


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route takes, its dependencies' included."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def _raw_body(request: Request) -> Body:
    body = Body(await request.body())
    body.context = getattr(request, "context", None)
    return body


#: The request body as bytes (gzip-decoded, size-limited); parse it with `parse`. Declare it after the
#: token dependency so a bad token is a 401 before any byte of the body is read.
RawBody = Annotated[Body, Depends(_raw_body)]
M = TypeVar("M", bound=BaseModel)
BODY_MODELS: dict[str, type[BaseModel]] = {}


def parse(model: type[M], raw: bytes) -> M:
    """Validate a JSON body inside pydantic-core (no intermediate dicts); errors are located under `body`."""
    if not raw.strip():
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "a JSON body is required", "type": "missing"}]
        )
    try:
        return model.model_validate_json(raw, context=getattr(raw, "context", None))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            _refuse_non_utf8(raw)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def _refuse_non_utf8(raw: bytes) -> None:
    """Say so when a body that is not JSON is not even UTF-8 (checked only once parsing failed)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "loc": ("body",),
                    "msg": f"the body is not UTF-8 JSON: byte {exc.start} ({raw[exc.start : exc.start + 1]!r}) "
                    f"{exc.reason}: encode the JSON as UTF-8",
                    "type": "json_invalid",
                }
            ]
        ) from None


class DrainBody:
    """ASGI middleware: before a response starts, read and discard what is left of the request body.

    An answer given before the body was read (401, 413, 429, ...) would otherwise reach a client that is
    still sending only as a reset connection (uvicorn stops reading; the kernel resets a socket closed
    with unread data). Bounded: at most `limit` more bytes within `seconds`; a body declared larger, or
    a client waiting for `100 Continue`, gets its answer at once.
    """

    def __init__(self, app: ASGIApp, limit: int, seconds: float = 30.0) -> None:
        self.app, self.limit, self.seconds = app, limit, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        done, received = False, 0

        async def tracked() -> Message:
            nonlocal done, received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                done = not message.get("more_body", False)
            elif message["type"] == "http.disconnect":
                done = True
            return message

        async def drain_then_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not done:
                await self._drain(scope, tracked, received)
            await send(message)

        await self.app(scope, tracked, drain_then_send)

    async def _drain(self, scope: Scope, receive: Receive, received: int) -> None:
        headers = dict(scope.get("headers") or [])
        if b"100-continue" in headers.get(b"expect", b"").lower() and not received:
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) - received > self.limit:
            return
        drained, deadline = 0, time.monotonic() + self.seconds
        with anyio.move_on_after(self.seconds):
            while drained <= self.limit and time.monotonic() < deadline:
                message = await receive()
                drained += len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` declaring `model` as the JSON request body (registered by `add_body_schemas`)."""
    BODY_MODELS[model.__name__] = model
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


#: Every error answer: `detail` is a sentence, or one entry per bad field (its location and the fix).
ERROR_SCHEMAS: dict[str, Any] = {
    "ErrorEntry": {
        "title": "ErrorEntry",
        "type": "object",
        "required": ["loc", "msg"],
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string", "description": "What is wrong and how to fix it."},
            "type": {"type": "string"},
        },
    },
    "Error": {
        "title": "Error",
        "type": "object",
        "required": ["detail"],
        "properties": {
            "detail": {
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/ErrorEntry"}},
                ]
            }
        },
    },
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
}
#: The error answers, and which operations can give each (see `error_statuses`).
ERRORS: dict[str, tuple[str, dict[str, Any]]] = {
    "400": ("The body says it is gzip but is not.", {}),
    "401": ("No bearer token, or one that is invalid or revoked.", {}),
    "403": ("The token's scope or project does not allow this.", {}),
    "404": ("No such model or SLO.", {}),
    "409": ("The batch id or event id (or model name) is taken by other content.", {}),
    "413": ("The body, decompressed, is over the collector's limit: send smaller batches.", {}),
    "415": ("A Content-Encoding other than gzip.", {}),
    "422": ("A field is wrong: each entry names its location and the fix.", {}),
    "429": ("Too many requests (or failed tokens) from this token or address.", _RETRY_AFTER),
    "503": ("Storage is unavailable: retry.", _RETRY_AFTER),
}


def error_statuses(operation: Mapping[str, Any], path: str) -> list[str]:
    """The error statuses an operation can answer: from its token, path parameters and body."""
    out = []
    if operation.get("security"):
        out += ["401", "403", "422", "429", "503"]
    if "{" in path:
        out += ["404", "422"]
    if operation.get("parameters"):
        out.append("422")
    if "requestBody" in operation:
        out += ["400", "409", "413", "415", "422"]
    return sorted(set(out))


def add_body_schemas(app: FastAPI) -> None:
    """Publish the models that `body_schema` names, and every operation's error answers, in the OpenAPI
    description (one place, so a new route documents its 401/403/404/409/413/415/422/429/503 too)."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in BODY_MODELS.values():
                js = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(js.pop("$defs", {}))
                components[model.__name__] = js
            components.update(ERROR_SCHEMAS)
            error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            for path, item in schema.get("paths", {}).items():
                for operation in item.values():
                    responses = operation.setdefault("responses", {})
                    for status in error_statuses(operation, path):
                        description, headers = ERRORS[status]
                        documented = responses.setdefault(status, {})
                        documented.setdefault("description", description)
                        documented["content"] = error
                        if headers:
                            documented["headers"] = headers
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
