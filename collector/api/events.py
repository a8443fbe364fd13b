"""POST /v1/events: a retrain, deploy or rollback of a model; GET /v1/models/{model}/events: a model's events,
newest first, in pages linked like the series reads'.

A page's cursor is its last event's place in the read order (time, event id), base64url-encoded JSON: opaque
to clients, checked here, so an edited cursor is a 422 naming the parameter, never a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from collector import event_time, events, repository, service
from collector.auth import Principal
from collector.body import RawBody, body_schema, parse
from collector.context import Ctx, require
from collector.schemas import EventIn, EventOut, EventStored
from collector.service import InputError
from sdk import wire

Ingest = Annotated[Principal, Depends(require("ingest"))]
Read = Annotated[Principal, Depends(require("read"))]
#: A read's 200 answer: one page, and the next page's address when this one is full.
PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page of events, newest first.",
        "headers": {
            "Link": {
                "description": 'Present when the page is full: `<URL>; rel="next"`, the same read starting after '
                "this page's last event (RFC 8288).",
                "schema": {"type": "string"},
            }
        },
    }
}
_FIX = "pass the cursor of the previous page's Link header unchanged, or leave it out for the first page"


def post_event(principal: Ingest, raw: RawBody, ctx: Ctx) -> EventStored:
    body = parse(EventIn, raw)
    service.authorize(ctx, principal, body.model, ["body", "model"])
    return events.store_event(ctx, body)


def _cursor(event: EventOut) -> str:
    text = json.dumps(
        ["events", event.ts.astimezone(dt.UTC).isoformat(), event.event_id], separators=(",", ":")
    )
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[dt.datetime, str] | None:
    """The (time, event id) a cursor holds; 422 naming `cursor` when this read did not issue it."""
    if cursor is None:
        return None
    try:
        kind, when, event_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        ts = dt.datetime.fromisoformat(when)
        if kind == "events" and ts.tzinfo is not None and isinstance(event_id, str):
            return ts, event_id
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        pass
    raise InputError(422, ["query", "cursor"], f"not a cursor of this events read: {_FIX}")


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    return None if t is None else event_time.as_utc(t).astimezone(dt.UTC)


# A model's events, newest first.
def get_events(
    model: str,
    ctx: Ctx,
    principal: Read,
    request: Request,
    response: Response,
    kind: Annotated[str | None, Query(pattern="^(retrain|deploy|rollback)$")] = None,
    version: str | None = None,
    since: Annotated[
        dt.datetime | None, Query(description="Only events at or after this time (ISO-8601; UTC if no zone).")
    ] = None,
    until: Annotated[dt.datetime | None, Query(description="Only events before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    cursor: Annotated[
        str | None,
        Query(description="Start after the last event of the previous page: the cursor of its Link header."),
    ] = None,
) -> list[EventOut]:
    service.authorize(ctx, principal, model, ["path", "model"], missing=404)
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and until <= since:
        raise InputError(422, ["query", "until"], "until must be later than since: no event lies in between")
    after = _after(cursor)
    with ctx.sessions() as s:
        rows = repository.model_events(
            s, model=model, kind=kind, version=version, since=since, until=until, limit=limit, after=after
        )
    out = [events.event_out(r) for r in rows]
    if out and len(out) >= limit:
        url = request.url.include_query_params(cursor=_cursor(out[-1]))
        response.headers["Link"] = f'<{url}>; rel="next"'
    return out


def router(route_class: type) -> APIRouter:
    """The events routes under /v1: report an event (ingest), read a model's events (read)."""
    r = APIRouter(prefix=wire.API_PREFIX, tags=["events"], route_class=route_class)
    r.post(
        "/events",
        response_model=EventStored,
        operation_id="postEvent",
        summary="Store a retrain, deploy or rollback of a model",
        openapi_extra=body_schema(EventIn),
    )(post_event)
    r.get(
        "/models/{model}/events",
        response_model=list[EventOut],
        operation_id="getEvents",
        responses=PAGED,
        summary="A model's retrains, deploys and rollbacks, newest first",
    )(get_events)
    return r
