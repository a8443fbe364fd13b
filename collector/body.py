"""Request bodies: gzip decoding and a size limit applied before anything is parsed."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError


class _LimitedRequest(Request):
    """A request whose body is read at most `limit` bytes deep, decompressed if gzip'd."""

    limit: int = 0

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


def limited_route(limit: int) -> type[APIRoute]:
    """An APIRoute class whose handlers see gzip-decoded bodies of at most `limit` bytes."""

    class LimitedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def route_handler(request: Request) -> Response:
                req = _LimitedRequest(request.scope, request.receive)
                req.limit = limit
                return await handler(req)

            return route_handler

    return LimitedRoute


async def _raw_body(request: Request) -> bytes:
    return await request.body()


#: The request body as bytes (gzip-decoded, size-limited); parse it with `parse`.
RawBody = Annotated[bytes, Depends(_raw_body)]
M = TypeVar("M", bound=BaseModel)
BODY_MODELS: dict[str, type[BaseModel]] = {}


def parse(model: type[M], raw: bytes) -> M:
    """Validate a JSON body inside pydantic-core (no intermediate dicts); errors are located under `body`."""
    if not raw.strip():
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "a JSON body is required", "type": "missing"}]
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_context=False)]
        ) from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` declaring `model` as the JSON request body (registered by `add_body_schemas`)."""
    BODY_MODELS[model.__name__] = model
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def add_body_schemas(app: FastAPI) -> None:
    """Publish the models that `body_schema` names in the app's OpenAPI components."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in BODY_MODELS.values():
                js = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(js.pop("$defs", {}))
                components[model.__name__] = js
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
