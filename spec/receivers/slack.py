"""Slack (incoming webhook): a title with the status and one block per alert; the webhook URL is a secret."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spec.receivers._base import ENV_RE, SUMMARY, TEXT, ReceiverKind, SecretRef, Strict

_TITLE = "[{{ .Status | toUpper }}] " + SUMMARY


class SlackSpec(Strict):
    webhook_url_env: str = Field(pattern=ENV_RE, description="Variable holding the incoming-webhook URL.")
    channel: str | None = Field(None, description="Channel, such as #ml-alerts.")


def alertmanager(s: SlackSpec, secret: SecretRef) -> dict[str, Any]:
    """One `slack_configs` entry; the webhook URL is read from its file."""
    sl: dict[str, Any] = {
        "api_url_file": secret(s.webhook_url_env),
        "send_resolved": True,
        "title": _TITLE,
        "text": TEXT,
    }
    if s.channel:
        sl["channel"] = s.channel
    return sl


def grafana(s: SlackSpec, secret: SecretRef) -> dict[str, Any]:
    """The settings of a Grafana `slack` contact point."""
    settings: dict[str, Any] = {"url": secret(s.webhook_url_env), "title": _TITLE, "text": TEXT}
    if s.channel:
        settings["recipient"] = s.channel
    return settings


KIND = ReceiverKind(
    name="slack",
    spec=SlackSpec,
    alertmanager_key="slack_configs",
    alertmanager=alertmanager,
    grafana=grafana,
    secrets=("webhook_url_env",),
    order=30,
)
