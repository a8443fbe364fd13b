"""POST /v1/references: a reference sample (columns) or its binned summary, fitted once and stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from collector import service
from collector.auth import Principal
from collector.body import RawBody, body_schema, parse
from collector.context import Ctx, require
from collector.schemas import ReferenceIn, ReferenceOut
from sdk import wire


def router(route_class: type) -> APIRouter:
    """The reference route under /v1: fit a baseline once and store it.
    Route handlers carry no docstring: a docstring would become their OpenAPI description."""
    r = APIRouter(prefix=wire.API_PREFIX, tags=["references"], route_class=route_class)

    @r.post(
        "/references",
        response_model=ReferenceOut,
        operation_id="postReference",
        summary="Fit and store a reference (baseline) for drift",
        openapi_extra=body_schema(ReferenceIn),
    )
    def post_reference(
        principal: Annotated[Principal, Depends(require("ingest"))], raw: RawBody, ctx: Ctx
    ) -> ReferenceOut:
        # the token is checked before the body is read: a bad token is a 401 whatever the body
        body = parse(ReferenceIn, raw)
        service.authorize(ctx, principal, body.model, ["body", "model"])
        return service.store_reference(ctx, body, token_id=principal.token_id)

    return r
