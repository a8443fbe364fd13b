"""E-mail over SMTP; the SMTP password is a secret.

Grafana sends through its own server's SMTP settings (`GF_SMTP_*`): there only the addresses apply.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from spec.receivers._base import ENV_RE, ReceiverKind, SecretRef, Strict


class EmailSpec(Strict):
    to: str
    sender: str = Field(alias="from", description="From address.")
    smarthost: str = Field(description="SMTP host:port.")
    auth_username: str | None = None
    auth_password_env: str | None = Field(None, pattern=ENV_RE)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def alertmanager(s: EmailSpec, secret: SecretRef) -> dict[str, Any]:
    """One `email_configs` entry; the SMTP password is read from its file."""
    em: dict[str, Any] = {"to": s.to, "from": s.sender, "smarthost": s.smarthost, "send_resolved": True}
    if s.auth_username:
        em["auth_username"] = s.auth_username
    if s.auth_password_env:
        em["auth_password_file"] = secret(s.auth_password_env)
    return em


def grafana(s: EmailSpec, secret: SecretRef) -> dict[str, Any]:
    """The settings of a Grafana `email` contact point: the addresses only."""
    return {"addresses": s.to, "singleEmail": False}


KIND = ReceiverKind(
    name="email",
    spec=EmailSpec,
    alertmanager_key="email_configs",
    alertmanager=alertmanager,
    grafana=grafana,
    secrets=("auth_password_env",),
    order=40,
)
