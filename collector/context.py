"""Everything a request handler needs, built once per app, and the FastAPI dependencies over it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from collector import auth
from collector.evaluation import Evaluator
from collector.metrics import MetricsState
from driftline.settings import Settings
from driftline.spec import ResolvedSpec


@dataclass
class AppContext:
    settings: Settings
    spec: ResolvedSpec | None
    engine: Engine
    sessions: sessionmaker[Session]
    state: MetricsState
    evaluator: Evaluator
    known_models: set[str]
    #: Called (off the request path) when a model version is seen for the first time: a deploy.
    on_deploy: Callable[[str, str, dt.datetime], None] | None = None


def _context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(_context)]
_bearer = HTTPBearer(auto_error=False, description="A token from `driftline token create`.")


def require(scope: str) -> Callable[..., auth.Principal]:
    """A dependency that admits requests whose bearer token grants `scope`."""

    def dependency(
        ctx: Ctx, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> auth.Principal:
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
            raise HTTPException(
                401, detail="invalid or revoked token", headers={"WWW-Authenticate": "Bearer"}
            )
        if not principal.may(scope):
            raise HTTPException(
                403,
                detail=f"token scope {principal.scope!r} may not do this: it needs scope {scope!r} or 'admin'",
            )
        return principal

    return dependency
