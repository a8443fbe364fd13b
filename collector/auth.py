"""Bearer tokens with scopes: `dl_<id>_<secret>`, stored as SHA-256 of the secret, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from collector import repository

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "admin")

#: What each scope may do: admin may do everything; ingest writes data; read reads it.
GRANTS: dict[str, frozenset[str]] = {
    "ingest": frozenset({"ingest"}),
    "read": frozenset({"read"}),
    "admin": frozenset({"ingest", "read", "admin"}),
}


@dataclass(frozen=True)
class Principal:
    token_id: str
    scope: str

    def may(self, needed: str) -> bool:
        return needed in GRANTS.get(self.scope, frozenset())


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, *, scope: str, name: str = "") -> str:
    """Store a new token and return its only plain-text copy."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    repository.add_token(session, token_id=token_id, name=name, scope=scope, secret_sha256=_sha256(secret))
    return f"dl_{token_id}_{secret}"


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
    return Principal(token_id=row.id, scope=row.scope)
