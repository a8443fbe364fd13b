"""GET /v1/slos and /v1/slos/{name}: budgets, burn rates and the alerts that would fire."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from collector import db
from collector.auth import Principal
from collector.context import Ctx, require
from collector.service import InputError
from sdk import wire

Read = Annotated[Principal, Depends(require("read"))]


def router(route_class: type) -> APIRouter:
    r = APIRouter(prefix=wire.API_PREFIX, tags=["slos"], route_class=route_class)

    @r.get("/slos", operation_id="listSLOs", summary="Every SLO's error budget and burn rates, now")
    def list_slos(ctx: Ctx, _: Read) -> list[dict[str, Any]]:
        return [rep.to_dict() for rep in ctx.evaluator.refresh_slos(db.utcnow())]

    @r.get("/slos/{name}", operation_id="getSLO", summary="One SLO's error budget and burn rates, now")
    def get_slo(name: str, ctx: Ctx, _: Read) -> dict[str, Any]:
        for rep in ctx.evaluator.refresh_slos(db.utcnow()):
            if rep.slo.name == name:
                return rep.to_dict()
        known = ", ".join(s.name for s in ctx.spec.slos) if ctx.spec else "none"
        raise InputError(404, ["path", "name"], f"no SLO named {name!r} (SLOs: {known or 'none'})")

    return r
