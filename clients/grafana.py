"""The one Grafana API client Driftline uses, over grafana-client: calls with their errors translated, reads
that answer None for a missing object, the diff that decides whether to write, and one change report.

Both `alerting` (rules, contact points, policies) and `dashboards` (folder, datasources, dashboards)
push through it. It knows Grafana, not the spec: callers hand it request bodies. grafana-client is the
optional `grafana` extra, so it is imported inside the functions that talk to Grafana.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from contract import DriftlineError

if TYPE_CHECKING:
    from grafana_client import GrafanaApi

#: The environment variable holding a Grafana service account token.
TOKEN_ENV = "GRAFANA_TOKEN"

Action = Literal["created", "updated", "unchanged", "deleted"]


class GrafanaError(DriftlineError, RuntimeError):
    """Grafana refused a request or could not be reached; the message names the object and why."""


@dataclass(frozen=True)
class Change:
    """What a push did to one Grafana object (`kind`: folder, datasource, dashboard, rule, contact-point, ...)."""

    kind: str
    uid: str
    action: Action


@dataclass(frozen=True)
class Report:
    """Every object a push looked at, in order."""

    changes: tuple[Change, ...]

    @property
    def changed(self) -> bool:
        """Whether anything in Grafana changed."""
        return any(c.action != "unchanged" for c in self.changes)

    def summary(self) -> str:
        """One line per object, for the command line."""
        return "\n".join(f"{c.kind} {c.uid}: {c.action}" for c in self.changes)


def connect(
    url: str,
    token: str | None = None,
    *,
    timeout: float = 10.0,
    error: type[Exception] = GrafanaError,
    anonymous: bool = False,
) -> GrafanaApi:
    """A grafana-client API for `url` with a service account token (default: GRAFANA_TOKEN's); `error`
    without a token (unless `anonymous`) or without the grafana extra."""
    token = token or os.environ.get(TOKEN_ENV)
    if not token and not anonymous:
        raise error(f"set {TOKEN_ENV} to a Grafana service account token with the Editor or Admin role")
    try:
        from grafana_client import GrafanaApi  # the optional grafana extra
    except ImportError as exc:
        raise error("pushing to Grafana needs grafana-client: pip install 'driftline[grafana]'") from exc
    return GrafanaApi.from_url(url, credential=token, timeout=timeout)


def call(kind: str, uid: str, fn: Callable[[], Any], error: type[Exception] = GrafanaError) -> Any:
    """Run one grafana-client request; a refusal or an unreachable Grafana becomes `error`, naming the object
    and why (each caller passes its own error type)."""
    import niquests  # grafana-client's HTTP library: part of the optional grafana extra
    from grafana_client.client import GrafanaException  # the optional grafana extra

    try:
        return fn()
    except GrafanaException as exc:
        status = f"HTTP {exc.status_code}" if exc.status_code else "no answer"
        raise error(f"Grafana refused {kind} {uid!r} ({status}): {exc.message}") from exc
    except niquests.exceptions.RequestException as exc:
        raise error(f"could not reach Grafana for {kind} {uid!r}: {exc}") from exc


def get(fn: Callable[..., Any], *args: Any) -> Any:
    """A GET that answers None for 404."""
    from grafana_client.client import GrafanaClientError  # the optional grafana extra

    try:
        return fn(*args)
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise


def differs(desired: Any, current: Any) -> bool:
    """Whether `current` lacks or contradicts anything in `desired` (Grafana adds keys of its own, and
    leaves out the zero values Go's `omitempty` drops)."""
    if current is None and desired in ("", False, [], {}):
        return False
    if isinstance(desired, dict):
        return not isinstance(current, dict) or any(differs(v, current.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            not isinstance(current, list)
            or len(desired) != len(current)
            or any(differs(d, c) for d, c in zip(desired, current, strict=True))
        )
    return bool(desired != current)


def without(tree: Any, key: str) -> Any:
    """`tree` with `key` dropped from every mapping in it (such as Grafana's `provenance`)."""
    if isinstance(tree, dict):
        return {k: without(v, key) for k, v in tree.items() if k != key}
    if isinstance(tree, list):
        return [without(v, key) for v in tree]
    return tree


def ensure_folder(api: GrafanaApi, uid: str, title: str, *, retitle: bool = True) -> Change:
    """Create the folder `uid` when missing; with `retitle`, give an existing one `title`."""
    current = get(api.folder.get_folder, uid)
    if current is None:
        api.folder.create_folder(title, uid=uid)
        return Change("folder", uid, "created")
    if not retitle or current.get("title") == title:
        return Change("folder", uid, "unchanged")
    api.folder.update_folder(uid, title=title, version=current.get("version"))
    return Change("folder", uid, "updated")
