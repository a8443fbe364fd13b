"""`driftline generate`: every artifact the spec implies, compiled once into one `Artifacts` value.

`build` compiles (pure: the SLO and model rule groups, the Alertmanager config, the dashboards and
datasources, Grafana-managed alerting, each built exactly once); `write` renders that value into one
directory; `push_grafana` sends it to a running Grafana. `generate` is `write(build(...))`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
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
from slo.links import grafana_base
from slo.rules import RuleGroup, generate_rules
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


def with_grafana_url(spec: ResolvedSpec, grafana_url: str | None) -> ResolvedSpec:
    """The spec with its alerts linking under `grafana_url` instead of `grafana.url` (None: the spec's own).

    A full dashboard link, what `--dashboard-url` took before, is cut back to Grafana's base; a relative
    or placeholder-only value is a ValueError naming the fix."""
    if grafana_url is None:
        return spec
    base = grafana_base(grafana_url, "--grafana-url", cut_dashboard=True)
    return replace(spec, links=replace(spec.links, grafana_url=base))


def grafana_url_option(text: str) -> str:
    """`--grafana-url` as argparse reads it: Grafana's base URL, a full dashboard link (what `--dashboard-url`
    took before) cut back to it; anything else is refused with the fix."""
    try:
        return grafana_base(text, "--grafana-url", cut_dashboard=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def missing_links(spec: ResolvedSpec) -> list[str]:
    """What the spec leaves out of its alerts' links, and the setting that puts it in (empty: every alert
    links its runbook and its dashboard)."""
    notes = []
    if spec.links.grafana_url is None:
        notes.append(
            "grafana.url is not set: alerts carry no dashboard link; set it to Grafana's address as people "
            "open it, such as https://grafana.example.com (or pass --grafana-url)"
        )
    if spec.links.runbook_base_url is None:
        bare = ["DriftlineCollectorDown", *(f"{m.name}'s" for m in spec.models if not m.runbook_url)]
        notes.append(
            f"alerting.runbook_base_url is not set: the alerts of {', '.join(bare)} carry no runbook link; set "
            "it to where docs/runbooks/ is served, such as https://git.example.com/driftline/blob/main/docs/runbooks/"
        )
    return notes


def build(
    spec: ResolvedSpec,
    *,
    grafana_url: str | None = None,
    timing: Timing = Timing(),
    rule_options: RuleOptions | None = None,
    prometheus_url: str = "http://localhost:9090",
    database_url: str | None = None,
) -> Artifacts:
    """Compile every artifact of the spec once (a PostgreSQL datasource only when `database_url` is
    PostgreSQL); alerts link under `grafana_url` when given, else under the spec's `grafana.url`."""
    # dashboards builds Grafana models with grafana-foundation-sdk, the optional grafana extra
    from dashboards import (
        GrafanaOptions,
        PrometheusSource,
        datasources,
        generate_dashboards,
        postgres_from_database_url,
    )

    spec = with_grafana_url(spec, grafana_url)
    slo_groups = generate_rules(spec) if spec.slos else ()
    model_groups = generate_model_rules(spec, rule_options or RuleOptions())
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
    grafana_url: str | None = None,
    timing: Timing = Timing(),
    rule_options: RuleOptions | None = None,
    prometheus_url: str = "http://localhost:9090",
    database_url: str | None = None,
) -> list[Path]:
    """Build every artifact of the spec once and write it into `out_dir`; return the paths."""
    artifacts = build(
        spec,
        grafana_url=grafana_url,
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
