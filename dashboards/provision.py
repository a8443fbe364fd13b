"""Push the folder, datasources and dashboards to a running Grafana with grafana-client, idempotently.

Each object is read first and written only when it differs from what the spec generates, so a second
run changes nothing (Grafana bumps a dashboard's version on every save, even an identical one).
Generated dashboards that the spec no longer produces are deleted from the folder (`prune`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clients import TOKEN_ENV, Change, GrafanaError, Report, connect, differs, ensure_folder, get
from clients import call as grafana_call
from dashboards.board import GENERATED_TAG, deploy_tags, event_tags
from dashboards.datasources import Datasource, MissingSecretError, datasources
from dashboards.generate import GeneratedDashboard, generate_dashboards
from dashboards.options import GrafanaOptions
from spec import ResolvedSpec, load_spec

if TYPE_CHECKING:
    from grafana_client import GrafanaApi

#: What provisioning did to each object: the one report type of `clients`.
ProvisionReport = Report

__all__ = [
    "TOKEN_ENV",
    "Change",
    "ProvisionError",
    "ProvisionReport",
    "post_deploy_annotation",
    "post_event_annotation",
    "provision",
    "provision_grafana",
    "push",
]


class ProvisionError(GrafanaError):
    """Grafana refused a request, or could not be reached; the message says which object and why."""


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
    api = connect(url, token, timeout=timeout, error=ProvisionError)
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
    return push(api, boards, datasources(options), options, env=env, prune=prune, message=message)


def push(
    api: GrafanaApi,
    boards: Iterable[GeneratedDashboard],
    sources: Iterable[Datasource],
    options: GrafanaOptions,
    *,
    env: Mapping[str, str] | None = None,
    prune: bool = True,
    message: str = "Provisioned by driftline",
) -> ProvisionReport:
    """Create or update the folder, `sources` and `boards`, already built (`driftline generate` builds
    them once); with `prune`, generated dashboards no longer among `boards` are deleted from the folder."""
    boards = tuple(boards)
    folder = options.folder_uid
    changes = [_call("folder", folder, lambda: ensure_folder(api, folder, options.folder_title))]
    changes += [_call("datasource", ds.uid, lambda ds=ds: _datasource(api, ds, env)) for ds in sources]
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


def post_event_annotation(
    api: GrafanaApi,
    model: str,
    kind: str,
    at_ms: int,
    *,
    version: str | None = None,
    note: str | None = None,
    links: Iterable[str] = (),
) -> int:
    """Post the annotation the model dashboard shows for a reported retrain, deploy or rollback; its id."""
    what = f"{model}: {kind}" + (f" of version {version}" if version else "")
    text = "\n".join([what, *([note] if note else []), *links])
    result = _call(
        "annotation",
        f"{model}@{kind}",
        lambda: api.annotations.add_annotation(
            panel_id=0, time_from=at_ms, time_to=at_ms, tags=event_tags(model, kind, version), text=text
        ),
    )
    return int(result["id"])


def _call(kind: str, uid: str, fn: Any) -> Any:
    try:
        return grafana_call(kind, uid, fn, ProvisionError)
    except MissingSecretError as exc:
        raise ProvisionError(str(exc)) from exc


def _datasource(api: GrafanaApi, ds: Datasource, env: Mapping[str, str] | None) -> Change:
    current = get(api.datasource.get_datasource_by_uid, ds.uid)
    if current is None:
        api.datasource.create_datasource(ds.api_body(env))
        return Change("datasource", ds.uid, "created")
    stored_secrets = current.get("secureJsonFields") or {}
    missing = [key for key in ds.secret_env if not stored_secrets.get(key)]
    if not differs(ds.settings(), current) and not missing:
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
    current = get(api.dashboard.get_dashboard, board.uid)
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
