"""POST /v1/records, /v1/labels and /v1/stats: validated, authenticated, idempotent by batch id."""

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
    r = APIRouter(prefix=wire.API_PREFIX, tags=["ingest"], route_class=route_class)

    @r.post(
        "/records",
        response_model=Accepted,
        operation_id="postRecords",
        summary="Store a batch of sampled prediction records",
        openapi_extra=body_schema(RecordBatch),
    )
    def post_records(raw: RawBody, ctx: Ctx, _: Ingest) -> Accepted:
        return service.store_records(ctx, parse(RecordBatch, raw))

    @r.post(
        "/labels",
        response_model=Accepted,
        operation_id="postLabels",
        summary="Store ground truth by record id",
        openapi_extra=body_schema(LabelBatch),
    )
    def post_labels(raw: RawBody, ctx: Ctx, _: Ingest) -> Accepted:
        return service.store_labels(ctx, parse(LabelBatch, raw))

    @r.post(
        "/stats",
        response_model=Accepted,
        operation_id="postStats",
        summary="Store the SDK's exact counters",
        openapi_extra=body_schema(StatsBatch),
    )
    def post_stats(raw: RawBody, ctx: Ctx, _: Ingest) -> Accepted:
        return service.store_stats(ctx, parse(StatsBatch, raw))

    return r
