"""The audit log of admin actions: tokens created and revoked, references uploaded, privacy deletions, the
spec loaded at start. Each entry is written in the action's own transaction (an action that rolls back
leaves none), names who acted and holds parameters without secrets: token ids and names, never a token's
secret; counts and reference ids, never a record id or a subject's value.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from collector import db

if TYPE_CHECKING:
    from spec import ResolvedSpec

#: The actions the log records.
ACTIONS = ("token.create", "token.revoke", "reference.upload", "records.delete", "spec.load")
#: Who acted when the action came from the database directly (`driftline token ...`), not through a token.
LOCAL = "local"


def local_actor() -> str:
    """The operator who ran a local command: the OS user (the CLI writes to the database directly)."""
    try:
        return f"{LOCAL}:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (a bare container)
        return LOCAL


def record(
    s: Session,
    *,
    action: str,
    token_id: str | None = None,
    actor: str | None = None,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> None:
    """Add one entry to the caller's transaction; `actor` defaults to the token's name (looked up) or the
    local operator."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: one of {', '.join(ACTIONS)}")
    if actor is None:
        if token_id is None:
            actor = local_actor()
        else:
            row = s.get(db.Token, token_id)
            actor = (row.name if row is not None and row.name else f"token {token_id}")[:200]
    s.add(
        db.AuditEntry(
            at=db.utcnow(),
            token_id=token_id,
            actor=actor,
            action=action,
            model=model,
            params=dict(params or {}),
        )
    )
    s.flush()


def entries(
    s: Session,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    action: str | None = None,
    after: tuple[dt.datetime, int] | None = None,
    limit: int = 1000,
) -> list[db.AuditEntry]:
    """Entries in [since, until), newest first, starting after the (time, id) of a previous page's last."""
    a = db.AuditEntry
    stmt = select(a)
    if since is not None:
        stmt = stmt.where(a.at >= since)
    if until is not None:
        stmt = stmt.where(a.at < until)
    if action is not None:
        stmt = stmt.where(a.action == action)
    if after is not None:
        at, entry_id = after
        stmt = stmt.where(or_(a.at < at, and_(a.at == at, a.id < entry_id)))
    return list(s.scalars(stmt.order_by(a.at.desc(), a.id.desc()).limit(limit)))


def collector_actor() -> str:
    """The collector process itself (loading its spec at start): its host and process id."""
    return f"collector@{socket.gethostname()}:{os.getpid()}"[:200]


def spec_params(spec: ResolvedSpec) -> dict[str, Any]:
    """What a spec load records: the models and SLOs it declares and a digest of the whole file."""
    text = spec.raw.model_dump_json()
    return {
        "models": sorted(m.name for m in spec.models),
        "slos": sorted(s.name for s in spec.slos),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
