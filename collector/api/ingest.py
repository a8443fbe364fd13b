"""POST /v1/records, /v1/labels and /v1/stats: validated, authenticated, idempotent by batch id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from collector import db, repository, service
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
        batch = parse(StatsBatch, raw)
        service.known_model(ctx, batch.model, ["body", "model"])
        problems = batch.problems()
        if problems:
            field, msg = problems[0]
            raise service.InputError(422, ["body", field], msg)
        seen = ctx.state.bounds_for(batch.model, batch.version)
        if seen is not None and seen != tuple(batch.latency_bounds):
            raise service.InputError(
                422,
                ["body", "latency_bounds"],
                f"differ from the bounds this model version already reported ({list(seen)}): "
                "one model version must use one set of latency buckets",
            )
        row = batch.model_dump()
        row["received_at"] = db.utcnow()
        with ctx.sessions.begin() as s:
            if not repository.claim_batch(
                s, batch_id=batch.batch_id, kind="stats", model=batch.model, size=1
            ):
                return Accepted(accepted=0, duplicate=True)
            repository.insert_stats(s, row=row)
        ctx.state.add_stats(
            model=batch.model,
            version=batch.version,
            ok=batch.ok,
            error=batch.error,
            bounds=batch.latency_bounds,
            counts=batch.latency_counts,
            latency_sum=batch.latency_sum,
            dropped=batch.dropped,
            end=batch.end.timestamp(),
        )
        return Accepted(accepted=1)

    return r
