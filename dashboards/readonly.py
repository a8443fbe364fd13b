"""The read-only PostgreSQL role Grafana's datasource logs in as: SELECT on the sample tables, nothing else.

`readonly_role_sql` is pure and idempotent SQL (run it again after a migration adds a table);
`create_readonly_role` runs it on a database. The `tokens` and `batches` tables are never granted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Engine

from dashboards.options import READONLY_ROLE

#: Tables the dashboards read: sampled records, labels, SDK stats, references, drift and performance.
READABLE_TABLES = (
    "attributions", "drift", "labels", "models", "performance", "records", "references", "stats",
)  # fmt: skip
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def readonly_role_sql(
    role: str = READONLY_ROLE,
    password: str | None = None,
    tables: Sequence[str] = READABLE_TABLES,
    schema: str = "public",
) -> tuple[str, ...]:
    """Statements that create (or converge) `role`: login, read-only transactions, SELECT on `tables`."""
    if not _ROLE.match(role):
        raise ValueError(f"role {role!r}: use lower-case letters, digits and _, starting with a letter")
    r = _ident(role)
    login = "LOGIN" if password is None else "LOGIN PASSWORD '" + password.replace("'", "''") + "'"
    names = ", ".join(f"{_ident(schema)}.{_ident(t)}" for t in sorted(tables))
    return (
        f"DO $driftline$ BEGIN CREATE ROLE {r}; EXCEPTION WHEN duplicate_object THEN NULL; END $driftline$",
        f"ALTER ROLE {r} WITH NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS {login}",
        f"ALTER ROLE {r} SET default_transaction_read_only = on",
        "DO $driftline$ BEGIN EXECUTE 'GRANT CONNECT ON DATABASE ' || quote_ident(current_database())"
        f" || ' TO {role}'; END $driftline$",
        f"GRANT USAGE ON SCHEMA {_ident(schema)} TO {r}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {_ident(schema)} FROM {r}",
        f"GRANT SELECT ON TABLE {names} TO {r}",
    )


def create_readonly_role(
    engine: Engine,
    role: str = READONLY_ROLE,
    password: str | None = None,
    tables: Sequence[str] = READABLE_TABLES,
) -> None:
    """Run `readonly_role_sql` on a PostgreSQL database in one transaction (needs CREATEROLE)."""
    if engine.dialect.name != "postgresql":
        raise ValueError("the read-only Grafana role is for PostgreSQL; Grafana cannot read a SQLite file")
    with engine.begin() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        for statement in readonly_role_sql(role, password, tables):
            cursor.execute(statement)  # no parameters: a '%' in the password is not a placeholder
