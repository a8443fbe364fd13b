"""Opsgenie: pages are P1, tickets P3, tagged with the model; the API key is a secret."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spec.receivers._base import ENV_RE, SUMMARY, TEXT, ReceiverKind, SecretRef, Strict

#: Opsgenie's API; Grafana's integration takes its alerts endpoint, Alertmanager the base.
OPSGENIE_API = "https://api.opsgenie.com"


class OpsgenieSpec(Strict):
    api_key_env: str = Field(pattern=ENV_RE, description="Variable holding the Opsgenie API key.")
    api_url: str | None = Field(None, description="API URL (EU accounts: https://api.eu.opsgenie.com/).")
    responders: tuple[str, ...] = Field((), description="Team names to notify.")


def alertmanager(s: OpsgenieSpec, secret: SecretRef) -> dict[str, Any]:
    """One `opsgenie_configs` entry; the API key is read from its file."""
    og: dict[str, Any] = {
        "api_key_file": secret(s.api_key_env),
        "send_resolved": True,
        "message": SUMMARY,
        "description": TEXT,
        "priority": '{{ if eq .CommonLabels.severity "page" }}P1{{ else }}P3{{ end }}',
        "tags": "driftline,{{ .CommonLabels.model }}",
    }
    if s.api_url:
        og["api_url"] = s.api_url
    if s.responders:
        og["responders"] = [{"name": t, "type": "team"} for t in s.responders]
    return og


def grafana(s: OpsgenieSpec, secret: SecretRef) -> dict[str, Any]:
    """The settings of a Grafana `opsgenie` contact point (its URL is the alerts endpoint)."""
    base = (s.api_url or OPSGENIE_API).rstrip("/")
    settings: dict[str, Any] = {
        "apiKey": secret(s.api_key_env),
        "apiUrl": base if base.endswith("/v2/alerts") else base + "/v2/alerts",
        "message": SUMMARY,
        "description": TEXT,
        "autoClose": True,
        "overridePriority": True,
        "sendTagsAs": "tags",
    }
    if s.responders:
        settings["responders"] = [{"type": "team", "name": t} for t in s.responders]
    return settings


KIND = ReceiverKind(
    name="opsgenie",
    spec=OpsgenieSpec,
    alertmanager_key="opsgenie_configs",
    alertmanager=alertmanager,
    grafana=grafana,
    secrets=("api_key_env",),
    order=20,
)
