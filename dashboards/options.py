"""Where the generated dashboards point: datasource uids and connections, the folder, the time defaults.

Secrets are never values here: the PostgreSQL password is named by an environment variable, read when
pushing to Grafana and written as Grafana's `$__env{NAME}` reference into provisioning files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

#: Grafana's id of its PostgreSQL datasource plugin since 10.3 (older servers call it "postgres").
POSTGRES_PLUGIN = "grafana-postgresql-datasource"
READONLY_ROLE = "driftline_grafana"
PASSWORD_ENV = "DRIFTLINE_GRAFANA_DB_PASSWORD"


@dataclass(frozen=True)
class PrometheusSource:
    """The Prometheus that scrapes the collector and evaluates the generated rules."""

    url: str = "http://localhost:9090"
    uid: str = "driftline-prometheus"
    name: str = "Driftline Prometheus"
    scrape_interval: str = "15s"


@dataclass(frozen=True)
class PostgresSource:
    """The collector's PostgreSQL, read by Grafana through the read-only role."""

    host: str = "localhost:5432"
    database: str = "driftline"
    user: str = READONLY_ROLE
    password_env: str = PASSWORD_ENV
    sslmode: str = "disable"
    timescaledb: bool = False
    uid: str = "driftline-postgres"
    name: str = "Driftline PostgreSQL"
    plugin: str = POSTGRES_PLUGIN


@dataclass(frozen=True)
class GrafanaOptions:
    """Everything about the target Grafana that the dashboards and datasources depend on."""

    prometheus: PrometheusSource = field(default_factory=PrometheusSource)
    postgres: PostgresSource | None = field(default_factory=PostgresSource)
    folder_uid: str = "driftline"
    folder_title: str = "Driftline"
    refresh: str = "1m"

    @property
    def has_sql(self) -> bool:
        """Whether sample-level (SQL) panels are generated: only with a PostgreSQL datasource."""
        return self.postgres is not None


def postgres_from_database_url(url: str, **overrides: object) -> PostgresSource | None:
    """The PostgreSQL datasource for a collector database URL; None for SQLite (Grafana cannot read it)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return None
    host = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    return PostgresSource(host=host, database=parsed.database or "postgres", **overrides)  # type: ignore[arg-type]
