"""GET /v1/models/{model}/compare and POST /v1/models/{model}/compare/flagger: a canary or shadow version
against its baseline, with an always-valid pass / fail / inconclusive verdict (see `collector.compare`).

The GET answer carries `verdict` at its top level, for an Argo Rollouts web metric
(`successCondition: result.verdict == "pass"`); the POST takes Flagger's webhook payload
({name, namespace, phase, metadata}) and answers 200 or 412, which Flagger reads as pass or fail.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from collector import compare, db, repository, service
from collector.api.models import _utc
from collector.auth import Principal
from collector.body import RawBody, body_schema, parse
from collector.context import AppContext, Ctx, require
from collector.service import InputError
from sdk import wire
from spec import parse_duration

Read = Annotated[Principal, Depends(require("read"))]
#: The range when neither `since` nor `window` is given and the candidate has no deploy (no SDK stats yet).
FALLBACK_WINDOW = dt.timedelta(hours=1)


class FlaggerWebhook(BaseModel):
    """Flagger's webhook payload; `metadata` carries the comparison's parameters (strings, as Flagger sends)."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(description="The Canary resource's name.")
    namespace: str = Field(description="Its namespace.")
    phase: str = Field(description="The canary's phase, e.g. Progressing.")
    metadata: dict[str, str] = Field(
        default_factory=dict,
        description="baseline, candidate (required); window, since, until, alpha, margin, shadow; "
        'require: "pass" (200 only on pass: a confirm-promotion gate) or "not-fail" (default: 200 unless fail).',
    )


def _window(value: str, loc: list[str | int]) -> dt.timedelta:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise InputError(422, loc, str(exc)) from None
    if seconds <= 0:
        raise InputError(422, loc, f"{value!r} must be longer than zero, e.g. 1h")
    return dt.timedelta(seconds=seconds)


def _run(ctx: AppContext, principal: Principal, model: str, baseline: str, candidate: str,
         since: dt.datetime | None, until: dt.datetime | None, window: str | None, options: compare.Options,
         where: str) -> dict[str, Any]:
    """Check the parameters (naming the one at fault, under `where`) and compare."""
    service.authorize(ctx, principal, model, ["path", "model"], missing=404)
    if baseline == candidate:
        raise InputError(422, [where, "candidate"], f"candidate equals baseline ({baseline!r}): name two versions")
    end = _utc(until) or db.utcnow()
    span = _window(window, [where, "window"]) if window is not None else None
    with ctx.sessions() as s:
        versions = repository.model_versions(s).get(model, [])
        for field, v in (("baseline", baseline), ("candidate", candidate)):
            if v not in versions:
                raise InputError(
                    404, [where, field],
                    f"model {model!r} has no version {v!r} (versions: {', '.join(versions) or 'none yet'})",
                )
        start, source = _utc(since), "since"
        if start is None and span is not None:
            start, source = end - span, "window"
        if start is None:
            deployed = [d.first_seen for d in repository.deploys(s, model=model) if d.version == candidate]
            start, source = (_utc(deployed[0]), "deploy") if deployed else (end - FALLBACK_WINDOW, "fallback")
        assert start is not None
        if end <= start:
            raise InputError(422, [where, "until"], f"until ({end.isoformat()}) must be later than since "
                             f"({start.isoformat()}, from {source})")
        out = compare.compare(s, model=model, baseline=baseline, candidate=candidate, start=start, end=end,
                              options=options)
        return {**out, "since_from": source}


# A candidate version against its baseline: input and prediction drift, accuracy, error and latency
# differences with intervals, shadow agreement, and an always-valid sequential verdict.
def get_compare(
    model: str,
    principal: Read,
    ctx: Ctx,
    baseline: Annotated[str, Query(description="The version serving now (or the primary of a shadow).")],
    candidate: Annotated[str, Query(description="The canary (or shadow) version.")],
    since: Annotated[
        dt.datetime | None, Query(description="Start of the range (ISO-8601; default until - window).")
    ] = None,
    until: Annotated[dt.datetime | None, Query(description="End of the range (default now).")] = None,
    window: Annotated[str | None, Query(
        description="The range's length when since is left out, e.g. 1h. Neither: since the candidate was first "
        "seen serving (a growing sample, as the sequential guarantee wants), or the last hour without a deploy."
    )] = None,
    shadow: Annotated[bool, Query(description="Also the agreement of predictions on equal record ids.")] = False,
    alpha: Annotated[float, Query(gt=0, lt=1, description="The sequential test's level (false fail rate).")] = 0.05,
    margin: Annotated[float, Query(ge=0, lt=1, description="How much higher a bad-event rate may be and pass.")] = 0.01,
) -> dict[str, Any]:
    options = compare.Options(alpha=alpha, margin=margin, shadow=shadow)
    return _run(ctx, principal, model, baseline, candidate, since, until, window, options, "query")


def _metadata_float(meta: dict[str, str], key: str, default: float) -> float:
    try:
        value = float(meta.get(key, default))
    except ValueError:
        raise InputError(422, ["body", "metadata", key], f"{meta[key]!r} is not a number") from None
    if not 0 <= value < 1:
        raise InputError(422, ["body", "metadata", key], f"{key} must lie in [0, 1), got {value}")
    return value


# Flagger's webhook: 200 when the comparison passes (or, by default, does not fail), 412 otherwise.
def flagger_compare(model: str, principal: Read, ctx: Ctx, raw: RawBody) -> JSONResponse:
    body = parse(FlaggerWebhook, raw)
    meta = body.metadata
    for key in ("baseline", "candidate"):
        if not meta.get(key):
            raise InputError(422, ["body", "metadata", key], f"metadata.{key} is required: the version to compare")
    requirement: Literal["pass", "not-fail"] = "pass" if meta.get("require") == "pass" else "not-fail"
    if meta.get("require") not in (None, "pass", "not-fail"):
        raise InputError(422, ["body", "metadata", "require"], 'require must be "pass" or "not-fail"')
    alpha = _metadata_float(meta, "alpha", 0.05)
    if alpha == 0:
        raise InputError(422, ["body", "metadata", "alpha"], "alpha must be above 0")
    options = compare.Options(alpha=alpha, margin=_metadata_float(meta, "margin", 0.01),
                              shadow=meta.get("shadow", "").lower() == "true")
    since = until = None
    try:
        since = dt.datetime.fromisoformat(meta["since"]) if meta.get("since") else None
        until = dt.datetime.fromisoformat(meta["until"]) if meta.get("until") else None
    except ValueError as exc:
        raise InputError(422, ["body", "metadata", "since"], f"since/until: {exc}") from None
    result = _run(ctx, principal, model, meta["baseline"], meta["candidate"], since, until,
                  meta.get("window"), options, "body")
    ok = result["verdict"] == "pass" or (requirement == "not-fail" and result["verdict"] != "fail")
    result["canary"] = {"name": body.name, "namespace": body.namespace, "phase": body.phase,
                        "require": requirement}
    return JSONResponse(result, status_code=200 if ok else 412)


VERDICT = {"description": "The comparison; `verdict` is pass, fail or inconclusive, `reason` says why."}


def router(route_class: type) -> APIRouter:
    """The comparison routes under /v1 (read scope)."""
    r = APIRouter(prefix=wire.API_PREFIX, tags=["compare"], route_class=route_class)
    r.add_api_route(
        "/models/{model}/compare", get_compare, methods=["GET"], operation_id="compareVersions",
        summary="A candidate version against its baseline, with an always-valid verdict",
        responses={200: VERDICT},
    )
    r.add_api_route(
        "/models/{model}/compare/flagger", flagger_compare, methods=["POST"], operation_id="compareFlagger",
        summary="Flagger webhook: 200 when the candidate passes (or does not fail), 412 otherwise",
        openapi_extra=body_schema(FlaggerWebhook),
        responses={200: VERDICT, 412: {"description": "The candidate failed (or, with require=pass, did not pass)."}},
    )
    return r
