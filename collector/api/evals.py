"""POST /v1/evals: eval verdicts (a judge's or a reviewer's pass or fail) on a generative model's answers,
joined to records by id like labels (`collector.evals`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from collector import evals, service
from collector.auth import Principal
from collector.body import RawBody, body_schema, parse
from collector.context import Ctx, require
from collector.schemas import EvalBatch, EvalsAccepted
from sdk.wire import EVALS_PATH

Ingest = Annotated[Principal, Depends(require("ingest"))]


def post_evals(principal: Ingest, raw: RawBody, ctx: Ctx) -> EvalsAccepted:
    batch = parse(EvalBatch, raw)
    service.authorize(ctx, principal, batch.model, ["body", "model"])
    return evals.store_evals(ctx, batch)


def router(route_class: type) -> APIRouter:
    """The eval verdicts route (ingest token)."""
    r = APIRouter(tags=["ingest"], route_class=route_class)
    r.post(
        EVALS_PATH,
        response_model=EvalsAccepted,
        operation_id="postEvals",
        summary="Store eval verdicts (judge or human, pass or fail) on a generative model's answers",
        openapi_extra=body_schema(EvalBatch),
    )(post_evals)
    return r
