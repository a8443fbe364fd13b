"""`driftline generate`: every artifact the spec implies, written into one directory."""

from __future__ import annotations

from pathlib import Path

from alerting.alertmanager import Timing, build_config
from alerting.rules import RuleOptions, generate_model_rules
from slo.rules import DEFAULT_DASHBOARD_URL, generate_rules
from slo.writer import RULES_PATH, dump_yaml, write_rules
from spec import ResolvedSpec

ALERT_RULES_PATH = Path("prometheus") / "driftline-alerts.rules.yaml"
ALERTMANAGER_PATH = Path("alertmanager") / "alertmanager.yml"


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
    """Write the SLO rules (when the spec has SLOs), model alert rules, Alertmanager config and Grafana
    provisioning (a PostgreSQL datasource only when `database_url` is PostgreSQL); return the paths."""
    out = Path(out_dir)
    written = []
    if spec.slos:
        written.append(write_rules(generate_rules(spec, dashboard_url), out / RULES_PATH))
    options = rule_options or RuleOptions(dashboard_url=dashboard_url)
    written.append(write_rules(generate_model_rules(spec, options), out / ALERT_RULES_PATH))
    am = out / ALERTMANAGER_PATH
    am.parent.mkdir(parents=True, exist_ok=True)
    am.write_text(dump_yaml(build_config(spec.alerting, timing)))
    written.append(am)
    from dashboards import GrafanaOptions, PrometheusSource, postgres_from_database_url, write_provisioning

    grafana = GrafanaOptions(
        prometheus=PrometheusSource(url=prometheus_url),
        postgres=postgres_from_database_url(database_url) if database_url else None,
    )
    written.extend(write_provisioning(spec, out / "grafana", grafana))
    from alerting.grafana import write_grafana_alerting

    written.extend(
        write_grafana_alerting(
            spec,
            out / "grafana" / "provisioning" / "alerting",
            grafana,
            dashboard_url=dashboard_url,
            rule_options=options,
            timing=timing,
        )
    )
    return written
