"""The receiver kinds a spec's `alerting.receivers` may use, one module each, found by looking.

A kind module (`slack.py`, `pagerduty.py`, ...) declares `KIND`, a `ReceiverKind`: its strict settings
model, how it renders as an Alertmanager receiver and as a Grafana contact point, and which of its
fields name secrets. Adding a kind is adding one module here (plus its tests): the receiver model, the
Alertmanager config and Grafana's contact points all read `KINDS`. Modules starting with `_` are helpers.
"""

from __future__ import annotations

import importlib
import pkgutil

from spec.receivers._base import ENV_RE, ReceiverKind, SecretRef, Strict


def _discover() -> dict[str, ReceiverKind]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        kind = getattr(importlib.import_module(f"{__name__}.{info.name}"), "KIND", None)
        if not isinstance(kind, ReceiverKind):
            raise TypeError(f"spec.receivers.{info.name} declares no KIND = ReceiverKind(...)")
        found.append(kind)
    return {k.name: k for k in sorted(found, key=lambda k: (k.order, k.name))}


#: Every receiver kind by name, in the order the receiver model and its messages list them.
KINDS: dict[str, ReceiverKind] = _discover()


def receiver_kind(name: str) -> ReceiverKind:
    """The kind called `name` (a resolved receiver's `kind`)."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown receiver kind {name!r} (known: {', '.join(KINDS)})") from None


__all__ = ["ENV_RE", "KINDS", "ReceiverKind", "SecretRef", "Strict", "receiver_kind"]
