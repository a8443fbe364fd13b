"""Push the folder, datasources and dashboards to a running Grafana with grafana-client, idempotently.

Each object is read first and written only when it differs from what the spec generates, so a second
run changes nothing (Grafana bumps a dashboard's version on every save, even an identical one).
Generated dashboards that the spec no longer produces are deleted from the folder (`prune`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from alerting.grafana import grafana_call, grafana_get
from dashboards.board import GENERATED_TAG, deploy_tags
from dashboards.datasources import Datasource, MissingSecretError, datasources
from dashboards.generate import GeneratedDashboard, generate_dashboards
from dashboards.options import GrafanaOptions
from spec import ResolvedSpec, load_spec

if TYPE_CHECKING:
    from grafana_client import GrafanaApi

Action = Literal["created", "updated", "unchanged", "deleted"]
TOKEN_ENV = "GRAFANA_TOKEN"


class ProvisionError(RuntimeError):
    """Grafana refused a request, or could not be reached; the message says which object and why."""


@dataclass(frozen=True)
class Change:
    """What provisioning did to one Grafana object."""

    kind: Literal["folder", "datasource", "dashboard"]
    uid: str
    action: Action


@dataclass(frozen=True)
class ProvisionReport:
    """Every object provisioning looked at, in order."""

    changes: tuple[Change, ...]

    @property
    def changed(self) -> bool:
        """Whether anything in Grafana changed."""
        return any(c.action != "unchanged" for c in self.changes)

    def summary(self) -> str:
        """One line per object, for the command line."""
        return "\n".join(f"{c.kind} {c.uid}: {c.action}" for c in self.changes)


def provision_grafana(
    config: str | Path | ResolvedSpec,
    url: str,
    token: str | None = None,
    options: GrafanaOptions | None = None,
    *,
    prune: bool = True,
    timeout: float = 10.0,
) -> ProvisionReport:
    """`driftline provision grafana CONFIG --url URL`: push everything, token from GRAFANA_TOKEN."""
    spec = config if isinstance(config, ResolvedSpec) else load_spec(config)
    token = token or os.environ.get(TOKEN_ENV)
    if not token:
        raise ProvisionError(
            f"set {TOKEN_ENV} to a Grafana service account token with the Editor or Admin role"
        )
    try:
        from grafana_client import GrafanaApi
    except ImportError as exc:
        raise ProvisionError(
            "pushing to Grafana needs grafana-client: pip install 'driftline[grafana]'"
        ) from exc
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    return provision(api, spec, options, prune=prune)


def provision(
    api: GrafanaApi,
    spec: ResolvedSpec,
    options: GrafanaOptions | None = None,
    *,
    env: Mapping[str, str] | None = None,
    prune: bool = True,
    message: str = "Provisioned by driftline",
) -> ProvisionReport:
    """Create or update the folder, the datasources and every dashboard of the spec."""
    options = options or GrafanaOptions()
    boards = generate_dashboards(spec, options)
    changes = [_call("folder", options.folder_uid, lambda: _folder(api, options))]
    changes += [
        _call("datasource", ds.uid, lambda ds=ds: _datasource(api, ds, env)) for ds in datasources(options)
    ]
    changes += [
        _call("dashboard", b.uid, lambda b=b: _dashboard(api, b, options.folder_uid, message)) for b in boards
    ]
    if prune:
        keep = {b.uid for b in boards}
        changes += _call("dashboard", "(stale)", lambda: _prune(api, options.folder_uid, keep))
    return ProvisionReport(tuple(changes))


def post_deploy_annotation(api: GrafanaApi, model: str, version: str, at_ms: int) -> int:
    """Post the annotation the dashboards show when a model starts serving `version`; returns its id."""
    result = _call(
        "annotation",
        f"{model}@{version}",
        lambda: api.annotations.add_annotation(
            panel_id=0,
            time_from=at_ms,
            time_to=at_ms,
            tags=deploy_tags(model, version),
            text=f"{model} now serves version {version}",
        ),
    )
    return int(result["id"])


def _call(kind: str, uid: str, fn: Any) -> Any:
    try:
        return grafana_call(kind, uid, fn, ProvisionError)
    except MissingSecretError as exc:
        raise ProvisionError(str(exc)) from exc


_get = grafana_get


def _folder(api: GrafanaApi, options: GrafanaOptions) -> Change:
    current = _get(api.folder.get_folder, options.folder_uid)
    if current is None:
        api.folder.create_folder(options.folder_title, uid=options.folder_uid)
        return Change("folder", options.folder_uid, "created")
    if current.get("title") == options.folder_title:
        return Change("folder", options.folder_uid, "unchanged")
    api.folder.update_folder(options.folder_uid, title=options.folder_title, version=current.get("version"))
    return Change("folder", options.folder_uid, "updated")


def _differs(desired: Any, current: Any) -> bool:
    """Whether `current` lacks or contradicts anything in `desired` (Grafana may add its own keys)."""
    if isinstance(desired, dict):
        return not isinstance(current, dict) or any(_differs(v, current.get(k)) for k, v in desired.items())
    return bool(desired != current)


def _datasource(api: GrafanaApi, ds: Datasource, env: Mapping[str, str] | None) -> Change:
    current = _get(api.datasource.get_datasource_by_uid, ds.uid)
    if current is None:
        api.datasource.create_datasource(ds.api_body(env))
        return Change("datasource", ds.uid, "created")
    stored_secrets = current.get("secureJsonFields") or {}
    missing = [key for key in ds.secret_env if not stored_secrets.get(key)]
    if not _differs(ds.settings(), current) and not missing:
        return Change("datasource", ds.uid, "unchanged")
    body = ds.api_body(env) if missing else ds.settings()
    if "version" in current:
        body["version"] = current["version"]
    api.datasource.update_datasource_by_uid(ds.uid, body)
    return Change("datasource", ds.uid, "updated")


def _same_dashboard(stored: dict[str, Any], generated: dict[str, Any]) -> bool:
    """Whether Grafana's stored model has every generated key at its generated value."""
    return all(stored.get(k) == v for k, v in generated.items())


def _dashboard(api: GrafanaApi, board: GeneratedDashboard, folder_uid: str, message: str) -> Change:
    current = _get(api.dashboard.get_dashboard, board.uid)
    if current is not None:
        meta = current.get("meta") or {}
        if meta.get("folderUid") == folder_uid and _same_dashboard(
            current.get("dashboard") or {}, board.model
        ):
            return Change("dashboard", board.uid, "unchanged")
    api.dashboard.update_dashboard(
        {"dashboard": board.model, "folderUid": folder_uid, "overwrite": True, "message": message}
    )
    return Change("dashboard", board.uid, "created" if current is None else "updated")


def _prune(api: GrafanaApi, folder_uid: str, keep: set[str]) -> list[Change]:
    hits = api.search.search_dashboards(tag=GENERATED_TAG, type_="dash-db")
    stale = sorted(h["uid"] for h in hits if h.get("folderUid") == folder_uid and h.get("uid") not in keep)
    for uid in stale:
        api.dashboard.delete_dashboard(uid)
    return [Change("dashboard", uid, "deleted") for uid in stale]
