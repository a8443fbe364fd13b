"""The collector's FastAPI app factory: storage, migrations, routers, error handlers and the evaluation loop."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, ParamSpec

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import sessionmaker

from collector import audit, db, dialects, migrations, redaction, repository, service
from collector.api import (
    audit_log,
    compare,
    deletions,
    evals,
    events,
    inference,
    ingest,
    models,
    ops,
    otlp,
    references,
    slos,
)
from collector.body import DrainBody, add_body_schemas, limited_route
from collector.context import AppContext
from collector.evals import eval_totals
from collector.evaluation import EvaluationLoop, Evaluator
from collector.leases import Lease
from collector.metrics import MetricsState
from collector.schemas import PATTERN_HINTS, EventOut
from collector.service import InputError
from collector.settings import Settings
from spec import ResolvedSpec

log = logging.getLogger("driftline.collector")
P = ParamSpec("P")


def rebuild_state(ctx: AppContext) -> None:
    """Reload exported totals from storage, so a restarted collector's counters carry on; with
    `reload_counters` off (several collectors) only when each model last received data."""
    if not ctx.settings.reload_counters:
        with ctx.sessions() as s:
            for (model, kind), when in repository.last_received(s).items():
                ctx.state.received(model, kind, when.timestamp())
        ctx.evaluator.export(db.utcnow())
        ctx.evaluator.refresh_slos(db.utcnow())
        return
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
        for model, version, seconds, tin, tout in repository.usage_totals(s):
            ctx.state.add_usage(
                model=model, version=version, compute_seconds=seconds, input_tokens=tin, output_tokens=tout
            )
        for model, version, ages in repository.feature_age_rows(s):
            ctx.state.add_feature_ages(model=model, version=version, ages=ages)
        for model, version, genai in repository.genai_rows(s):
            ctx.state.add_genai(model=model, version=version, genai=genai)
        ctx.state.add_evals(*eval_totals(s))
        for model, n in repository.count_labels(s).items():
            ctx.state.add_labels(model, n)
        ctx.state.add_labelled(service.labelled_outcomes(repository.labelled_predictions(s)))
        for (model, version), (total, invalid) in repository.record_counts(s).items():
            ctx.state.add_records(model, version, total, invalid)
        for (model, kind), when in repository.last_received(s).items():
            ctx.state.received(model, kind, when.timestamp())
        for (model, kind), n in repository.event_counts(s).items():
            ctx.state.add_event(model, kind, n)
    ctx.evaluator.export(db.utcnow())
    ctx.evaluator.refresh_slos(db.utcnow())


def build_context(
    settings: Settings,
    spec: ResolvedSpec | None,
    engine: Engine | None = None,
    on_deploy: Callable[[str, str, dt.datetime], None] | None = None,
    on_event: Callable[[EventOut], None] | None = None,
) -> AppContext:
    """Open storage, apply migrations, register the spec's models and rebuild exported state."""
    engine = engine or db.make_engine(settings.database_url)
    migrations.migrate(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as s:
        if spec is not None:
            repository.set_model_projects(s, projects={m.name: m.project for m in spec.models}, source="spec")
            audit.record(s, action="spec.load", actor=audit.collector_actor(), params=audit.spec_params(spec))
        projects = repository.model_projects(s)
    state = MetricsState(
        max_versions=settings.max_versions_per_model, max_slices=settings.max_slices_per_model
    )
    if spec is not None:
        state.prices = {m.name: m.prices for m in spec.models if m.prices is not None}
    ctx = AppContext(
        settings=settings,
        spec=spec,
        engine=engine,
        sessions=sessions,
        state=state,
        evaluator=Evaluator(
            sessions,
            spec,
            state,
            max_slice_values=settings.max_slice_values,
            min_label_coverage=settings.min_label_coverage,
            bootstrap_resamples=settings.bootstrap_resamples,
            max_future_skew=settings.max_future_skew_seconds,
        ),
        known_models=set(projects),
        model_projects=projects,
        on_deploy=in_background(on_deploy) if on_deploy else None,
        on_event=in_background(on_event, "event") if on_event else None,
    )
    redaction.of(ctx)  # reads the salt file and warns about a default salt now, not at the first batch
    rebuild_state(ctx)
    return ctx


def _storage_unavailable(_: Request, exc: Exception) -> JSONResponse:
    # the driver's own message, never SQLAlchemy's str(exc): that appends the statement's parameters (values)
    log.warning("storage unavailable: %s", str(getattr(exc, "orig", None) or exc).strip())
    return JSONResponse(
        {"detail": "storage is unavailable; retry later"}, status_code=503, headers={"Retry-After": "5"}
    )


def _storage_rejected(_: Request, exc: Exception) -> JSONResponse:
    reason = str(getattr(exc, "orig", exc)).splitlines()[0]
    return JSONResponse({"detail": f"storage rejected a value: {reason}"}, status_code=422)


#: Tags pydantic appends to a location when a value matched no member of a union.
_UNION_TAGS = {"bool", "int", "float", "str", "constrained-str", "none"}
_STRING_TAGS = {"str", "constrained-str"}
_HINTS = (
    (
        "datetime",
        "send unix seconds (a number, never milliseconds) or ISO-8601 text, like 2026-11-24T22:00:00Z",
    ),
    ("extra_forbidden", "remove it or check its spelling"),
    ("json_invalid", "the body is not valid JSON"),
    ("finite_number", "NaN and infinity are no value here: send a finite number"),
)
_LAST_UNIX_SECOND = 253402300799  # 9999-12-31T23:59:59Z
#: Hints for a value that is too long, by the field's name (the last part of its location).
_TOO_LONG = {
    "features": "a record carries at most that many features (sdk/wire.py MAX_FEATURES_PER_RECORD): "
    "send the model's inputs, not a whole wide row",
    "records": "send smaller batches",
    "labels": "send smaller batches",
}


def _hint(e: dict[str, Any], loc: tuple[Any, ...]) -> str | None:
    """How to fix one pydantic error, or None when its message says it all."""
    kind = str(e.get("type", ""))
    if kind.endswith("pattern_mismatch"):
        pattern = str((e.get("ctx") or {}).get("pattern", ""))
        return PATTERN_HINTS.get(pattern, f"it must match the regular expression {pattern}")
    if kind == "too_long" and loc and str(loc[-1]) in _TOO_LONG:
        return _TOO_LONG[str(loc[-1])]
    if "date" in kind and abs(_number(e.get("input"))) > _LAST_UNIX_SECOND:
        return "a number is unix seconds, never milliseconds, and this one lies after the year 9999: divide by 1000"
    return next((hint for needle, hint in _HINTS if needle in kind), None)


def _number(value: Any) -> float:
    """A JSON number, or text holding one, as a float; 0.0 for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0.0
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with one entry per bad field: its location, what is wrong, and how to fix it."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    union_tags: dict[tuple[Any, ...], set[str]] = {}
    # a value that failed for a reason beyond its type (a NUL in a text, a NaN for a number) is reported
    # with that reason, not as "must be a number, string or boolean"
    specific: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in exc.errors():
        loc = tuple(e.get("loc", ()))
        kind, msg = str(e.get("type", "")), str(e.get("msg", ""))
        hint = _hint(e, loc)
        if hint:
            msg = f"{msg}; {hint}"
        if loc and str(loc[-1]) in _UNION_TAGS:
            tag, loc = str(loc[-1]), loc[:-1]
            union_tags.setdefault(loc, set()).add(tag)
            text = tag in _STRING_TAGS and isinstance(e.get("input"), str) and kind != "string_type"
            if text or kind == "finite_number":
                specific[loc] = {"loc": list(loc), "msg": msg, "type": kind}
            kind = "scalar_type"
        out.setdefault(loc, {"loc": list(loc), "msg": msg, "type": kind})
    for loc, tags in union_tags.items():
        if loc in specific:
            out[loc] = specific[loc]
            continue
        allowed = (
            "a number, string, boolean or null" if "none" in tags else "a number, string or boolean, not null"
        )
        out[loc]["msg"] = f"must be {allowed} (objects and lists are not accepted here)"
    return JSONResponse({"detail": list(out.values())}, status_code=422)


def _input_error(_: Request, exc: InputError) -> JSONResponse:
    return JSONResponse({"detail": exc.detail()}, status_code=exc.status)


def in_background(hook: Callable[P, None], what: str = "deploy") -> Callable[P, None]:
    """Run a deploy (or event) hook on its own thread, logging failures: a slow or down Grafana never delays
    ingest."""

    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        def call() -> None:
            try:
                hook(*args, **kwargs)
            except Exception:
                log.exception("%s hook failed for %s", what, " ".join(map(str, args[:2])))

        threading.Thread(target=call, name=f"driftline-{what}-hook", daemon=True).start()

    return run


def create_app(
    settings: Settings | None = None,
    spec: ResolvedSpec | None = None,
    *,
    engine: Engine | None = None,
    run_loop: bool = True,
    on_deploy: Callable[[str, str, dt.datetime], None] | None = None,
    on_event: Callable[[EventOut], None] | None = None,
) -> FastAPI:
    """Build the collector; `run_loop=False` leaves evaluation to POST /v1/evaluate (tests)."""
    settings = settings or Settings()
    ctx = build_context(settings, spec, engine, on_deploy, on_event)
    lease = Lease(ctx.sessions, settings.lease_seconds) if settings.lease_seconds > 0 else None
    ctx.evaluator.lease = lease
    ctx.evaluator.lead()  # standing by, it drops the gauges rebuild_state exported: the holder serves them

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loop = EvaluationLoop(ctx.evaluator, settings.evaluation_interval) if run_loop else None
        if loop:
            loop.start()
            if lease:
                lease.start_renewing()
        try:
            yield
        finally:
            if loop:
                loop.stop()
            if lease:
                lease.stop()
            ctx.evaluator.explainers.close()

    app = FastAPI(
        title="Driftline collector",
        version="1",
        description="Ingests sampled predictions, labels and SDK counters; exports drift and SLO metrics.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    route_class = limited_route(
        settings.max_body_bytes, context={"max_future_skew": settings.max_future_skew_seconds}
    )
    for module in (ingest, references, events, models, slos, compare, deletions, audit_log, inference, otlp, evals):
        app.include_router(module.router(route_class))
    app.include_router(ops.router())
    add_body_schemas(app)
    # answers given before a body was read still reach a client that is sending one (not a reset)
    app.add_middleware(DrainBody, limit=max(4 * settings.max_body_bytes, 64 << 20))
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(InputError, _input_error)  # type: ignore[arg-type]
    for unavailable in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
        app.add_exception_handler(unavailable, _storage_unavailable)
    app.add_exception_handler(sa_exc.DataError, _storage_rejected)
    for dialect in dialects.registered().values():
        for error in dialect.unavailable_errors:
            app.add_exception_handler(error, _storage_unavailable)
        for error in dialect.rejected_errors:
            app.add_exception_handler(error, _storage_rejected)
    return app
