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
    """The SLO routes under /v1: budgets and burn rates, only of the token's project.
    Route handlers carry no docstring: a docstring would become their OpenAPI description."""
    r = APIRouter(prefix=wire.API_PREFIX, tags=["slos"], route_class=route_class)

    @r.get("/slos", operation_id="listSLOs", summary="Every SLO's error budget and burn rates, now")
    def list_slos(principal: Read, ctx: Ctx) -> list[dict[str, Any]]:
        """The SLOs of the token's project's models (every SLO for a global token)."""
        return [
            rep.to_dict()
            for rep in ctx.evaluator.refresh_slos(db.utcnow())
            if principal.owns(ctx.project_of(rep.slo.model))
        ]

    @r.get("/slos/{name}", operation_id="getSLO", summary="One SLO's error budget and burn rates, now")
    def get_slo(name: str, ctx: Ctx, principal: Read) -> dict[str, Any]:
        slo = ctx.spec.slo(name) if ctx.spec else None
        if slo is not None and not principal.owns(ctx.project_of(slo.model)):
            raise InputError(
                403,
                ["path", "name"],
                f"SLO {name!r} is of a model outside project {principal.project_label!r} of this token: "
                "use a token of the model's project",
            )
        for rep in ctx.evaluator.refresh_slos(db.utcnow()):
            if rep.slo.name == name:
                return rep.to_dict()
        mine = [s.name for s in ctx.spec.slos if principal.owns(ctx.project_of(s.model))] if ctx.spec else []
        raise InputError(404, ["path", "name"], f"no SLO named {name!r} (SLOs: {', '.join(mine) or 'none'})")

    return r
