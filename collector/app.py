"""The collector's FastAPI app factory: storage, migrations, routers, error handlers and the evaluation loop."""

from __future__ import annotations

import contextlib

import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import sessionmaker

from collector import db, migrations, repository
from collector.api import ingest, models, ops, references
from collector.body import limited_route
from collector.context import AppContext
from collector.evaluation import EvaluationLoop, Evaluator
from collector.metrics import MetricsState
from driftline.settings import Settings
from driftline.spec import ResolvedSpec

log = logging.getLogger("driftline.collector")


def rebuild_state(ctx: AppContext) -> None:
    """Reload exported totals from storage, so a restarted collector's counters carry on."""
    with ctx.sessions() as s:
        for row in repository.stats_totals(s):
            ctx.state.add_stats(
                model=row.model,
                version=row.version,
                ok=row.ok,
                error=row.error,
                bounds=row.latency_bounds,
                counts=row.latency_counts,
                latency_sum=row.latency_sum,
                dropped=row.dropped,
                end=row.end.timestamp(),
            )
        for model, n in repository.count_labels(s).items():
            ctx.state.add_labels(model, n)
    ctx.evaluator.export(db.utcnow())


def build_context(settings: Settings, spec: ResolvedSpec | None, engine: Engine | None = None) -> AppContext:
    """Open storage, apply migrations, register the spec's models and rebuild exported state."""
    engine = engine or db.make_engine(settings.database_url)
    migrations.migrate(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as s:
        if spec is not None:
            repository.register_models(s, names=[m.name for m in spec.models], source="spec")
        known = set(repository.model_names(s))
    state = MetricsState()
    ctx = AppContext(
        settings=settings,
        spec=spec,
        engine=engine,
        sessions=sessions,
        state=state,
        evaluator=Evaluator(sessions, spec, state),
        known_models=known,
    )
    rebuild_state(ctx)
    return ctx


def _storage_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("storage unavailable: %s", exc)
    return JSONResponse(
        {"detail": "storage is unavailable; retry later"}, status_code=503, headers={"Retry-After": "5"}
    )


def _storage_rejected(_: Request, exc: Exception) -> JSONResponse:
    reason = str(getattr(exc, "orig", exc)).splitlines()[0]
    return JSONResponse({"detail": f"storage rejected a value: {reason}"}, status_code=422)


def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


def create_app(
    settings: Settings | None = None,
    spec: ResolvedSpec | None = None,
    *,
    engine: Engine | None = None,
    run_loop: bool = True,
) -> FastAPI:
    """Build the collector; `run_loop=False` leaves evaluation to POST /v1/evaluate (tests)."""
    settings = settings or Settings()
    ctx = build_context(settings, spec, engine)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loop = EvaluationLoop(ctx.evaluator, settings.evaluation_interval) if run_loop else None
        if loop:
            loop.start()
        try:
            yield
        finally:
            if loop:
                loop.stop()

    app = FastAPI(
        title="Driftline collector",
        version="1",
        description="Ingests sampled predictions, labels and SDK counters; exports drift and SLO metrics.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    route_class = limited_route(settings.max_body_bytes)
    for module in (ingest, references, models):
        app.include_router(module.router(route_class))
    app.include_router(ops.router())
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    for unavailable in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
        app.add_exception_handler(unavailable, _storage_unavailable)
    app.add_exception_handler(sa_exc.DataError, _storage_rejected)
    try:
        import psycopg

        app.add_exception_handler(psycopg.OperationalError, _storage_unavailable)
        app.add_exception_handler(psycopg.DataError, _storage_rejected)
    except ImportError:  # pragma: no cover - psycopg is a core dependency
        pass
    return app


