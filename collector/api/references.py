"""POST /v1/references: a reference sample (columns) or its binned summary, fitted once and stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from collector import service
from collector.auth import Principal
from collector.context import Ctx, require
from collector.schemas import ReferenceIn, ReferenceOut
from sdk import wire


def router(route_class: type) -> APIRouter:
    r = APIRouter(prefix=wire.API_PREFIX, tags=["references"], route_class=route_class)

    @r.post(
        "/references",
        response_model=ReferenceOut,
        operation_id="postReference",
        summary="Fit and store a reference (baseline) for drift",
    )
    def post_reference(
        body: ReferenceIn, ctx: Ctx, _: Annotated[Principal, Depends(require("ingest"))]
    ) -> ReferenceOut:
        return service.store_reference(ctx, body)

    return r
