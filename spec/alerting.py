"""The spec's `alerting:` block: receivers, routing and maintenance windows (wire model and resolved model).

Secrets are never in the file: a receiver names the environment variable that holds each secret, and
the generated Alertmanager configuration reads it from a file of that name (`*_file` fields), which the
deployment writes from the environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, create_model, field_validator, model_validator

from slo.links import runbook_base
from spec.receivers import KINDS, ReceiverKind, Strict, receiver_kind

_TIME_RE = re.compile(r"^([01]\d|2[0-4]):[0-5]\d$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class _ReceiverBase(Strict):
    """Where notifications go: exactly one integration per receiver."""

    name: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$")

    @model_validator(mode="after")
    def _one_integration(self) -> _ReceiverBase:
        kinds = [k for k in KINDS if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(
                f"receiver {self.name!r} has {len(kinds)} integrations ({', '.join(kinds) or 'none'}): "
                f"give each receiver exactly one of {', '.join(KINDS)}"
            )
        return self


if TYPE_CHECKING:
    ReceiverSpec = _ReceiverBase
else:  # one optional field per receiver kind module in spec.receivers
    ReceiverSpec = create_model(
        "ReceiverSpec",
        __base__=_ReceiverBase,
        __module__=__name__,
        __doc__=_ReceiverBase.__doc__,
        **{name: (kind.spec | None, None) for name, kind in KINDS.items()},
    )


class TimeRangeSpec(Strict):
    start: str = Field(description="HH:MM, UTC unless the window names a location.")
    end: str

    @model_validator(mode="after")
    def _times(self) -> TimeRangeSpec:
        for t in (self.start, self.end):
            if not _TIME_RE.match(t):
                raise ValueError(f"{t!r} is not a time of day: write HH:MM, such as 02:00")
        if self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


class MuteWindowSpec(Strict):
    """A recurring maintenance or retraining window during which notifications are muted."""

    name: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$")
    weekdays: tuple[
        Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"], ...
    ] = ()
    times: tuple[TimeRangeSpec, ...] = ()
    location: str | None = Field(None, description="IANA time zone, such as Europe/Berlin; default UTC.")
    models: tuple[str, ...] = Field((), description="Mute only these models' alerts; empty: every alert.")


#: The generated receiver of a model's canary rollback webhook is this prefix and the model's name.
ROLLBACK_PREFIX = "driftline-rollback-"


class CanaryRollbackSpec(Strict):
    """A webhook that rolls a model's canary back, called when one of the model's alerts pages."""

    model: str = Field(description="The model whose pages call the webhook.")
    webhook_url: str = Field(description="Endpoint that takes Alertmanager's webhook JSON and rolls back.")
    bearer_token_env: str | None = Field(
        None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="Variable holding a bearer token for the webhook."
    )

    @field_validator("webhook_url")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"{v!r} is not an absolute http(s) URL, such as https://deploy.example.com/rollback")
        return v


class AlertingSpec(Strict):
    """Routing of pages and tickets."""

    receivers: tuple[ReceiverSpec, ...] = ()
    page: str | None = Field(None, description="Receiver of severity=page alerts.")
    ticket: str | None = Field(None, description="Receiver of severity=ticket alerts.")
    mute: tuple[MuteWindowSpec, ...] = Field((), description="Maintenance and retraining windows.")
    secrets_dir: str = Field(
        "/etc/alertmanager/secrets", description="Where the deployment writes secret files."
    )
    canary_rollback: tuple[CanaryRollbackSpec, ...] = Field(
        (), description="Per model, a rollback webhook Alertmanager calls when the model's alerts page."
    )
    runbook_base_url: str | None = Field(
        None,
        description="Absolute URL where docs/runbooks/ is served: an alert links <base><Alert>.md. Unset: "
        "alerts without a model runbook_url carry no runbook link.",
    )

    @field_validator("runbook_base_url")
    @classmethod
    def _absolute_base(cls, v: str | None) -> str | None:
        return None if v is None else runbook_base(v)

    @model_validator(mode="after")
    def _routes_name_receivers(self) -> AlertingSpec:
        names = [r.name for r in self.receivers]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"receiver {dup!r} is declared twice: receiver names must be unique")
        taken = [n for n in names if n.startswith(ROLLBACK_PREFIX)]
        if taken:
            raise ValueError(f"receiver {taken[0]!r}: names starting {ROLLBACK_PREFIX!r} are kept for canary_rollback")
        models = [c.model for c in self.canary_rollback]
        for dup in sorted({m for m in models if models.count(m) > 1}):
            raise ValueError(f"canary_rollback: model {dup!r} is listed twice: give each model one webhook")
        for role in ("page", "ticket"):
            target = getattr(self, role)
            if target is not None and target not in names:
                raise ValueError(
                    f"{role}: {target!r} is not a declared receiver (receivers: {', '.join(names) or 'none'})"
                )
        return self


@dataclass(frozen=True)
class Receiver:
    """A resolved receiver: its name, its kind (a module of `spec.receivers`) and that kind's settings."""

    name: str
    kind: str  # pagerduty | opsgenie | slack | email | webhook | any other module of spec.receivers
    settings: BaseModel

    @property
    def integration(self) -> ReceiverKind:
        """The kind's module declaration: how this receiver renders for Alertmanager and Grafana."""
        return receiver_kind(self.kind)

    @property
    def secret_env(self) -> tuple[str, ...]:
        """The environment variables holding this receiver's secrets."""
        return self.integration.secret_env(self.settings)


@dataclass(frozen=True)
class MuteWindow:
    name: str
    weekdays: tuple[str, ...]
    times: tuple[tuple[str, str], ...]
    location: str | None
    models: tuple[str, ...]


@dataclass(frozen=True)
class Alerting:
    receivers: tuple[Receiver, ...]
    page: str | None
    ticket: str | None
    mute: tuple[MuteWindow, ...]
    secrets_dir: str
    #: (model, receiver): the generated webhook receiver called on the model's pages (`canary_rollback`);
    #: the receiver is in `receivers`, so Alertmanager and Grafana both get it.
    rollbacks: tuple[tuple[str, str], ...] = ()


def resolve_alerting(spec: AlertingSpec) -> Alerting:
    """The frozen routing model the Alertmanager and Grafana generators read."""
    receivers = []
    for r in spec.receivers:
        kind = next(k for k in KINDS if getattr(r, k))
        receivers.append(Receiver(r.name, kind, getattr(r, kind)))
    mute = tuple(
        MuteWindow(m.name, m.weekdays, tuple((t.start, t.end) for t in m.times), m.location, m.models)
        for m in spec.mute
    )
    rollbacks = []
    for c in spec.canary_rollback:
        hook = KINDS["webhook"].spec.model_validate({"url": c.webhook_url, "bearer_token_env": c.bearer_token_env})
        receivers.append(Receiver(ROLLBACK_PREFIX + c.model, "webhook", hook))
        rollbacks.append((c.model, ROLLBACK_PREFIX + c.model))
    return Alerting(tuple(receivers), spec.page, spec.ticket, mute, spec.secrets_dir, tuple(rollbacks))
