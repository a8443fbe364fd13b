"""Everything a request handler needs, built once per app, and the FastAPI dependencies over it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from collector import auth
from collector.db import DEFAULT_PROJECT
from collector.evaluation import Evaluator
from collector.metrics import MetricsState
from collector.pairing import Pairing
from collector.ratelimit import Limited, RateLimiter
from collector.schemas import EventOut
from collector.settings import Settings
from spec import ResolvedSpec


@dataclass
class AppContext:
    """Everything a request and the evaluation loop share: settings, spec, storage, metrics, limits."""

    settings: Settings
    spec: ResolvedSpec | None
    engine: Engine
    sessions: sessionmaker[Session]
    state: MetricsState
    evaluator: Evaluator
    known_models: set[str]
    #: Called (off the request path) when a model version is seen for the first time: a deploy.
    on_deploy: Callable[[str, str, dt.datetime], None] | None = None
    #: Called (off the request path) with each newly stored event (`collector.events`): an annotation.
    on_event: Callable[[EventOut], None] | None = None
    #: Each registered model's project (models missing here are in the default project).
    model_projects: dict[str, str] = field(default_factory=dict)
    limiter: RateLimiter | None = None
    #: Inference-logger halves waiting for their other half (`collector.pairing`).
    pairing: Pairing | None = None

    def __post_init__(self) -> None:
        if self.pairing is None:
            self.pairing = Pairing(self.state.add_unpaired)
        if self.limiter is None:
            self.limiter = RateLimiter(
                per_token=self.settings.rate_limit_per_token,
                token_burst=self.settings.rate_limit_burst,
                failures_per_minute=self.settings.auth_failures_per_minute,
            )

    def project_of(self, model: str) -> str:
        """The project a registered model belongs to."""
        return self.model_projects.get(model, DEFAULT_PROJECT)

    def models_of(self, principal: auth.Principal) -> list[str]:
        """The registered models this principal may see, sorted."""
        return sorted(m for m in self.known_models if principal.owns(self.project_of(m)))


def _context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(_context)]
_bearer = HTTPBearer(auto_error=False, description="A token from `driftline token create`.")


def _too_many(limited: Limited) -> HTTPException:
    return HTTPException(429, detail=limited.detail(), headers=limited.headers())


def require(scope: str) -> Callable[..., auth.Principal]:
    """A dependency that admits requests whose bearer token grants `scope`, within the rate limits.

    In order: an address that sent too many invalid tokens gets 429 (before any lookup); no token 401;
    an invalid or revoked token 401 (counted against the address); a token over its request rate 429;
    a token without the scope 403. Tokens are read from storage on every request, so a revocation
    takes effect on the next one.
    """

    def dependency(
        request: Request, ctx: Ctx, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> auth.Principal:
        assert ctx.limiter is not None
        address = request.client.host if request.client else "unknown"
        blocked = ctx.limiter.address_blocked(address)
        if blocked is not None:
            raise _too_many(blocked)
        if creds is None:
            raise HTTPException(
                401,
                detail="missing bearer token: send 'Authorization: Bearer <token>' (create one with "
                "`driftline token create`)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        with ctx.sessions() as s:
            principal = auth.verify(s, creds.credentials)
        if principal is None:
            ctx.limiter.failed(address)
            raise HTTPException(
                401, detail="invalid or revoked token", headers={"WWW-Authenticate": "Bearer"}
            )
        limited = ctx.limiter.token_request(principal.token_id)
        if limited is not None:
            raise _too_many(limited)
        if not principal.may(scope):
            raise HTTPException(
                403,
                detail=f"token scope {principal.scope!r} may not do this: it needs scope {scope!r} or 'admin'",
            )
        return principal

    return dependency
