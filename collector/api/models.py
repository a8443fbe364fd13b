"""GET /v1/models and the read endpoints of one model; POST /v1/models registers a model without a spec.

Every read goes through `collector.reads`, the read path `driftline report` shares. Each route is a
module-level function; `router` only registers them, in the order the OpenAPI document lists them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from collector import db, reads, repository, service
from collector.api import paging
from collector.auth import Principal
from collector.body import RawBody, body_schema, parse
from collector.context import AppContext, Ctx, require
from collector.schemas import (
    Accepted,
    AttributionPointOut,
    DeployOut,
    DriftPointOut,
    ModelIn,
    ModelOut,
    PerformancePointOut,
    QualityPointOut,
    RecordOut,
)
from collector.service import InputError
from sdk import wire
from spec import parse_duration

Read = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Limit = Annotated[int, Query(ge=1, le=10000)]
WindowQuery = Annotated[
    str | None,
    Query(description="Only windows of this length, e.g. 1h or 1d (one of the model's drift.window)."),
]
METRIC_HELP = "accuracy, precision, recall, f1, roc_auc, log_loss, ece, estimated_accuracy; mae, rmse, mape"

#: A series read's 200 answer: one page, and the next page's address when this one is full.
PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page of points, newest window first.",
        "headers": {
            "Link": {
                "description": 'Present when the page is full: `<URL>; rel="next"`, the same read starting after '
                "this page's last point (RFC 8288).",
                "schema": {"type": "string"},
            }
        },
    }
}

# A route's docstring is its OpenAPI description: the routes that have none say what they do in a comment.


def _window_seconds(window: str | None) -> int | None:
    """The `window` query parameter in seconds; 422 naming the parameter when it is not a duration."""
    if window is None:
        return None
    try:
        seconds = parse_duration(window)
    except ValueError as exc:
        raise InputError(422, ["query", "window"], str(exc)) from None
    if seconds <= 0:
        raise InputError(422, ["query", "window"], f"{window!r} must be longer than zero, e.g. 1h")
    return seconds


@dataclass(frozen=True)
class Span:
    """Which windows a series read returns: one length (or every length), starting in [since, until), at
    most `limit` points, newest first."""

    window_seconds: int | None
    since: dt.datetime | None
    until: dt.datetime | None
    limit: int
    cursor: str | None = None  # checked by the route, which knows its kind: `paging.decode`


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    return None if t is None else t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def span(
    window: WindowQuery = None,
    since: Annotated[
        dt.datetime | None, Query(description="Only windows starting at or after this time (ISO-8601; UTC if no zone).")
    ] = None,
    until: Annotated[dt.datetime | None, Query(description="Only windows starting before this time.")] = None,
    limit: Limit = 1000,
    cursor: Annotated[
        str | None,
        Query(description="Start after the last point of the previous page: the cursor of its Link header."),
    ] = None,
) -> Span:
    """The span query parameters every series read takes, checked: 422 naming the one that is wrong."""
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and until <= since:
        raise InputError(422, ["query", "until"], "until must be later than since: no window starts in between")
    return Span(_window_seconds(window), since, until, limit, cursor)


Spanned = Annotated[Span, Depends(span)]


def _registered(ctx: AppContext, principal: Principal, model: str) -> None:
    """403 for another project's model; 404 for one the collector does not know, naming the token's."""
    service.authorize(ctx, principal, model, ["path", "model"], missing=404)


def list_models(principal: Read, ctx: Ctx) -> list[ModelOut]:
    """Only the models of the token's project (every model for a global token)."""
    declared = {m.name for m in ctx.spec.models} if ctx.spec else set()
    with ctx.sessions() as s:
        summaries = reads.model_summaries(s, ctx.models_of(principal))
    return [
        ModelOut(
            name=m.name,
            versions=m.versions,
            records=m.records,
            declared=m.name in declared,
            project=ctx.project_of(m.name),
        )
        for m in summaries
    ]


# Register a model in the token's project (or the one named); a name is taken by one project only.
def register_model(principal: Admin, raw: RawBody, ctx: Ctx) -> Accepted:
    # the token is checked before the body is read or parsed: a bad token is a 401 whatever the body
    body = parse(ModelIn, raw)
    project = body.project or principal.project or db.DEFAULT_PROJECT
    if not principal.owns(project):
        raise InputError(
            403,
            ["body", "project"],
            f"this token belongs to project {principal.project_label!r}: leave `project` out or name it",
        )
    if body.name in ctx.known_models and ctx.project_of(body.name) != project:
        raise InputError(
            409,
            ["body", "name"],
            f"model name {body.name!r} is taken by another project: choose another name",
        )
    with ctx.sessions.begin() as s:
        repository.register_models(s, names=[body.name], source="api", project=project)
    new = body.name not in ctx.known_models
    ctx.model_projects[body.name] = project
    ctx.known_models.add(body.name)
    return Accepted(accepted=int(new), duplicate=not new)


# Drift per feature and window of one model, newest first.
def get_drift(
    model: str,
    ctx: Ctx,
    principal: Read,
    span: Spanned,
    request: Request,
    response: Response,
    version: str | None = None,
    feature: str | None = None,
    metric: str | None = None,
) -> list[DriftPointOut]:
    _registered(ctx, principal, model)
    with ctx.sessions() as s:
        points = reads.drift_points(
            s, model=model, version=version, feature=feature, metric=metric, window_seconds=span.window_seconds,
            since=span.since, until=span.until, limit=span.limit, after=paging.decode("drift", span.cursor),
        )  # fmt: skip
        paging.link_next("drift", points, span.limit, request, response)
        return [DriftPointOut.model_validate(p, from_attributes=True) for p in points]


# Realized performance per slice and window of one model, newest first.
def get_performance(
    model: str,
    ctx: Ctx,
    principal: Read,
    span: Spanned,
    request: Request,
    response: Response,
    version: str | None = None,
    slice: str | None = None,
    metric: Annotated[str | None, Query(description=METRIC_HELP)] = None,
) -> list[PerformancePointOut]:
    _registered(ctx, principal, model)
    with ctx.sessions() as s:
        points = reads.performance_points(
            s, model=model, version=version, slice_=slice, metric=metric, window_seconds=span.window_seconds,
            since=span.since, until=span.until, limit=span.limit, after=paging.decode("performance", span.cursor),
        )  # fmt: skip
        paging.link_next("performance", points, span.limit, request, response)
        return [PerformancePointOut.model_validate(p, from_attributes=True) for p in points]


# Mean |SHAP| per feature and window of one model, newest first.
def get_attributions(
    model: str,
    ctx: Ctx,
    principal: Read,
    span: Spanned,
    request: Request,
    response: Response,
    version: str | None = None,
    feature: str | None = None,
    kind: Annotated[str | None, Query(pattern="^(prediction|loss)$")] = None,
) -> list[AttributionPointOut]:
    _registered(ctx, principal, model)
    with ctx.sessions() as s:
        points = reads.attribution_points(
            s, model=model, version=version, feature=feature, kind=kind, window_seconds=span.window_seconds,
            since=span.since, until=span.until, limit=span.limit, after=paging.decode("attributions", span.cursor),
        )  # fmt: skip
        paging.link_next("attributions", points, span.limit, request, response)
        return [AttributionPointOut.model_validate(p, from_attributes=True) for p in points]


# The newest sampled records of one model with their labels and top features.
def get_records(
    model: str,
    ctx: Ctx,
    principal: Read,
    version: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    top: Annotated[int, Query(ge=1, le=50)] = 3,
) -> list[RecordOut]:
    _registered(ctx, principal, model)
    with ctx.sessions() as s:
        return reads.recent_records(s, model=model, version=version, limit=limit, top=top)


# When each version of one model was first seen.
def get_deploys(model: str, ctx: Ctx, principal: Read) -> list[DeployOut]:
    _registered(ctx, principal, model)
    with ctx.sessions() as s:
        return [DeployOut.model_validate(d, from_attributes=True) for d in reads.deploys(s, model=model)]


# Data-quality checks per feature and window of one model, newest first.
def get_quality(
    model: str,
    ctx: Ctx,
    principal: Read,
    span: Spanned,
    request: Request,
    response: Response,
    version: str | None = None,
    feature: str | None = None,
    check: str | None = None,
) -> list[QualityPointOut]:
    _registered(ctx, principal, model)
    with ctx.sessions() as s:
        points = reads.quality_points(
            s, model=model, version=version, feature=feature, check=check, window_seconds=span.window_seconds,
            since=span.since, until=span.until, limit=span.limit, after=paging.decode("quality", span.cursor),
        )  # fmt: skip
        paging.link_next("quality", points, span.limit, request, response)
        return [QualityPointOut.model_validate(q, from_attributes=True) for q in points]


# Slices significantly worse than the whole in one window of a model declared in the spec.
def get_worst_slices(
    model: str, ctx: Ctx, principal: Read, window_start: dt.datetime | None = None, min_support: int = 30
) -> dict[str, Any]:
    _registered(ctx, principal, model)
    m = ctx.spec.model(model) if ctx.spec else None
    if m is None:
        raise InputError(404, ["path", "model"], f"model {model!r} is not declared in the spec")
    with ctx.sessions() as s:
        window, findings = reads.worst_slices_in(s, m, window_start, min_support, db.utcnow())
    if window is None:
        return {"model": model, "window_start": None, "findings": []}
    return {
        "model": model,
        "window_start": window,
        "findings": [
            {
                "slice": f.label,
                "value": f.value,
                "lower": f.lower,
                "upper": f.upper,
                "support": f.support,
                "overall": f.overall,
                "drop_points": f.drop_points,
                "p_adjusted": f.p_adjusted,
                "describe": f.describe(),
            }
            for f in findings
        ],
    }


def evaluate_now(ctx: Ctx, principal: Admin) -> dict[str, int]:
    """Evaluates every project's pending windows (one pass serves all); counts only the token's."""
    keys = ctx.evaluator.tick()
    return {"windows": sum(principal.owns(ctx.project_of(k.model)) for k in keys)}


def router(route_class: type) -> APIRouter:
    """The models router: every route above under /v1, with its OpenAPI operation id and summary."""
    r = APIRouter(prefix=wire.API_PREFIX, tags=["models"], route_class=route_class)
    r.get(
        "/models",
        response_model=list[ModelOut],
        operation_id="listModels",
        summary="Models and their versions",
    )(list_models)
    r.post(
        "/models",
        response_model=Accepted,
        operation_id="registerModel",
        summary="Accept data for a model, in the token's project",
        openapi_extra=body_schema(ModelIn),
    )(register_model)
    r.get(
        "/models/{model}/drift",
        response_model=list[DriftPointOut],
        operation_id="getDrift",
        responses=PAGED,
        summary="Drift per feature and event-time window, newest first",
    )(get_drift)
    r.get(
        "/models/{model}/performance",
        response_model=list[PerformancePointOut],
        operation_id="getPerformance",
        responses=PAGED,
        summary="Realized performance per slice and event-time window on delayed labels, newest first",
    )(get_performance)
    r.get(
        "/models/{model}/attributions",
        response_model=list[AttributionPointOut],
        operation_id="getAttributions",
        responses=PAGED,
        summary="Mean |SHAP| per feature and event-time window, and its drift against the reference",
    )(get_attributions)
    r.get(
        "/models/{model}/records",
        response_model=list[RecordOut],
        operation_id="getRecentRecords",
        summary="The newest sampled records with their label and top contributing features (SHAP)",
    )(get_records)
    r.get(
        "/models/{model}/deploys",
        response_model=list[DeployOut],
        operation_id="getDeploys",
        summary="When each version of the model was first seen serving",
    )(get_deploys)
    r.get(
        "/models/{model}/quality",
        response_model=list[QualityPointOut],
        operation_id="getQuality",
        responses=PAGED,
        summary="Data-quality checks per feature and event-time window, newest first",
    )(get_quality)
    r.get(
        "/models/{model}/slices/worst",
        operation_id="getWorstSlices",
        summary="Slices (and pairs of slice columns) significantly worse than the whole, in one window",
    )(get_worst_slices)
    r.post("/evaluate", operation_id="evaluateNow", summary="Evaluate every window that received data, now")(
        evaluate_now
    )
    return r
