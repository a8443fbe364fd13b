"""POST /v1/records, /v1/labels and /v1/stats: validated, authenticated, limited to the token's project,
idempotent by (model, batch id)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from collector import service
from collector.auth import Principal
from collector.body import RawBody, body_schema, parse
from collector.context import Ctx, require
from collector.schemas import Accepted, LabelBatch, RecordBatch, StatsBatch
from sdk import wire

Ingest = Annotated[Principal, Depends(require("ingest"))]


def router(route_class: type) -> APIRouter:
    """The ingest routes under /v1; each handler checks the token before it reads the body.
    Route handlers carry no docstring: a docstring would become their OpenAPI description."""
    r = APIRouter(prefix=wire.API_PREFIX, tags=["ingest"], route_class=route_class)

    @r.post(
        "/records",
        response_model=Accepted,
        operation_id="postRecords",
        summary="Store a batch of sampled prediction records",
        openapi_extra=body_schema(RecordBatch),
    )
    def post_records(principal: Ingest, raw: RawBody, ctx: Ctx) -> Accepted:
        batch = parse(RecordBatch, raw)
        service.authorize(ctx, principal, batch.model, ["body", "model"])
        return service.store_records(ctx, batch)

    @r.post(
        "/labels",
        response_model=Accepted,
        operation_id="postLabels",
        summary="Store ground truth by record id",
        openapi_extra=body_schema(LabelBatch),
    )
    def post_labels(principal: Ingest, raw: RawBody, ctx: Ctx) -> Accepted:
        batch = parse(LabelBatch, raw)
        service.authorize(ctx, principal, batch.model, ["body", "model"])
        return service.store_labels(ctx, batch)

    @r.post(
        "/stats",
        response_model=Accepted,
        operation_id="postStats",
        summary="Store the SDK's exact counters",
        openapi_extra=body_schema(StatsBatch),
    )
    def post_stats(principal: Ingest, raw: RawBody, ctx: Ctx) -> Accepted:
        batch = parse(StatsBatch, raw)
        service.authorize(ctx, principal, batch.model, ["body", "model"])
        return service.store_stats(ctx, batch)

    return r
