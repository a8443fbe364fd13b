"""PagerDuty (Events API v2): pages critical, tickets a warning; the routing key is a secret."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spec.receivers._base import ENV_RE, PAGE_IS_CRITICAL, SUMMARY, ReceiverKind, SecretRef, Strict


class PagerDutySpec(Strict):
    """PagerDuty Events API v2."""

    routing_key_env: str = Field(
        pattern=ENV_RE, description="Variable holding the integration's routing key."
    )
    url: str | None = Field(None, description="Events API URL; set only to route through a proxy.")


_DETAILS = {
    "summary": "{{ .CommonAnnotations.summary }}",
    "runbook": "{{ .CommonAnnotations.runbook_url }}",
    "dashboard": "{{ .CommonAnnotations.dashboard_url }}",
    "firing": "{{ .Alerts.Firing | len }}",
}


def alertmanager(s: PagerDutySpec, secret: SecretRef) -> dict[str, Any]:
    """One `pagerduty_configs` entry; the routing key is read from its file."""
    pd: dict[str, Any] = {
        "routing_key_file": secret(s.routing_key_env),
        "send_resolved": True,
        "severity": PAGE_IS_CRITICAL,
        "description": SUMMARY,
        "details": dict(_DETAILS),
    }
    if s.url:
        pd["url"] = s.url
    return pd


def grafana(s: PagerDutySpec, secret: SecretRef) -> dict[str, Any]:
    """The settings of a Grafana `pagerduty` contact point."""
    settings: dict[str, Any] = {
        "integrationKey": secret(s.routing_key_env),
        "severity": PAGE_IS_CRITICAL,
        "summary": SUMMARY,
        "details": dict(_DETAILS),
    }
    if s.url:
        settings["url"] = s.url
    return settings


KIND = ReceiverKind(
    name="pagerduty",
    spec=PagerDutySpec,
    alertmanager_key="pagerduty_configs",
    alertmanager=alertmanager,
    grafana=grafana,
    secrets=("routing_key_env",),
    order=10,
)
