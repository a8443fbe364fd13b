"""POST /v1/otlp/v1/traces and /v1/otlp/v1/metrics: an OTLP/HTTP receiver (protobuf or JSON), authenticated
with an ingest token like the other ingest endpoints. Point an exporter's ``OTEL_EXPORTER_OTLP_ENDPOINT`` at
``<collector>/v1/otlp`` with the header ``Authorization=Bearer <token>``; `collector.otlp` says what maps to what.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from pydantic import BaseModel, ValidationError

from collector import evals, otlp, service
from collector.auth import Principal
from collector.body import RawBody
from collector.context import AppContext, Ctx, require
from collector.schemas import MAX_EVALS_PER_BATCH, EvalBatch, RecordBatch, StatsBatch
from sdk.wire import DEFAULT_LATENCY_BOUNDS, MAX_RECORDS_PER_BATCH, OTLP_METRICS_PATH, OTLP_TRACES_PATH

Ingest = Annotated[Principal, Depends(require("ingest"))]
_LOCK = threading.Lock()
#: When this collector process started: a cumulative stream that began before it only sets a baseline.
_STARTED_NS = time.time_ns()


def _streams(request: Request) -> otlp.Streams:
    """This app's cumulative metric streams (one per app, made on first use)."""
    with _LOCK:
        streams = getattr(request.app.state, "otlp_streams", None)
        if streams is None:
            streams = request.app.state.otlp_streams = otlp.Streams(_STARTED_NS)
        return streams


def _bounds(ctx: AppContext) -> Callable[[str, str], tuple[float, ...]]:
    return lambda model, version: ctx.state.bounds_for(model, version) or DEFAULT_LATENCY_BOUNDS


def _validated(model: type[BaseModel], body: dict[str, Any], raw: Any, loc: list[str | int]) -> Any:
    try:
        return model.model_validate(body, context=raw.context)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": (*loc, *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def _store(ctx: AppContext, principal: Principal, raw: Any, calls: dict[tuple[str, str], otlp.Calls]) -> None:
    """Every model version's calls as stats, record and eval batches: all checked before any is stored."""
    stats: list[StatsBatch] = []
    records: list[RecordBatch] = []
    verdicts: list[EvalBatch] = []
    for (model, version), c in calls.items():
        service.authorize(ctx, principal, model, ["body", "resource", "service.name"])
        stats.append(_validated(StatsBatch, c.stats(otlp.batch_id("s", raw, model, version)), raw, ["body"]))
        for part, i in enumerate(range(0, len(c.records), MAX_RECORDS_PER_BATCH)):
            body = {
                "batch_id": otlp.batch_id("r", raw, model, version, part),
                "model": model,
                "version": version,
                "records": c.records[i : i + MAX_RECORDS_PER_BATCH],
            }
            records.append(_validated(RecordBatch, body, raw, ["body", "spans"]))
        for i in range(0, len(c.evals), MAX_EVALS_PER_BATCH):
            judged = {"model": model, "version": version, "evals": c.evals[i : i + MAX_EVALS_PER_BATCH]}
            verdicts.append(_validated(EvalBatch, judged, raw, ["body", "events"]))
    for batch in stats:
        problems = batch.problems()
        if problems:
            raise service.InputError(422, ["body", problems[0][0]], problems[0][1])
    for r in records:
        service.store_records(ctx, r)
    for s in stats:
        service.store_stats(ctx, s)
    for v in verdicts:  # after the records: a verdict counts for its record's version
        evals.store_evals(ctx, v)


def _answer(request: Request, message: Message) -> Response:
    """The OTLP success answer, in the request's encoding."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == otlp.PROTOBUF:
        return Response(message.SerializeToString(), media_type=otlp.PROTOBUF)
    return Response(json_format.MessageToJson(message), media_type=otlp.JSON)


def post_traces(request: Request, principal: Ingest, raw: RawBody, ctx: Ctx) -> Response:
    req = otlp.decode(ExportTraceServiceRequest, raw, request.headers.get("content-type", ""))
    calls = otlp.span_calls(req, _bounds(ctx))
    _store(ctx, principal, raw, calls)
    answer = ExportTraceServiceResponse()
    unjudged = sum(c.unjudged for c in calls.values())
    if unjudged:  # OTLP's partial success: every span was stored, these evaluation events were not
        answer.partial_success.error_message = (
            f"{unjudged} gen_ai.evaluation.result event(s) without a pass or fail gen_ai.evaluation.score.label "
            f"were not stored as eval verdicts (labels read: {', '.join(sorted(otlp.PASS_LABELS))})"
        )
    return _answer(request, answer)


def post_metrics(request: Request, principal: Ingest, raw: RawBody, ctx: Ctx) -> Response:
    req = otlp.decode(ExportMetricsServiceRequest, raw, request.headers.get("content-type", ""))
    _store(ctx, principal, raw, otlp.metric_calls(req, _streams(request), _bounds(ctx)))
    return _answer(request, ExportMetricsServiceResponse())


def _body(what: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": f"An OTLP {what} export (opentelemetry-proto), protobuf or OTLP/JSON.",
            "content": {
                otlp.JSON: {"schema": {"type": "object"}},
                otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        "responses": {
            "200": {
                "description": f"Stored: an empty Export{what}ServiceResponse in the request's encoding.",
                "content": {otlp.JSON: {"schema": {"type": "object"}}, otlp.PROTOBUF: {}},
            }
        },
    }


def router(route_class: type) -> APIRouter:
    """The OTLP/HTTP routes: GenAI spans become calls and records, GenAI latency metrics histograms (ingest)."""
    r = APIRouter(tags=["ingest"], route_class=route_class)
    r.post(
        OTLP_TRACES_PATH,
        operation_id="postOtlpTraces",
        summary="Store OpenTelemetry spans of model calls (gen_ai.*) as calls, tokens and records",
        openapi_extra=_body("Trace"),
        response_class=Response,
    )(post_traces)
    r.post(
        OTLP_METRICS_PATH,
        operation_id="postOtlpMetrics",
        summary="Store OpenTelemetry GenAI time-to-first-token and time-per-output-token histograms",
        openapi_extra=_body("Metrics"),
        response_class=Response,
    )(post_metrics)
    return r
