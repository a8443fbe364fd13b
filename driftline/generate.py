"""`driftline generate`: every artifact the spec implies, compiled once into one `Artifacts` value.

`build` compiles (pure: the SLO and model rule groups, the Alertmanager config, the dashboards and
datasources, Grafana-managed alerting, each built exactly once); `write` renders that value into one
directory; `push_grafana` sends it to a running Grafana. `generate` is `write(build(...))`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alerting import (
    GrafanaAlerting,
    RuleOptions,
    Timing,
    build_config,
    build_grafana_alerting,
    generate_model_rules,
)
from alerting import push as push_alerting
from alerting import render_files as render_alerting_files
from alerting import write_files as write_alerting_files
from clients import Report
from slo.rules import DEFAULT_DASHBOARD_URL, RuleGroup, generate_rules
from slo.writer import RULES_PATH, dump_yaml, write_rules
from spec import ResolvedSpec

if TYPE_CHECKING:
    from grafana_client import GrafanaApi

    from dashboards import Datasource, GeneratedDashboard, GrafanaOptions

ALERT_RULES_PATH = Path("prometheus") / "driftline-alerts.rules.yaml"
ALERTMANAGER_PATH = Path("alertmanager") / "alertmanager.yml"
GRAFANA_DIR = Path("grafana")
GRAFANA_ALERTING_DIR = GRAFANA_DIR / "provisioning" / "alerting"


@dataclass(frozen=True)
class Artifacts:
    """Everything `driftline generate` produces for one spec, each built once; writers and pushers only
    render or send it."""

    slo_groups: tuple[RuleGroup, ...]  # empty when the spec has no SLOs
    model_groups: tuple[RuleGroup, ...]
    alertmanager: dict[str, Any]
    grafana: GrafanaOptions
    dashboards: tuple[GeneratedDashboard, ...]
    datasources: tuple[Datasource, ...]
    grafana_alerting: GrafanaAlerting


def build(
    spec: ResolvedSpec,
    *,
    dashboard_url: str = DEFAULT_DASHBOARD_URL,
    timing: Timing = Timing(),
    rule_options: RuleOptions | None = None,
    prometheus_url: str = "http://localhost:9090",
    database_url: str | None = None,
) -> Artifacts:
    """Compile every artifact of the spec once (a PostgreSQL datasource only when `database_url` is
    PostgreSQL)."""
    # dashboards builds Grafana models with grafana-foundation-sdk, the optional grafana extra
    from dashboards import (
        GrafanaOptions,
        PrometheusSource,
        datasources,
        generate_dashboards,
        postgres_from_database_url,
    )

    slo_groups = generate_rules(spec, dashboard_url) if spec.slos else ()
    model_groups = generate_model_rules(spec, rule_options or RuleOptions(dashboard_url=dashboard_url))
    alertmanager = build_config(spec.alerting, timing)
    grafana = GrafanaOptions(
        prometheus=PrometheusSource(url=prometheus_url),
        postgres=postgres_from_database_url(database_url) if database_url else None,
    )
    return Artifacts(
        slo_groups=slo_groups,
        model_groups=model_groups,
        alertmanager=alertmanager,
        grafana=grafana,
        dashboards=tuple(generate_dashboards(spec, grafana)),
        datasources=datasources(grafana),
        grafana_alerting=build_grafana_alerting(
            (*slo_groups, *model_groups), alertmanager, spec.alerting, grafana
        ),
    )


def write(artifacts: Artifacts, out_dir: str | Path) -> list[Path]:
    """Write the SLO rules (when there are any), model alert rules, Alertmanager config and Grafana
    provisioning into `out_dir`; return the paths."""
    import dashboards  # builds with grafana-foundation-sdk, the optional grafana extra

    out = Path(out_dir)
    written = []
    if artifacts.slo_groups:
        written.append(write_rules(artifacts.slo_groups, out / RULES_PATH))
    written.append(write_rules(artifacts.model_groups, out / ALERT_RULES_PATH))
    am = out / ALERTMANAGER_PATH
    am.parent.mkdir(parents=True, exist_ok=True)
    am.write_text(dump_yaml(artifacts.alertmanager))
    written.append(am)
    boards = dashboards.render_files(artifacts.dashboards, artifacts.datasources, artifacts.grafana)
    written.extend(dashboards.write_files(boards, out / GRAFANA_DIR))
    alerting = render_alerting_files(artifacts.grafana_alerting)
    written.extend(write_alerting_files(alerting, out / GRAFANA_ALERTING_DIR))
    return written


def generate(
    spec: ResolvedSpec,
    out_dir: str | Path,
    *,
    dashboard_url: str = DEFAULT_DASHBOARD_URL,
    timing: Timing = Timing(),
    rule_options: RuleOptions | None = None,
    prometheus_url: str = "http://localhost:9090",
    database_url: str | None = None,
) -> list[Path]:
    """Build every artifact of the spec once and write it into `out_dir`; return the paths."""
    artifacts = build(
        spec,
        dashboard_url=dashboard_url,
        timing=timing,
        rule_options=rule_options,
        prometheus_url=prometheus_url,
        database_url=database_url,
    )
    return write(artifacts, out_dir)


def push_dashboards(
    artifacts: Artifacts, api: GrafanaApi, *, env: Mapping[str, str] | None = None, prune: bool = True
) -> Report:
    """Push the folder, datasources and dashboards of `artifacts` to Grafana."""
    import dashboards  # builds with grafana-foundation-sdk, the optional grafana extra

    return dashboards.push_dashboards(
        api, artifacts.dashboards, artifacts.datasources, artifacts.grafana, env=env, prune=prune
    )


def push_grafana_alerting(
    artifacts: Artifacts, api: GrafanaApi, *, env: Mapping[str, str] | None = None, prune: bool = True
) -> Report:
    """Push the Grafana-managed alerting of `artifacts` (rules, contact points, policies, mute timings)."""
    return push_alerting(api, artifacts.grafana_alerting, os.environ if env is None else env, prune=prune)
