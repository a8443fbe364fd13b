"""A generic webhook receiving Alertmanager's JSON; an optional bearer token is a secret."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spec.receivers._base import ENV_RE, ReceiverKind, SecretRef, Strict


class WebhookSpec(Strict):
    url: str = Field(description="Endpoint that receives Alertmanager's webhook JSON.")
    bearer_token_env: str | None = Field(None, pattern=ENV_RE, description="Variable holding a bearer token.")


def alertmanager(s: WebhookSpec, secret: SecretRef) -> dict[str, Any]:
    """One `webhook_configs` entry; the bearer token is read from its file."""
    wh: dict[str, Any] = {"url": s.url, "send_resolved": True}
    if s.bearer_token_env:
        wh["http_config"] = {"authorization": {"credentials_file": secret(s.bearer_token_env)}}
    return wh


def grafana(s: WebhookSpec, secret: SecretRef) -> dict[str, Any]:
    """The settings of a Grafana `webhook` contact point."""
    settings: dict[str, Any] = {"url": s.url, "httpMethod": "POST"}
    if s.bearer_token_env:
        settings["authorization_scheme"] = "Bearer"
        settings["authorization_credentials"] = secret(s.bearer_token_env)
    return settings


KIND = ReceiverKind(
    name="webhook",
    spec=WebhookSpec,
    alertmanager_key="webhook_configs",
    alertmanager=alertmanager,
    grafana=grafana,
    secrets=("bearer_token_env",),
    order=50,
)
