"""API tokens: public id, scope, project and the SHA-256 of the secret, never the secret."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from collector import db


def add_token(
    conn: Session, *, token_id: str, name: str, scope: str, secret_sha256: str, project: str | None
) -> None:
    """Store a token's id, scope, project (None: every project) and the SHA-256 of its secret."""
    conn.execute(
        db.table(db.Token)
        .insert()
        .values(
            id=token_id,
            name=name,
            scope=scope,
            secret_sha256=secret_sha256,
            created_at=db.utcnow(),
            revoked=False,
            project=project,
        )
    )


def get_token(conn: Session, *, token_id: str) -> db.Token | None:
    """The token with this public id, revoked or not; None when there is none."""
    return conn.execute(select(db.Token).where(db.Token.id == token_id)).scalars().first()


def list_tokens(conn: Session) -> list[db.Token]:
    """Every token, oldest first (the rows hold only the SHA-256 of each secret)."""
    return list(conn.execute(select(db.Token).order_by(db.Token.created_at, db.Token.id)).scalars())


def count_tokens(conn: Session) -> int:
    """How many tokens exist, revoked ones included."""
    return int(conn.scalar(select(func.count()).select_from(db.Token)) or 0)


def revoke_token(conn: Session, *, token_id: str) -> bool:
    """Mark a token revoked; False when no token has this id."""
    result = cast(
        CursorResult[Any], conn.execute(update(db.Token).where(db.Token.id == token_id).values(revoked=True))
    )
    return result.rowcount > 0
