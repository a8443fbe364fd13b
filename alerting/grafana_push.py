"""Push Grafana-managed alerting through `clients.grafana`: the folder, mute timings, contact points, rule
groups and the policy tree of a `GrafanaAlerting` value, each read first and written only when it differs.

Secrets: the built contact points name each secret `$__env{VAR}`; the push replaces it with the
variable's value just before sending, and only for a contact point it creates or updates.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from alerting.grafana import (
    CONTACT_POINT_PREFIX,
    DEFAULT_RECEIVER,
    ENV_REF,
    GROUP_PREFIX,
    GrafanaAlerting,
    GrafanaTarget,
    build_from_spec,
)
from clients import Action, Change, GrafanaError, Report, differs, ensure_folder, get, without
from clients import call as grafana_call
from spec import ResolvedSpec

if TYPE_CHECKING:
    from grafana_client import GrafanaApi

#: What the push did to one object, and to all of them: the one change and report type of `clients`.
AlertingChange = Change
AlertingReport = Report


class AlertingProvisionError(GrafanaError):
    """Grafana refused a request or could not be reached, or a secret's variable is unset; the message
    names the object and why."""


def _call(kind: str, uid: str, fn: Any) -> Any:
    return grafana_call(kind, uid, fn, AlertingProvisionError)


def _secret_keys(cp: Mapping[str, Any]) -> dict[str, str]:
    """Setting -> environment variable, for every secret of a contact point."""
    out = {}
    for key, value in cp["settings"].items():
        m = ENV_REF.match(value) if isinstance(value, str) else None
        if m:
            out[key] = m.group(1)
    return out


def resolve_secrets(cp: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The contact point with each `$__env{VAR}` replaced by the variable's value."""
    settings = dict(cp["settings"])
    for key, var in _secret_keys(cp).items():
        value = env.get(var)
        if not value:
            raise AlertingProvisionError(
                f"contact point {cp['name']!r} ({cp['type']}): set {var} to its {key}; "
                "Grafana needs it to create or update the contact point"
            )
        settings[key] = value
    return {**cp, "settings": settings}


def _contact_pointdiffers(desired: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    secrets = _secret_keys(desired)
    stored = current.get("settings") or {}
    if any(not stored.get(key) for key in secrets):  # Grafana answers a stored secret as "[REDACTED]"
        return True
    plain = {**desired, "settings": {k: v for k, v in desired["settings"].items() if k not in secrets}}
    return differs(plain, current)


def _mute_timings(api: GrafanaApi, desired: list[dict[str, Any]]) -> list[Change]:
    current = {m.get("name"): m for m in api.alertingprovisioning.get_mute_timings() or []}
    changes = []
    for m in desired:
        name = m["name"]
        if name not in current:
            _call("mute-timing", name, partial(api.alertingprovisioning.create_mute_timing, m))
            changes.append(Change("mute-timing", name, "created"))
        elif differs(m, current[name]):
            _call("mute-timing", name, partial(api.alertingprovisioning.update_mute_timing, name, m))
            changes.append(Change("mute-timing", name, "updated"))
        else:
            changes.append(Change("mute-timing", name, "unchanged"))
    return changes


def _contact_points(
    api: GrafanaApi, desired: list[dict[str, Any]], current: Mapping[str, Any], env: Mapping[str, str]
) -> list[Change]:
    changes = []
    for cp in desired:
        uid = cp["uid"]
        if uid not in current:
            body = resolve_secrets(cp, env)
            _call("contact point", uid, partial(api.alertingprovisioning.create_contactpoint, body))
            changes.append(Change("contact-point", uid, "created"))
        elif _contact_pointdiffers(cp, current[uid]):
            body = resolve_secrets(cp, env)
            _call(
                "contact point",
                uid,
                partial(api.alertingprovisioning.update_contactpoint, uid, body),
            )
            changes.append(Change("contact-point", uid, "updated"))
        else:
            changes.append(Change("contact-point", uid, "unchanged"))
    return changes


def _rule_group(api: GrafanaApi, group: dict[str, Any]) -> list[Change]:
    folder, name = group["folderUid"], group["title"]
    current = _call(
        "rule group",
        name,
        lambda: get(api.alertingprovisioning.get_rule_group, folder, quote(name, safe="")),
    )
    stored = {r.get("uid"): r for r in (current or {}).get("rules") or []}
    changes = []
    for rule in group["rules"]:
        old = stored.pop(rule["uid"], None)
        action: Action = "created" if old is None else "updated" if differs(rule, old) else "unchanged"
        changes.append(Change("rule", rule["uid"], action))
    changes += [Change("rule", uid, "deleted") for uid in stored]
    moved = current is None or current.get("interval") != group["interval"]
    if moved or any(c.action != "unchanged" for c in changes):
        _call(
            "rule group",
            name,
            lambda: api.alertingprovisioning.update_rule_group(folder, quote(name, safe=""), group),
        )
    return changes


def _prune_rules(api: GrafanaApi, folder: str, keep: set[str]) -> list[Change]:
    rules = _call("rule", "(stale)", api.alertingprovisioning.get_alertrules_all) or []
    stale = sorted(
        r["uid"]
        for r in rules
        if r.get("folderUID") == folder
        and str(r.get("ruleGroup", "")).startswith(GROUP_PREFIX)
        and r.get("ruleGroup") not in keep
    )
    for uid in stale:
        _call("rule", uid, partial(api.alertingprovisioning.delete_alertrule, uid))
    return [Change("rule", uid, "deleted") for uid in stale]


def push_grafana_alerting(
    api: GrafanaApi,
    spec: ResolvedSpec,
    options: GrafanaTarget | None = None,
    env: Mapping[str, str] = os.environ,
    *,
    prune: bool = True,
    default_receiver: str | None = None,
    **kwargs: Any,
) -> Report:
    """Build the spec's Grafana alerting (keyword arguments are `build_from_spec`'s) and push it (`push`)."""
    built = build_from_spec(spec, options, **kwargs)
    return push(api, built, env, prune=prune, default_receiver=default_receiver)


def push(
    api: GrafanaApi,
    built: GrafanaAlerting,
    env: Mapping[str, str] = os.environ,
    *,
    prune: bool = True,
    default_receiver: str | None = None,
) -> Report:
    """Create or update the folder, mute timings, contact points, rule groups and the policy tree.

    Each object is read first and written only when it differs; secrets come from `env` only when a
    contact point is created or updated (a changed secret alone is not seen: Grafana never answers one).
    With `prune`, Driftline's rule groups and contact points that the spec no longer produces are
    deleted. The policy tree's default receiver is read from Grafana unless `default_receiver` names one.
    """
    prov = api.alertingprovisioning
    tree = _call("policy tree", "root", prov.get_notification_policy_tree) or {}
    points = {c.get("uid"): c for c in _call("contact points", "(all)", prov.get_contactpoints) or []}
    objects = built.objects(default_receiver or _default_receiver(tree, points, built))
    folder_uid, folder_title = objects["folder"]["uid"], objects["folder"]["title"]
    changes = [
        _call("folder", folder_uid, lambda: ensure_folder(api, folder_uid, folder_title, retitle=False))
    ]
    changes += _call("mute timings", "(all)", lambda: _mute_timings(api, objects["mute_timings"]))
    changes += _contact_points(api, objects["contact_points"], points, env)
    if prune:  # first, so that a title moving between groups never meets itself in a stale one
        keep = {g["title"] for g in objects["rule_groups"]}
        changes += _prune_rules(api, folder_uid, keep)
    for group in objects["rule_groups"]:
        changes += _rule_group(api, group)
    desired_tree = objects["policy_tree"]
    if differs(desired_tree, tree) or differs(without(tree, "provenance"), desired_tree):
        _call("policy tree", "root", lambda: prov.set_notification_policy_tree(desired_tree))
        changes.append(Change("policy-tree", "root", "updated"))
    else:
        changes.append(Change("policy-tree", "root", "unchanged"))
    if prune:
        wanted = {cp["uid"] for cp in objects["contact_points"]}
        for uid in sorted(points):
            if str(uid).startswith(CONTACT_POINT_PREFIX) and uid not in wanted:
                _call("contact point", uid, partial(prov.delete_contactpoint, uid))
                changes.append(Change("contact-point", uid, "deleted"))
    return Report(tuple(changes))


def _default_receiver(tree: Mapping[str, Any], points: Mapping[Any, Any], built: GrafanaAlerting) -> str:
    """The organisation's default contact point: the policy root's, unless a previous push put one there."""
    ours = {c.get("name") for uid, c in points.items() if str(uid).startswith(CONTACT_POINT_PREFIX)}
    default = tree.get("receiver") or DEFAULT_RECEIVER
    if default in ours or default in {cp["name"] for cp in built.contact_points}:
        return DEFAULT_RECEIVER
    return str(default)
