"""GET /v1/audit: the audit log of admin actions, newest first, in pages linked like the other reads;
admin tokens only (ingest and read tokens get 403)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from collector import audit, event_time
from collector.auth import Principal
from collector.context import Ctx, require
from collector.service import InputError
from sdk import wire

Admin = Annotated[Principal, Depends(require("admin"))]
_FIX = "pass the cursor of the previous page's Link header unchanged, or leave it out for the first page"
PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page of audit entries, newest first.",
        "headers": {
            "Link": {
                "description": 'Present when the page is full: `<URL>; rel="next"`, the same read starting after '
                "this page's last entry (RFC 8288).",
                "schema": {"type": "string"},
            }
        },
    }
}


class AuditOut(BaseModel):
    """One admin action: who (token id and name, or the local operator / the collector), what, when, where."""

    id: int
    at: dt.datetime
    token_id: str | None
    actor: str
    action: str
    model: str | None
    params: dict[str, Any]


def _cursor(entry: AuditOut) -> str:
    text = json.dumps(["audit", entry.at.astimezone(dt.UTC).isoformat(), entry.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[dt.datetime, int] | None:
    """The (time, id) a cursor holds; 422 naming `cursor` when this read did not issue it."""
    if cursor is None:
        return None
    try:
        kind, when, entry_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = dt.datetime.fromisoformat(when)
        if kind == "audit" and at.tzinfo is not None and type(entry_id) is int:
            return at, entry_id
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        pass
    raise InputError(422, ["query", "cursor"], f"not a cursor of this audit read: {_FIX}")


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    return None if t is None else event_time.as_utc(t).astimezone(dt.UTC)


def get_audit(
    ctx: Ctx,
    principal: Admin,
    request: Request,
    response: Response,
    action: Annotated[
        str | None, Query(pattern="^(" + "|".join(a.replace(".", r"\.") for a in audit.ACTIONS) + ")$")
    ] = None,
    since: Annotated[
        dt.datetime | None,
        Query(description="Only entries at or after this time (ISO-8601; UTC if no zone)."),
    ] = None,
    until: Annotated[dt.datetime | None, Query(description="Only entries before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    cursor: Annotated[
        str | None,
        Query(description="Start after the last entry of the previous page: the cursor of its Link header."),
    ] = None,
) -> list[AuditOut]:
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and until <= since:
        raise InputError(422, ["query", "until"], "until must be later than since: no entry lies in between")
    after = _after(cursor)
    with ctx.sessions() as s:
        rows = audit.entries(s, since=since, until=until, action=action, after=after, limit=limit)
        out = [AuditOut.model_validate(r, from_attributes=True) for r in rows]
    if out and len(out) >= limit:
        url = request.url.include_query_params(cursor=_cursor(out[-1]))
        response.headers["Link"] = f'<{url}>; rel="next"'
    return out


def router(route_class: type) -> APIRouter:
    """The audit read under /v1 (admin)."""
    r = APIRouter(prefix=wire.API_PREFIX, tags=["audit"], route_class=route_class)
    r.get(
        "/audit",
        response_model=list[AuditOut],
        operation_id="getAudit",
        responses=PAGED,
        summary="The audit log of admin actions, newest first",
    )(get_audit)
    return r
