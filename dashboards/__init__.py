"""Grafana for Driftline: dashboards generated from the spec, datasources, provisioning and its files.

Pure generators (`generate_dashboards`, `datasources`, `readonly_role_sql`, `provisioning_files`) return
data (`render_files` renders already-built dashboards and datasources); `write_files` and
`write_provisioning` write files; `provision_grafana` and `push_dashboards` push to a Grafana through
`clients.grafana`.
Needs the `grafana` extra (`pip install driftline[grafana]`).
"""

try:
    import grafana_foundation_sdk  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "the dashboards package builds Grafana models with grafana-foundation-sdk: pip install 'driftline[grafana]'"
    ) from exc

from dashboards.board import DEPLOY_TAG, EVENT_TAG, GENERATED_TAG, deploy_tags, event_tags
from dashboards.datasources import Datasource, MissingSecretError, datasources
from dashboards.generate import GeneratedDashboard, generate_dashboards
from dashboards.options import GrafanaOptions, PostgresSource, PrometheusSource, postgres_from_database_url
from dashboards.provision import (
    Change,
    ProvisionError,
    ProvisionReport,
    post_deploy_annotation,
    post_event_annotation,
    provision,
    provision_grafana,
)
from dashboards.provision import push as push_dashboards
from dashboards.readonly import READABLE_TABLES, create_readonly_role, readonly_role_sql
from dashboards.writer import (
    EmptyProvisioningError,
    provisioning_files,
    render_files,
    write_files,
    write_provisioning,
)

__all__ = [
    "DEPLOY_TAG",
    "EVENT_TAG",
    "GENERATED_TAG",
    "READABLE_TABLES",
    "Change",
    "Datasource",
    "EmptyProvisioningError",
    "GeneratedDashboard",
    "GrafanaOptions",
    "MissingSecretError",
    "PostgresSource",
    "PrometheusSource",
    "ProvisionError",
    "ProvisionReport",
    "create_readonly_role",
    "datasources",
    "deploy_tags",
    "event_tags",
    "generate_dashboards",
    "post_deploy_annotation",
    "post_event_annotation",
    "postgres_from_database_url",
    "provision",
    "provision_grafana",
    "provisioning_files",
    "push_dashboards",
    "readonly_role_sql",
    "render_files",
    "write_files",
    "write_provisioning",
]
