"""Grafana datasources: Prometheus for metrics, PostgreSQL (read-only role) for sample-level tables.

One typed description per datasource renders both ways: as the HTTP API's body (secrets read from the
environment at push time) and as a provisioning-file entry (secrets as Grafana's `$__env{NAME}`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contract import DriftlineError
from dashboards.options import GrafanaOptions


class MissingSecretError(DriftlineError, RuntimeError):
    """A datasource secret's environment variable is not set."""


@dataclass(frozen=True)
class Datasource:
    """One Grafana datasource, with secrets named by environment variable only."""

    uid: str
    name: str
    type: str
    url: str
    json_data: Mapping[str, Any]
    user: str = ""
    database: str = ""
    access: str = "proxy"
    is_default: bool = False
    secret_env: Mapping[str, str] = field(default_factory=dict)  # secureJsonData key -> variable name

    def settings(self) -> dict[str, Any]:
        """The non-secret fields, as Grafana's API and provisioning files name them."""
        body: dict[str, Any] = {
            "uid": self.uid,
            "name": self.name,
            "type": self.type,
            "url": self.url,
            "access": self.access,
            "isDefault": self.is_default,
            "jsonData": dict(self.json_data),
        }
        if self.user:
            body["user"] = self.user
        if self.database:
            body["database"] = self.database
        return body

    def api_body(self, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The body of POST/PUT /api/datasources, secrets read from `env` (default: the process's)."""
        env = os.environ if env is None else env
        body = self.settings()
        secure = {}
        for key, var in self.secret_env.items():
            if var not in env:
                raise MissingSecretError(
                    f"datasource {self.name!r}: set {var} to the {key} Grafana should use"
                )
            secure[key] = env[var]
        if secure:
            body["secureJsonData"] = secure
        return body

    def provisioning_entry(self) -> dict[str, Any]:
        """The entry of a datasources provisioning file; secrets reference environment variables."""
        entry = self.settings() | {"editable": False, "orgId": 1}
        if self.secret_env:
            entry["secureJsonData"] = {key: f"$__env{{{var}}}" for key, var in self.secret_env.items()}
        return entry


def datasources(options: GrafanaOptions) -> tuple[Datasource, ...]:
    """The datasources the generated dashboards query."""
    p = options.prometheus
    out = [
        Datasource(
            uid=p.uid,
            name=p.name,
            type="prometheus",
            url=p.url,
            json_data={"httpMethod": "POST", "timeInterval": p.scrape_interval},
        )
    ]
    pg = options.postgres
    if pg is not None:
        out.append(
            Datasource(
                uid=pg.uid,
                name=pg.name,
                type=pg.plugin,
                url=pg.host,
                user=pg.user,
                database=pg.database,
                json_data={
                    "database": pg.database,
                    "sslmode": pg.sslmode,
                    "postgresVersion": 1500,
                    "timescaledb": pg.timescaledb,
                    "maxOpenConns": 10,
                    "connMaxLifetime": 14400,
                },
                secret_env={"password": pg.password_env},
            )
        )
    return tuple(out)
