"""Alerting for Driftline: Prometheus alert rules per model, the Alertmanager configuration, Grafana-managed
alerting (built once, then written as provisioning files or pushed through `clients.grafana`) and silences.

Builders are pure (spec or already-built rule groups in, plain data out); `grafana_files` writes and
`grafana_push` talks to Grafana. Receivers render through their kind modules in `spec.receivers`.
"""

from alerting.alertmanager import COLLECTOR_DOWN, NULL_RECEIVER, Timing, build_config, receiver_config
from alerting.grafana import (
    DEFAULT_RECEIVER,
    DISCARD,
    DefaultTarget,
    GrafanaAlerting,
    GrafanaTarget,
    build_from_spec,
    build_grafana_alerting,
    contact_point,
    grafana_alerting,
    prometheus_duration,
    prometheus_groups,
)
from alerting.grafana_files import (
    CONTACT_POINTS_FILE,
    MUTE_TIMINGS_FILE,
    POLICIES_FILE,
    RULES_FILE,
    alerting_files,
    render_files,
    write_files,
    write_grafana_alerting,
)
from alerting.grafana_push import (
    AlertingChange,
    AlertingProvisionError,
    AlertingReport,
    push,
    push_grafana_alerting,
)
from alerting.rules import ALERTS, RuleOptions, generate_model_rules
from alerting.silence import SilenceError, create_silence, silence_body

__all__ = [
    "ALERTS",
    "COLLECTOR_DOWN",
    "CONTACT_POINTS_FILE",
    "DEFAULT_RECEIVER",
    "DISCARD",
    "MUTE_TIMINGS_FILE",
    "NULL_RECEIVER",
    "POLICIES_FILE",
    "RULES_FILE",
    "AlertingChange",
    "AlertingProvisionError",
    "AlertingReport",
    "DefaultTarget",
    "GrafanaAlerting",
    "GrafanaTarget",
    "RuleOptions",
    "SilenceError",
    "Timing",
    "alerting_files",
    "build_config",
    "build_from_spec",
    "build_grafana_alerting",
    "contact_point",
    "create_silence",
    "generate_model_rules",
    "grafana_alerting",
    "prometheus_duration",
    "prometheus_groups",
    "push",
    "push_grafana_alerting",
    "receiver_config",
    "render_files",
    "silence_body",
    "write_files",
    "write_grafana_alerting",
]
