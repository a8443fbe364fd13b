"""Alertmanager configuration from the spec: receivers, a route tree by severity, inhibition, mute windows.

Pure: returns plain data for a writer. Alert labels it relies on (set by the generated Prometheus rules):
`severity` (page | ticket), `model`, `slo` (SLO alerts), `alertname`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from spec import Alerting, MuteWindow, Receiver

NULL_RECEIVER = "driftline-discard"
COLLECTOR_DOWN = "DriftlineCollectorDown"
#: One notification per alert name, model and SLO, and per drift window: a drift incident
#: (`DriftlineDriftIncident`, one per model and window) is its own notification.
GROUP_BY = ("alertname", "model", "slo", "window")
DRIFT_INCIDENT = "DriftlineDriftIncident"


@dataclass(frozen=True)
class Timing:
    """Notification pacing: pages repeat hourly while firing, tickets twice a day. Scale down only in tests."""

    group_wait: str = "30s"
    group_interval: str = "5m"
    page_repeat: str = "1h"
    ticket_repeat: str = "12h"


def _secret(alerting: Alerting, env: str) -> str:
    return f"{alerting.secrets_dir.rstrip('/')}/{env}"


def receiver_config(alerting: Alerting, r: Receiver) -> dict[str, Any]:
    """One Alertmanager receiver; every secret is a `*_file` path named after its environment variable.

    The receiver's kind module (`spec.receivers`) renders the integration's config.
    """
    kind = r.integration
    return {
        "name": r.name,
        kind.alertmanager_key: [kind.alertmanager(r.settings, partial(_secret, alerting))],
    }


def _severity_route(severity: str, receiver: str, repeat: str, alerting: Alerting) -> dict[str, Any]:
    everywhere = [m.name for m in alerting.mute if not m.models]
    route: dict[str, Any] = {
        "matchers": [f'severity="{severity}"'],
        "receiver": receiver,
        "repeat_interval": repeat,
    }
    if everywhere:
        route["mute_time_intervals"] = everywhere
    per_model = [
        {
            "matchers": ['model=~"' + "|".join(sorted(m.models)) + '"'],
            "receiver": receiver,
            "mute_time_intervals": sorted({m.name, *everywhere}),
        }
        for m in alerting.mute
        if m.models
    ]
    if per_model:
        route["routes"] = per_model
    return route


def rollback_routes(alerting: Alerting) -> list[dict[str, Any]]:
    """Routes that send each canary model's pages to its rollback webhook receiver: first in the tree, with
    `continue`, so the page still reaches the pager."""
    return [
        {"matchers": ['severity="page"', f'model="{model}"'], "receiver": receiver, "continue": True}
        for model, receiver in alerting.rollbacks
    ]


def build_config(alerting: Alerting, timing: Timing = Timing()) -> dict[str, Any]:
    """The whole alertmanager.yml as plain data: pages to the pager, tickets to chat, grouped by model and SLO."""
    ticket = alerting.ticket or NULL_RECEIVER
    routes = rollback_routes(alerting)
    if alerting.page:
        routes.append(_severity_route("page", alerting.page, timing.page_repeat, alerting))
    routes.append(_severity_route("ticket", ticket, timing.ticket_repeat, alerting))
    receivers = [receiver_config(alerting, r) for r in alerting.receivers]
    if not alerting.ticket:
        receivers.append({"name": NULL_RECEIVER})
    config: dict[str, Any] = {
        "route": {
            "receiver": ticket if alerting.ticket else NULL_RECEIVER,
            "group_by": list(GROUP_BY),
            "group_wait": timing.group_wait,
            "group_interval": timing.group_interval,
            "repeat_interval": timing.ticket_repeat,
            "routes": routes,
        },
        "receivers": receivers,
        "inhibit_rules": [
            {  # a page already has someone's attention: its ticket for the same SLO and model adds nothing
                "source_matchers": ['severity="page"'],
                "target_matchers": ['severity="ticket"'],
                "equal": ["model", "slo"],
            },
            {  # one alert per incident: its model's per-feature drift alerts are listed in it already
                "source_matchers": [f'alertname="{DRIFT_INCIDENT}"'],
                "target_matchers": ['alertname=~"DriftlineFeatureDrift(Warning|Alert)"'],
                "equal": ["model"],
            },
            {  # with the collector down every model alert it feeds is noise
                "source_matchers": [f'alertname="{COLLECTOR_DOWN}"'],
                "target_matchers": ['alertname=~"Driftline.+"', f'alertname!="{COLLECTOR_DOWN}"'],
                "equal": [],
            },
        ],
    }
    if alerting.mute:
        config["time_intervals"] = [_interval(m) for m in alerting.mute]
    return config


def _interval(m: MuteWindow) -> dict[str, Any]:
    ti: dict[str, Any] = {}
    if m.weekdays:
        ti["weekdays"] = list(m.weekdays)
    if m.times:
        ti["times"] = [{"start_time": a, "end_time": b} for a, b in m.times]
    if m.location:
        ti["location"] = m.location
    return {"name": m.name, "time_intervals": [ti]}
