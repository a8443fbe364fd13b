"""/metrics for Prometheus and the liveness / readiness probes; unauthenticated by design."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from collector.context import Ctx
from collector.metrics import make_registry


def router() -> APIRouter:
    """/metrics and the health probes, outside /v1 and without a token.
    Route handlers carry no docstring: a docstring would become their OpenAPI description."""
    r = APIRouter(tags=["operations"])

    @r.get("/metrics", operation_id="metrics", summary="Prometheus text exposition", response_class=Response)
    def metrics(ctx: Ctx) -> Response:
        return Response(generate_latest(make_registry(ctx.state)), media_type=CONTENT_TYPE_LATEST)

    @r.get("/healthz", operation_id="healthz", summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @r.get(
        "/readyz",
        operation_id="readyz",
        summary="Storage answers",
        responses={503: {"description": "storage down"}},
    )
    def readyz(ctx: Ctx, response: Response) -> dict[str, str]:
        try:
            with ctx.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            response.status_code = 503
            return {"status": "unavailable", "reason": type(exc).__name__}
        return {"status": "ready"}

    return r
