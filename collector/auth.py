"""Bearer tokens with scopes and projects: `dl_<id>_<secret>`, stored as SHA-256 of the secret, compared in
constant time.

A token belongs to one project (a set of models) and may touch only that project's models; a token
with no project (the bootstrap admin, or `--project '*'`) is global. Tokens are looked up on every
request, nothing is cached, so a revoked token is refused from the next request on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from collector import audit, repository
from collector.db import DEFAULT_PROJECT

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "admin")

#: What each scope may do: admin may do everything; ingest writes data; read reads it.
GRANTS: dict[str, frozenset[str]] = {
    "ingest": frozenset({"ingest"}),
    "read": frozenset({"read"}),
    "admin": frozenset({"ingest", "read", "admin"}),
}


#: What `driftline token create --project` takes for a global token, and `token list` shows for one.
ALL_PROJECTS = "*"


@dataclass(frozen=True)
class Principal:
    """Who sent a request: the token's id, scope and project (None: every project)."""

    token_id: str
    scope: str
    project: str | None = None

    def may(self, needed: str) -> bool:
        """Whether this token's scope grants `needed` (ingest, read or admin)."""
        return needed in GRANTS.get(self.scope, frozenset())

    def owns(self, project: str) -> bool:
        """Whether this token may touch the models of `project`."""
        return self.project is None or self.project == project

    @property
    def project_label(self) -> str:
        """The token's project as messages name it."""
        return ALL_PROJECTS if self.project is None else self.project


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


PROJECT_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$")


def create_token(
    session: Session, *, scope: str, name: str = "", project: str | None = DEFAULT_PROJECT
) -> str:
    """Store a new token of `project` (None or "*": every project) and return its only plain-text copy."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    if project == ALL_PROJECTS:
        project = None
    if project is not None and not PROJECT_RE.match(project):
        raise ValueError(
            f"project {project!r} is not a valid name: start with a letter, then letters, digits, _ . or -"
            f" (at most 64), or use {ALL_PROJECTS!r} for every project"
        )
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    repository.add_token(
        session, token_id=token_id, name=name, scope=scope, secret_sha256=_sha256(secret), project=project
    )
    audit.record(
        session,
        action="token.create",
        params={"token_id": token_id, "name": name, "scope": scope, "project": project or ALL_PROJECTS},
    )
    return f"dl_{token_id}_{secret}"


def revoke_token(session: Session, *, token_id: str) -> bool:
    """Mark a token revoked and audit it in the same transaction; False when no token has this id."""
    found = repository.revoke_token(session, token_id=token_id)
    if found:
        audit.record(session, action="token.revoke", params={"token_id": token_id})
    return found


def verify(session: Session, token: str) -> Principal | None:
    """The principal a presented token stands for, or None; the secret is compared in constant time."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "dl":
        return None
    row = repository.get_token(session, token_id=parts[1])
    expected = row.secret_sha256 if row is not None else "0" * 64
    ok = hmac.compare_digest(_sha256(parts[2]), expected)
    if row is None or row.revoked or not ok:
        return None
    return Principal(token_id=row.id, scope=row.scope, project=row.project)
