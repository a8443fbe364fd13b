"""POST /v1/inference/{model}: an Open Inference Protocol v2 request and response (Triton, KServe v2,
MLServer); POST /v1/cloudevents: KServe's and Seldon Core's inference-logger CloudEvents, binary or
structured, their request and response halves paired by event id. Both become the records POST /v1/records
stores, through the same ingest (`service.store_records`): redacted, counted and aggregated alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Annotated, Any

from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.exceptions import BaseCloudEventException, CloudEventValidationError
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from collector import db, inference, service
from collector.auth import Principal
from collector.body import Body, RawBody, body_schema
from collector.context import AppContext, Ctx, require
from collector.pairing import Half
from collector.schemas import Accepted, RecordBatch
from collector.service import InputError
from spec import Model

Ingest = Annotated[Principal, Depends(require("ingest"))]
#: The inference-logger event types, by the half they carry: KServe's, then Seldon Core's.
EVENT_TYPES: dict[str, Half] = {
    "org.kubeflow.serving.inference.request": "request",
    "org.kubeflow.serving.inference.response": "response",
    "io.seldon.serving.inference.request": "request",
    "io.seldon.serving.inference.response": "response",
}
#: Extension attributes naming the model, in the order they are read (KServe's InferenceService, Seldon's
#: deployment, Seldon's model id), after the `model` query parameter.
MODEL_ATTRIBUTES = ("inferenceservicename", "modelid")
#: The version of records whose request, response and query name none.
UNKNOWN_VERSION = "unknown"
ModelQuery = Annotated[
    str | None,
    Query(description="The monitored model; default: the event's inferenceservicename or modelid."),
]
VersionQuery = Annotated[
    str | None, Query(description="The model version; default: the response's model_version, else 'unknown'.")
]


class TensorIn(BaseModel):
    """One named tensor of the Open Inference Protocol v2 (documentation only: checked by collector.inference)."""

    name: str
    shape: list[int]
    datatype: str = Field(description="BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BF16 or BYTES.")
    data: list[Any] = Field(description="Row-major values, flat or nested as the shape.")


class InferenceIn(BaseModel):
    """A v2 request with its response's outputs, or {"request": ..., "response": ...}."""

    id: str | None = Field(
        None, description="The request id: record ids are it, or `<id>-<row>` for a batch."
    )
    model_version: str | None = None
    inputs: list[TensorIn] | None = None
    outputs: list[TensorIn] | None = None
    request: dict[str, Any] | None = Field(None, description="A whole v2 inference request.")
    response: dict[str, Any] | None = Field(None, description="A whole v2 inference response.")


class InferenceAccepted(Accepted):
    pending: bool = Field(
        False,
        description="True when this event waits for its other half (same id) before anything is stored.",
    )


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(422, ["body"], f"the body is not JSON ({exc}): send the v2 inference JSON") from None


def _declared(ctx: AppContext, model: str, loc: list[str | int]) -> Model:
    declared = ctx.spec.model(model) if ctx.spec else None
    if declared is None:
        raise InputError(
            422,
            loc,
            f"model {model!r} is not declared in the spec: tensors map to the features declared there "
            "(models[].features, models[].tensors)",
        )
    return declared


def _store(
    ctx: AppContext,
    raw: Body,
    model: Model,
    *,
    request_id: str,
    version: str,
    ts: Any,
    rows: list[dict[str, Any]],
    outs: list[tuple[Any, float | None]] | None,
) -> Accepted:
    """The rows as one record batch (its id taken from the request id), through the SDK records' ingest."""
    if outs is not None and len(outs) != len(rows):
        raise InputError(
            422,
            ["body", "outputs"],
            f"the request has {len(rows)} rows but the response {len(outs)}: pair them",
        )
    ids = inference.record_ids(request_id, len(rows))
    records = [
        {
            "id": ids[i],
            "ts": ts,
            "features": row,
            "prediction": outs[i][0] if outs else None,
            "score": outs[i][1] if outs else None,
            "slices": inference.slices(model, row),
        }
        for i, row in enumerate(rows)
    ]
    batch_id = "inference-" + hashlib.sha256(f"{model.name}\x00{request_id}".encode()).hexdigest()[:40]
    try:
        batch = RecordBatch.model_validate(
            {"batch_id": batch_id, "model": model.name, "version": version, "records": records},
            context=raw.context,
        )
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    return service.store_records(ctx, batch)


def post_inference(
    model: str, principal: Ingest, raw: RawBody, ctx: Ctx, version: VersionQuery = None
) -> Accepted:
    service.authorize(ctx, principal, model, ["path", "model"], missing=404)
    declared = _declared(ctx, model, ["path", "model"])
    body = _json(raw)
    if not isinstance(body, dict):
        raise InputError(
            422, ["body"], "send a JSON object: a v2 request with its outputs, or request and response"
        )
    if "request" in body:
        loc: list[str | int] = ["body", "request"]
        request, response = body["request"], body.get("response")
    else:
        loc = ["body"]
        request, response = body, (body if "outputs" in body else None)
    rows = inference.features(declared, inference.decode(request, "inputs", loc), loc)
    outs = None
    if response is not None:
        rloc: list[str | int] = ["body", "response"] if "request" in body else ["body"]
        outs = inference.outputs(declared, inference.decode(response, "outputs", rloc), rloc)
    request_id = request.get("id") if isinstance(request.get("id"), str) and request.get("id") else None
    params = request.get("parameters")
    when = params.get("timestamp") if isinstance(params, dict) else None
    answered = response.get("model_version") if isinstance(response, dict) else None
    return _store(
        ctx,
        raw,
        declared,
        request_id=request_id or uuid.uuid4().hex,
        version=version or (answered if isinstance(answered, str) and answered else UNKNOWN_VERSION),
        ts=when if when is not None else db.utcnow(),
        rows=rows,
        outs=outs,
    )


def _event(request: Request, raw: bytes) -> Any:
    """The CloudEvent of a binary or structured request, parsed by the `cloudevents` package."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    binary = any(k.startswith("ce-") for k in headers)
    if binary and not headers.get("ce-id", "").strip():
        raise InputError(
            422, ["header", "ce-id"], "missing ce-id: the logger's event id pairs request and response"
        )
    try:
        return from_http_event(HTTPMessage(headers=headers, body=raw))
    except CloudEventValidationError as exc:
        attr = next(iter(exc.errors), "event")
        where: list[str | int] = ["header", f"ce-{attr}"] if binary else ["body", attr]
        raise InputError(
            422,
            where,
            f"missing or invalid CloudEvent attribute {attr!r} ({exc.errors[attr][0]}): binary mode sends it "
            f"as the ce-{attr} header, structured mode as the {attr!r} field",
        ) from None
    except (BaseCloudEventException, ValueError, TypeError, KeyError) as exc:
        raise InputError(
            422, ["body"], f"not a CloudEvent ({exc}): send binary mode (ce-* headers) or structured JSON"
        ) from None


def post_cloudevent(
    request: Request,
    principal: Ingest,
    raw: RawBody,
    ctx: Ctx,
    model: ModelQuery = None,
    version: VersionQuery = None,
) -> InferenceAccepted:
    event = _event(request, raw)
    half = EVENT_TYPES.get(event.get_type())
    if half is None:
        raise InputError(
            422,
            ["header", "ce-type"],
            f"event type {event.get_type()!r} is not an inference request or response: this endpoint takes "
            f"{', '.join(EVENT_TYPES)}",
        )
    attributes = event.get_attributes()
    name = model or next((attributes[a] for a in MODEL_ATTRIBUTES if attributes.get(a)), None)
    if not isinstance(name, str):
        raise InputError(
            422,
            ["header", "ce-inferenceservicename"],
            "no model: the event carries no ce-inferenceservicename or ce-modelid; add ?model=NAME to the logger URL",
        )
    service.authorize(ctx, principal, name, ["query", "model"])
    declared = _declared(ctx, name, ["query", "model"])
    data = event.get_data()
    if isinstance(data, bytes | str):
        data = _json(data.encode() if isinstance(data, str) else data)
    value: Any
    if half == "request":
        when = event.get_time()
        value = (inference.features(declared, inference.decode(data, "inputs", ["body"]), ["body"]), when)
    else:
        answered = data.get("model_version") if isinstance(data, dict) else None
        value = (inference.outputs(declared, inference.decode(data, "outputs", ["body"]), ["body"]), answered)
    assert ctx.pairing is not None
    other = ctx.pairing.offer(name, event.get_id(), half, value, len(raw))
    if other is None:
        return InferenceAccepted(accepted=0, pending=True)
    (rows, when), (outs, answered) = (value, other.value) if half == "request" else (other.value, value)
    stored = _store(
        ctx,
        raw,
        declared,
        request_id=event.get_id(),
        version=version or (answered if isinstance(answered, str) and answered else UNKNOWN_VERSION),
        ts=when if isinstance(when, dt.datetime) else db.utcnow(),
        rows=rows,
        outs=outs,
    )
    return InferenceAccepted(accepted=stored.accepted, duplicate=stored.duplicate)


_CLOUDEVENT_BODY = {
    "requestBody": {
        "required": True,
        "description": "Binary mode: the v2 request or response as the body, attributes as ce-* headers "
        "(ce-id, ce-type, ce-source, ce-specversion, ce-inferenceservicename...). Structured mode: "
        "Content-Type application/cloudevents+json, attributes and data in the body.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/InferenceIn"}},
            "application/cloudevents+json": {"schema": {"type": "object"}},
        },
    }
}


def router(route_class: type) -> APIRouter:
    """The model-server routes under /v1: v2 inference bodies and inference-logger CloudEvents (ingest)."""
    r = APIRouter(prefix="/v1", tags=["ingest"], route_class=route_class)
    r.post(
        "/inference/{model}",
        response_model=Accepted,
        operation_id="postInference",
        summary="Store an Open Inference Protocol v2 request and response as records",
        openapi_extra=body_schema(InferenceIn),
    )(post_inference)
    r.post(
        "/cloudevents",
        response_model=InferenceAccepted,
        operation_id="postCloudEvent",
        summary="Store KServe's or Seldon Core's inference-logger CloudEvents, paired by event id",
        openapi_extra=_CLOUDEVENT_BODY,
    )(post_cloudevent)
    return r
