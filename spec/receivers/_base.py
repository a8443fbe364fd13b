"""What every receiver kind module declares, and the pieces they share: the strict base model, the pattern
of an environment variable's name and the notification templates both Alertmanager and Grafana render."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

#: A variable name: a receiver names the variable that holds each secret, never the secret.
ENV_RE = r"^[A-Z_][A-Z0-9_]*$"
#: One line naming the alert, its model and its SLO (a Go template both Alertmanager and Grafana read).
SUMMARY = (
    "{{ .CommonLabels.alertname }} {{ .CommonLabels.model }}"
    "{{ if .CommonLabels.slo }} ({{ .CommonLabels.slo }}){{ end }}"
)
#: Every alert's summary, description, runbook and dashboard (a link the spec cannot make absolute is left
#: out of the alert, and its line out of the message).
TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
    "{{ if .Annotations.runbook_url }}Runbook: {{ .Annotations.runbook_url }}\n{{ end }}"
    "{{ if .Annotations.dashboard_url }}Dashboard: {{ .Annotations.dashboard_url }}\n{{ end }}{{ end }}"
)
#: Pages are critical (P1), tickets a warning (P3).
PAGE_IS_CRITICAL = '{{ if eq .CommonLabels.severity "page" }}critical{{ else }}warning{{ end }}'

#: Turns a secret's variable name into what the rendered form holds instead of the secret: Alertmanager's
#: file path named after the variable, Grafana's `$__env{VAR}`.
SecretRef = Callable[[str], str]


class Strict(BaseModel):
    """A receiver's settings: unknown keys are an error, and a resolved spec never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ReceiverKind:
    """One integration a spec receiver may use, declared by its own module in `spec.receivers`.

    `alertmanager` renders the settings as Alertmanager's receiver entry (its `*_configs` key and one
    config); `grafana` as the settings of a Grafana contact point of type `grafana_type` (default: `name`).
    `secrets` names the settings fields that hold a variable name whose value must never be written.
    `order` places the kind among the others in the receiver model and its messages.
    """

    name: str
    spec: type[Strict]
    alertmanager_key: str
    alertmanager: Callable[[Any, SecretRef], dict[str, Any]]
    grafana: Callable[[Any, SecretRef], dict[str, Any]]
    secrets: tuple[str, ...]
    order: int = 100
    grafana_type: str = ""

    @property
    def contact_point_type(self) -> str:
        """Grafana's name of the integration."""
        return self.grafana_type or self.name

    def secret_env(self, settings: BaseModel) -> tuple[str, ...]:
        """The environment variables holding this receiver's secrets (unset optional ones left out)."""
        return tuple(v for f in self.secrets if (v := getattr(settings, f, None)))
