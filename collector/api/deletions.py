"""POST /v1/models/{model}/deletions: remove a data subject's records and labels (a privacy request) and
re-evaluate the windows they were counted in; admin tokens only (`collector.privacy`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from collector import privacy, service
from collector.auth import Principal
from collector.body import RawBody, body_schema, parse
from collector.context import Ctx, require
from sdk import wire

Admin = Annotated[Principal, Depends(require("admin"))]
#: Ids per request; a longer list is sent in several requests (`driftline delete` does).
MAX_IDS = 10_000


class DeletionIn(BaseModel):
    """Whose data to delete: record ids as the application sent them, or the value of a `pii: true` field
    (raw, hashed here with the collector's salt as the SDK hashes it, or that `sha256:` hash itself)."""

    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[str, Field(min_length=1, max_length=256)]] | None = Field(
        None, min_length=1, max_length=MAX_IDS, description="Record ids, as sent (hashed ids are found too)."
    )
    subject_key: str | None = Field(
        None, min_length=1, max_length=1024, description="A pii field's value, raw or as its `sha256:` hash."
    )

    @model_validator(mode="after")
    def _one(self) -> DeletionIn:
        if (self.ids is None) == (self.subject_key is None):
            raise ValueError("send exactly one of ids (record ids) and subject_key (a pii field's value)")
        return self


class WindowOut(BaseModel):
    """One window of a model version touched by a deletion."""

    version: str
    window_seconds: int
    window_start: dt.datetime


class DeletionOut(BaseModel):
    """What was removed, per table, and which windows the next evaluation tick re-evaluates or were cleared
    (no record left: their points were deleted)."""

    model: str
    removed: dict[str, int]
    minutes_recounted: int
    reevaluated: list[WindowOut]
    cleared: list[WindowOut]


def _windows(found: list[tuple[str, int, dt.datetime]]) -> list[WindowOut]:
    return [WindowOut(version=v, window_seconds=n, window_start=t) for v, n, t in sorted(found)]


def post_deletion(model: str, principal: Admin, raw: RawBody, ctx: Ctx) -> DeletionOut:
    body = parse(DeletionIn, raw)
    service.authorize(ctx, principal, model, ["path", "model"], missing=404)
    done = privacy.delete_subject(
        ctx, model=model, ids=body.ids, subject_key=body.subject_key, token_id=principal.token_id
    )
    return DeletionOut(
        model=model,
        removed=done.removed,
        minutes_recounted=done.minutes_recounted,
        reevaluated=_windows(done.reevaluated),
        cleared=_windows(done.cleared),
    )


def router(route_class: type) -> APIRouter:
    """The privacy route under /v1 (admin)."""
    r = APIRouter(prefix=wire.API_PREFIX, tags=["privacy"], route_class=route_class)
    r.post(
        "/models/{model}/deletions",
        response_model=DeletionOut,
        operation_id="deleteSubject",
        summary="Delete a data subject's records and labels and re-evaluate the windows they were in",
        openapi_extra=body_schema(DeletionIn),
    )(post_deletion)
    return r
