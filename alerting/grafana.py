"""Grafana-managed alerting, for teams without Alertmanager: the generated Prometheus alerts as Grafana alert
rules, the spec's receivers as contact points, and the Alertmanager route tree as Grafana's notification
policy tree, with the spec's maintenance windows as mute timings.

`grafana_alerting` is pure (spec in, the provisioning API's payloads out); `alerting_files` renders the same
objects as Grafana's alerting provisioning files and `write_grafana_alerting` writes them;
`push_grafana_alerting` pushes them with grafana-client, reading each object first and writing only what
differs, so a second run changes nothing.

How a Prometheus rule becomes a Grafana rule (after Grafana's own Prometheus-rule converter): query A
runs the rule's PromQL, unchanged, as an instant query on the Prometheus datasource; B reduces it to its
last value (so templates can read `$values.B.Value` on every Grafana version, where Prometheus reads
`$value`); the condition C, `is_number($B) || is_nan($B) || is_inf($B)`, fires for every series the query
returns, whatever its value, which is Prometheus's rule (an alert whose value is 0, such as `up == 0`,
still fires). No data is OK, as in Prometheus; a query error raises Grafana's DatasourceError alert.
The SLO alerts read the recording rules in driftline-slo.rules.yaml: Prometheus must still load that file.

Where Grafana differs from Alertmanager, and what this module does about it:

- Titles (Grafana's `alertname`) had to be unique within a folder until 2025 (grafana/grafana#102067),
  while one Prometheus alert name covers every burn window of an SLO and every model's drift alert. A
  name used more than once gets the labels that tell its rules apart: `CreditAvailabilityErrorBudgetBurn (1h, 5m)`,
  `DriftlineFeatureDriftWarning (credit)`. Every Prometheus label is kept as it is.
- Grafana has no inhibition rules: a page and its ticket for the same SLO both notify.
- A contact point needs an integration, so the Alertmanager's discarding receiver (no ticket receiver in
  the spec) becomes the organisation's default contact point under a mute timing that always mutes
  (`driftline-discard`).
- The policy tree is the organisation's only one: pushing it replaces it, as provisioning files do. Its
  root keeps the organisation's default contact point when the spec names no ticket receiver.
- E-mail goes through the Grafana server's own SMTP settings (`GF_SMTP_HOST`, `GF_SMTP_FROM_ADDRESS`,
  `GF_SMTP_USER`, `GF_SMTP_PASSWORD`): the spec's smarthost, from and auth fields do not apply.

Secrets: the builders name a secret as Grafana's `$__env{VAR}`, which Grafana expands when it reads a
provisioning file; `push_grafana_alerting` replaces it with the variable's value just before sending.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote

from alerting.alertmanager import _SUMMARY, _TEXT, NULL_RECEIVER, Timing, build_config
from alerting.rules import RuleOptions, generate_model_rules
from slo.rules import DEFAULT_DASHBOARD_URL, AlertingRule, RuleGroup, generate_rules
from slo.writer import dump_yaml
from spec import ResolvedSpec, parse_duration
from spec.alerting import (
    Alerting,
    EmailSpec,
    OpsgenieSpec,
    PagerDutySpec,
    Receiver,
    SlackSpec,
    WebhookSpec,
)

if TYPE_CHECKING:
    from grafana_client import GrafanaApi

#: Grafana's own contact point, in every organisation unless someone deleted it.
DEFAULT_RECEIVER = "grafana-default-email"
#: The mute timing that stands in for the Alertmanager's discarding receiver: it always mutes.
DISCARD = "driftline-discard"
#: Every rule group Driftline generates starts with this; pruning touches no other group.
GROUP_PREFIX = "driftline-"
#: Every contact point uid Driftline generates starts with this; pruning touches no other contact point.
CONTACT_POINT_PREFIX = "driftline-"
EXPRESSIONS = "__expr__"
QUERY, VALUE, CONDITION = "A", "B", "C"
#: Labels that tell apart rules sharing one Prometheus alert name, in the order titles name them.
_TITLE_LABELS = (("model",), ("slo",), ("long_window", "short_window"), ("severity",), ("version",))
_ENV_REF = re.compile(r"^\$__env\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')
#: Opsgenie's API; Grafana's integration takes its alerts endpoint, Alertmanager the base.
_OPSGENIE_API = "https://api.opsgenie.com"


class PrometheusTarget(Protocol):
    @property
    def uid(self) -> str: ...


class GrafanaTarget(Protocol):
    """What the alerting objects depend on: `dashboards.GrafanaOptions` has it (the folder the dashboards
    live in and the Prometheus datasource's uid). A protocol, because `alerting` sits upstream of
    `dashboards` and may not import it."""

    @property
    def folder_uid(self) -> str: ...

    @property
    def folder_title(self) -> str: ...

    @property
    def prometheus(self) -> PrometheusTarget: ...


@dataclass(frozen=True)
class _Prometheus:
    uid: str = "driftline-prometheus"


@dataclass(frozen=True)
class DefaultTarget:
    """The defaults of `dashboards.GrafanaOptions`, for callers that pass no options (a test holds them equal)."""

    folder_uid: str = "driftline"
    folder_title: str = "Driftline"
    prometheus: _Prometheus = field(default_factory=_Prometheus)


# ------------------------------------------------------------------------------------------------
# Pure builders.


def stable_uid(readable: str, *identity: str) -> str:
    """A Grafana uid (at most 40 of [a-z0-9-]): a slug of `readable` and a hash of `identity`."""
    digest = hashlib.sha1("\x1f".join(identity).encode()).hexdigest()[:10]
    slug = re.sub(r"[^a-z0-9]+", "-", readable.lower()).strip("-")[:29].rstrip("-")
    return f"{slug}-{digest}" if slug else digest


def prometheus_duration(text: str | None) -> str:
    """A duration as Grafana answers it (prometheus/common's format): "15m", "1h30m", "0s" for none."""
    seconds = parse_duration(text) if text else 0
    if seconds == 0:
        return "0s"
    out = ""
    for unit, size, exact in (
        ("y", 365 * 86400, True),
        ("w", 7 * 86400, True),
        ("d", 86400, False),
        ("h", 3600, False),
        ("m", 60, False),
        ("s", 1, False),
    ):
        if (exact and seconds % size) or seconds < size:
            continue
        out += f"{seconds // size}{unit}"
        seconds %= size
    return out


def _alerts(group: RuleGroup) -> list[AlertingRule]:
    return [r for r in group.rules if isinstance(r, AlertingRule)]


def prometheus_groups(
    spec: ResolvedSpec,
    *,
    dashboard_url: str = DEFAULT_DASHBOARD_URL,
    rule_options: RuleOptions | None = None,
) -> tuple[RuleGroup, ...]:
    """The Prometheus rule groups `driftline generate` writes, with the same arguments."""
    options = rule_options or RuleOptions(dashboard_url=dashboard_url)
    slo_groups = generate_rules(spec, dashboard_url) if spec.slos else ()
    return (*slo_groups, *generate_model_rules(spec, options))


def rule_titles(groups: Iterable[RuleGroup]) -> dict[tuple[str, int], str]:
    """(group name, index among its alerts) -> a title unique across all groups (one folder)."""
    rules = [(g.name, i, r) for g in groups for i, r in enumerate(_alerts(g))]
    counts = Counter(r.alert for _, _, r in rules)
    titles: dict[tuple[str, int], str] = {}
    for name in counts:
        same = [(g, i, r) for g, i, r in rules if r.alert == name]
        if len(same) == 1:
            titles[(same[0][0], same[0][1])] = name
            continue
        chosen: list[str] = []
        distinct = 1
        for keys in _TITLE_LABELS:
            trial = chosen + list(keys)
            n = len({tuple(r.labels.get(k, "") for k in trial) for _, _, r in same})
            if n > distinct:
                chosen, distinct = trial, n
        for g, i, r in same:
            parts = [r.labels[k] for k in chosen if r.labels.get(k)]
            titles[(g, i)] = f"{name} ({', '.join(parts)})" if parts else name
    seen: Counter[str] = Counter()
    for key in sorted(titles):  # identical labels as well: number what is still the same
        seen[titles[key]] += 1
        if seen[titles[key]] > 1:
            titles[key] = f"{titles[key]} #{seen[titles[key]]}"
    return titles


def grafana_annotation(text: str) -> str:
    """A Prometheus annotation template as Grafana reads it: `$value` is the reduced query's value."""
    return re.sub(r"\$value\b", f"$values.{VALUE}.Value", text)


def _expression(ref: str, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "refId": ref,
        "queryType": "",
        "relativeTimeRange": {"from": 0, "to": 0},
        "datasourceUid": EXPRESSIONS,
        "model": {
            "refId": ref,
            "datasource": {"type": EXPRESSIONS, "uid": EXPRESSIONS},
            "intervalMs": 1000,
            "maxDataPoints": 43200,
            **model,
        },
    }


def rule_data(expr: str, prometheus_uid: str) -> list[dict[str, Any]]:
    """The query and expressions of one rule: the PromQL, its last value, and 'any series at all'."""
    query = {
        "refId": QUERY,
        "queryType": "",
        "relativeTimeRange": {"from": 600, "to": 0},
        "datasourceUid": prometheus_uid,
        "model": {
            "refId": QUERY,
            "datasource": {"type": "prometheus", "uid": prometheus_uid},
            "expr": expr,
            "instant": True,
            "range": False,
            "editorMode": "code",
            "intervalMs": 1000,
            "maxDataPoints": 43200,
        },
    }
    value = _expression(VALUE, {"type": "reduce", "expression": QUERY, "reducer": "last"})
    present = f"is_number(${VALUE}) || is_nan(${VALUE}) || is_inf(${VALUE})"
    condition = _expression(CONDITION, {"type": "math", "expression": present})
    return [query, value, condition]


def alert_rule(
    rule: AlertingRule, group: str, title: str, target: GrafanaTarget, *, occurrence: int = 0, org_id: int = 1
) -> dict[str, Any]:
    """One ProvisionedAlertRule equivalent to a Prometheus alerting rule.

    Its uid follows the group, the alert name and which of the group's alerts of that name it is, so a
    changed threshold or title updates the rule in place rather than replacing it.
    """
    return {
        "uid": stable_uid(rule.alert, group, rule.alert, str(occurrence)),
        "orgID": org_id,
        "folderUID": target.folder_uid,
        "ruleGroup": group,
        "title": title,
        "condition": CONDITION,
        "data": rule_data(rule.expr, target.prometheus.uid),
        "noDataState": "OK",
        "execErrState": "Error",
        "for": prometheus_duration(rule.for_),
        "annotations": {k: grafana_annotation(v) for k, v in sorted(rule.annotations.items())},
        "labels": dict(sorted(rule.labels.items())),
        "isPaused": False,
    }


def rule_groups(
    groups: Iterable[RuleGroup], target: GrafanaTarget, *, interval: str = "1m", org_id: int = 1
) -> list[dict[str, Any]]:
    """One AlertRuleGroup per Prometheus group that has alerts, sorted by name (recording rules stay in Prometheus)."""
    groups = sorted((g for g in groups if _alerts(g)), key=lambda g: g.name)
    titles = rule_titles(groups)
    out = []
    for g in groups:
        alerts = _alerts(g)
        rules = [
            alert_rule(
                r,
                g.name,
                titles[(g.name, i)],
                target,
                occurrence=[a.alert for a in alerts[:i]].count(r.alert),
                org_id=org_id,
            )
            for i, r in enumerate(alerts)
        ]
        out.append(
            {
                "title": g.name,
                "folderUid": target.folder_uid,
                "interval": parse_duration(interval),
                "rules": rules,
            }
        )
    return out


def _env_ref(var: str) -> str:
    return f"$__env{{{var}}}"


def contact_point_uid(name: str) -> str:
    """The uid of the contact point for the spec's receiver `name`."""
    return stable_uid(CONTACT_POINT_PREFIX + name, name)


def contact_point(r: Receiver) -> dict[str, Any]:
    """One EmbeddedContactPoint for a spec receiver; each secret is `$__env{VAR}`, never its value."""
    s = r.settings
    settings: dict[str, Any]
    if isinstance(s, PagerDutySpec):
        kind = "pagerduty"
        settings = {
            "integrationKey": _env_ref(s.routing_key_env),
            "severity": '{{ if eq .CommonLabels.severity "page" }}critical{{ else }}warning{{ end }}',
            "summary": _SUMMARY,
            "details": {
                "summary": "{{ .CommonAnnotations.summary }}",
                "runbook": "{{ .CommonAnnotations.runbook_url }}",
                "dashboard": "{{ .CommonAnnotations.dashboard_url }}",
                "firing": "{{ .Alerts.Firing | len }}",
            },
        }
        if s.url:
            settings["url"] = s.url
    elif isinstance(s, OpsgenieSpec):
        kind = "opsgenie"
        base = (s.api_url or _OPSGENIE_API).rstrip("/")
        settings = {
            "apiKey": _env_ref(s.api_key_env),
            "apiUrl": base if base.endswith("/v2/alerts") else base + "/v2/alerts",
            "message": _SUMMARY,
            "description": _TEXT,
            "autoClose": True,
            "overridePriority": True,
            "sendTagsAs": "tags",
        }
        if s.responders:
            settings["responders"] = [{"type": "team", "name": t} for t in s.responders]
    elif isinstance(s, SlackSpec):
        kind = "slack"
        settings = {
            "url": _env_ref(s.webhook_url_env),
            "title": "[{{ .Status | toUpper }}] " + _SUMMARY,
            "text": _TEXT,
        }
        if s.channel:
            settings["recipient"] = s.channel
    elif isinstance(s, EmailSpec):
        kind = "email"
        settings = {"addresses": s.to, "singleEmail": False}
    elif isinstance(s, WebhookSpec):
        kind = "webhook"
        settings = {"url": s.url, "httpMethod": "POST"}
        if s.bearer_token_env:
            settings["authorization_scheme"] = "Bearer"
            settings["authorization_credentials"] = _env_ref(s.bearer_token_env)
    else:
        raise TypeError(f"unknown receiver settings {type(s).__name__}")
    return {
        "uid": contact_point_uid(r.name),
        "name": r.name,
        "type": kind,
        "settings": settings,
        "disableResolveMessage": False,
    }


def object_matchers(matchers: Iterable[str]) -> list[list[str]]:
    """Alertmanager matcher strings (`severity="page"`) as Grafana's object matchers ([name, op, value])."""
    out = []
    for text in matchers:
        m = _MATCHER.match(text)
        if m is None:
            raise ValueError(f"cannot read the Alertmanager matcher {text!r}")
        out.append([m.group(1), m.group(2), m.group(3)])
    return out


def _policy(route: Mapping[str, Any], default_receiver: str, root: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    mutes = list(route.get("mute_time_intervals") or [])
    receiver = route.get("receiver")
    if receiver == NULL_RECEIVER:
        receiver = default_receiver
        if not root:  # the root cannot be muted; every Driftline alert matches a child anyway
            mutes = [DISCARD, *mutes]
    if receiver:
        out["receiver"] = receiver
    if route.get("matchers"):
        out["object_matchers"] = object_matchers(route["matchers"])
    for key in ("group_by", "group_wait", "group_interval", "repeat_interval", "continue"):
        if key in route:
            out[key] = route[key]
    if mutes:
        out["mute_time_intervals"] = mutes
    if route.get("routes"):
        out["routes"] = [_policy(child, default_receiver, False) for child in route["routes"]]
    return out


def notification_policy(
    alerting: Alerting, timing: Timing = Timing(), default_receiver: str = DEFAULT_RECEIVER
) -> dict[str, Any]:
    """The Route tree: the Alertmanager route tree of the same spec, matcher for matcher."""
    return _policy(build_config(alerting, timing)["route"], default_receiver, True)


def mute_timings(alerting: Alerting, timing: Timing = Timing()) -> list[dict[str, Any]]:
    """MuteTimeIntervals: the spec's windows (the Alertmanager's time_intervals), and the always-muting
    `driftline-discard` when the spec names no ticket receiver."""
    config = build_config(alerting, timing)
    out = [dict(t) for t in config.get("time_intervals", [])]
    if _uses_discard(config["route"]):
        out.append({"name": DISCARD, "time_intervals": [{}]})
    return out


def _uses_discard(route: Mapping[str, Any]) -> bool:
    children = route.get("routes") or []
    return any(c.get("receiver") == NULL_RECEIVER or _uses_discard(c) for c in children)


def grafana_alerting(
    spec: ResolvedSpec,
    options: GrafanaTarget | None = None,
    *,
    dashboard_url: str = DEFAULT_DASHBOARD_URL,
    rule_options: RuleOptions | None = None,
    timing: Timing = Timing(),
    interval: str = "1m",
    default_receiver: str = DEFAULT_RECEIVER,
) -> dict[str, Any]:
    """Every Grafana alerting object of the spec, as the provisioning API's request bodies.

    Keys: `folder` ({uid, title}), `mute_timings` (MuteTimeInterval), `contact_points`
    (EmbeddedContactPoint, secrets as `$__env{VAR}`), `rule_groups` (AlertRuleGroup, one per Prometheus
    rule group with alerts), `policy_tree` (Route). `dashboard_url` and `rule_options` are the ones
    `driftline generate` gives the Prometheus rules; `timing` the Alertmanager's.
    """
    target = options or DefaultTarget()
    groups = prometheus_groups(spec, dashboard_url=dashboard_url, rule_options=rule_options)
    return {
        "folder": {"uid": target.folder_uid, "title": target.folder_title},
        "mute_timings": mute_timings(spec.alerting, timing),
        "contact_points": [contact_point(r) for r in spec.alerting.receivers],
        "rule_groups": rule_groups(groups, target, interval=interval),
        "policy_tree": notification_policy(spec.alerting, timing, default_receiver),
    }


# ------------------------------------------------------------------------------------------------
# Provisioning files.

RULES_FILE = "driftline-rules.yaml"
CONTACT_POINTS_FILE = "driftline-contact-points.yaml"
POLICIES_FILE = "driftline-policies.yaml"
MUTE_TIMINGS_FILE = "driftline-mute-timings.yaml"
_STALE_GLOB = "driftline-*.yaml"


def _literal(value: Any) -> Any:
    """Escape `$` as `$$` in the strings Grafana interpolates from the environment when it reads a file."""
    if isinstance(value, str):
        return value if _ENV_REF.match(value) else value.replace("$", "$$")
    if isinstance(value, list):
        return [_literal(v) for v in value]
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    return value


def _seconds_as_duration(seconds: int) -> str:
    return prometheus_duration(f"{seconds}s")


def file_documents(objects: Mapping[str, Any], *, org_id: int = 1) -> dict[str, dict[str, Any]]:
    """The provisioning files' contents (file name -> document) for `grafana_alerting`'s objects.

    Interpolated fields (titles, labels, folder, contact point settings, policies) have `$` escaped;
    annotations and queries are read raw by Grafana and are written as they are.
    """
    folder = objects["folder"]["title"]
    groups = [
        {
            "orgId": org_id,
            "name": _literal(g["title"]),
            "folder": _literal(folder),
            "interval": _seconds_as_duration(g["interval"]),
            "rules": [
                {
                    "uid": r["uid"],
                    "title": _literal(r["title"]),
                    "condition": r["condition"],
                    "data": r["data"],
                    "noDataState": r["noDataState"],
                    "execErrState": r["execErrState"],
                    "for": r["for"],
                    "annotations": r["annotations"],
                    "labels": _literal(r["labels"]),
                    "isPaused": r["isPaused"],
                }
                for r in g["rules"]
            ],
        }
        for g in objects["rule_groups"]
    ]
    docs: dict[str, dict[str, Any]] = {RULES_FILE: {"apiVersion": 1, "groups": groups}}
    points: dict[str, list[dict[str, Any]]] = {}
    for cp in objects["contact_points"]:
        points.setdefault(cp["name"], []).append(
            {
                "uid": cp["uid"],
                "type": cp["type"],
                "settings": _literal(cp["settings"]),
                "disableResolveMessage": cp["disableResolveMessage"],
            }
        )
    if points:
        docs[CONTACT_POINTS_FILE] = {
            "apiVersion": 1,
            "contactPoints": [
                {"orgId": org_id, "name": _literal(name), "receivers": receivers}
                for name, receivers in points.items()
            ],
        }
    docs[POLICIES_FILE] = {
        "apiVersion": 1,
        "policies": [{"orgId": org_id, **_literal(objects["policy_tree"])}],
    }
    if objects["mute_timings"]:
        docs[MUTE_TIMINGS_FILE] = {
            "apiVersion": 1,
            "muteTimes": [{"orgId": org_id, **m} for m in objects["mute_timings"]],
        }
    return dict(sorted(docs.items()))


def alerting_files(spec: ResolvedSpec, options: GrafanaTarget | None = None, **kwargs: Any) -> dict[str, str]:
    """File name -> text of every alerting provisioning file (YAML, apiVersion 1, generated-file header).

    Keyword arguments are `grafana_alerting`'s.
    """
    return {
        name: dump_yaml(doc)
        for name, doc in file_documents(grafana_alerting(spec, options, **kwargs)).items()
    }


def write_grafana_alerting(
    spec: ResolvedSpec, out_dir: str | Path, options: GrafanaTarget | None = None, **kwargs: Any
) -> list[Path]:
    """Write the alerting provisioning files into `out_dir` (Grafana's provisioning/alerting/); a
    generated file the spec no longer produces is removed. Keyword arguments are `grafana_alerting`'s."""
    out = Path(out_dir)
    files = alerting_files(spec, options, **kwargs)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(_STALE_GLOB):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = out / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# ------------------------------------------------------------------------------------------------
# Pushing with grafana-client.

Kind = Literal["folder", "mute-timing", "contact-point", "rule", "policy-tree"]
Action = Literal["created", "updated", "unchanged", "deleted"]


class AlertingProvisionError(RuntimeError):
    """Grafana refused a request or could not be reached, or a secret's variable is unset; the message
    names the object and why."""


@dataclass(frozen=True)
class AlertingChange:
    """What the push did to one Grafana object."""

    kind: Kind
    uid: str
    action: Action


@dataclass(frozen=True)
class AlertingReport:
    """Every object the push looked at, in order."""

    changes: tuple[AlertingChange, ...]

    @property
    def changed(self) -> bool:
        """Whether anything in Grafana changed."""
        return any(c.action != "unchanged" for c in self.changes)

    def summary(self) -> str:
        """One line per object, for the command line."""
        return "\n".join(f"{c.kind} {c.uid}: {c.action}" for c in self.changes)


def grafana_call(
    kind: str, uid: str, fn: Callable[[], Any], error: type[Exception] = AlertingProvisionError
) -> Any:
    """Run one grafana-client request; a refusal or an unreachable Grafana becomes `error`, naming the object
    and why (dashboards.provision passes its own error type)."""
    import niquests
    from grafana_client.client import GrafanaException

    try:
        return fn()
    except GrafanaException as exc:
        status = f"HTTP {exc.status_code}" if exc.status_code else "no answer"
        raise error(f"Grafana refused {kind} {uid!r} ({status}): {exc.message}") from exc
    except niquests.exceptions.RequestException as exc:
        raise error(f"could not reach Grafana for {kind} {uid!r}: {exc}") from exc


_call = grafana_call


def grafana_get(fn: Callable[..., Any], *args: Any) -> Any:
    """A GET that answers None for 404."""
    from grafana_client.client import GrafanaClientError

    try:
        return fn(*args)
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise


_get = grafana_get


def _differs(desired: Any, current: Any) -> bool:
    """Whether `current` lacks or contradicts anything in `desired` (Grafana adds keys of its own, and
    leaves out the zero values Go's `omitempty` drops)."""
    if current is None and desired in ("", False, [], {}):
        return False
    if isinstance(desired, dict):
        return not isinstance(current, dict) or any(_differs(v, current.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            not isinstance(current, list)
            or len(desired) != len(current)
            or any(_differs(d, c) for d, c in zip(desired, current, strict=True))
        )
    return bool(desired != current)


def _secret_keys(cp: Mapping[str, Any]) -> dict[str, str]:
    """Setting -> environment variable, for every secret of a contact point."""
    out = {}
    for key, value in cp["settings"].items():
        m = _ENV_REF.match(value) if isinstance(value, str) else None
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


def _contact_point_differs(desired: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    secrets = _secret_keys(desired)
    stored = current.get("settings") or {}
    if any(not stored.get(key) for key in secrets):  # Grafana answers a stored secret as "[REDACTED]"
        return True
    plain = {**desired, "settings": {k: v for k, v in desired["settings"].items() if k not in secrets}}
    return _differs(plain, current)


def _folder(api: GrafanaApi, uid: str, title: str) -> AlertingChange:
    current = _get(api.folder.get_folder, uid)
    if current is None:
        api.folder.create_folder(title, uid=uid)
        return AlertingChange("folder", uid, "created")
    return AlertingChange("folder", uid, "unchanged")


def _mute_timings(api: GrafanaApi, desired: list[dict[str, Any]]) -> list[AlertingChange]:
    current = {m.get("name"): m for m in api.alertingprovisioning.get_mute_timings() or []}
    changes = []
    for m in desired:
        name = m["name"]
        if name not in current:
            _call("mute-timing", name, partial(api.alertingprovisioning.create_mute_timing, m))
            changes.append(AlertingChange("mute-timing", name, "created"))
        elif _differs(m, current[name]):
            _call("mute-timing", name, partial(api.alertingprovisioning.update_mute_timing, name, m))
            changes.append(AlertingChange("mute-timing", name, "updated"))
        else:
            changes.append(AlertingChange("mute-timing", name, "unchanged"))
    return changes


def _contact_points(
    api: GrafanaApi, desired: list[dict[str, Any]], current: Mapping[str, Any], env: Mapping[str, str]
) -> list[AlertingChange]:
    changes = []
    for cp in desired:
        uid = cp["uid"]
        if uid not in current:
            body = resolve_secrets(cp, env)
            _call("contact point", uid, partial(api.alertingprovisioning.create_contactpoint, body))
            changes.append(AlertingChange("contact-point", uid, "created"))
        elif _contact_point_differs(cp, current[uid]):
            body = resolve_secrets(cp, env)
            _call(
                "contact point",
                uid,
                partial(api.alertingprovisioning.update_contactpoint, uid, body),
            )
            changes.append(AlertingChange("contact-point", uid, "updated"))
        else:
            changes.append(AlertingChange("contact-point", uid, "unchanged"))
    return changes


def _rule_group(api: GrafanaApi, group: dict[str, Any]) -> list[AlertingChange]:
    folder, name = group["folderUid"], group["title"]
    current = _call(
        "rule group",
        name,
        lambda: _get(api.alertingprovisioning.get_rule_group, folder, quote(name, safe="")),
    )
    stored = {r.get("uid"): r for r in (current or {}).get("rules") or []}
    changes = []
    for rule in group["rules"]:
        old = stored.pop(rule["uid"], None)
        action: Action = "created" if old is None else "updated" if _differs(rule, old) else "unchanged"
        changes.append(AlertingChange("rule", rule["uid"], action))
    changes += [AlertingChange("rule", uid, "deleted") for uid in stored]
    moved = current is None or current.get("interval") != group["interval"]
    if moved or any(c.action != "unchanged" for c in changes):
        _call(
            "rule group",
            name,
            lambda: api.alertingprovisioning.update_rule_group(folder, quote(name, safe=""), group),
        )
    return changes


def _prune_rules(api: GrafanaApi, folder: str, keep: set[str]) -> list[AlertingChange]:
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
    return [AlertingChange("rule", uid, "deleted") for uid in stale]


def _without(tree: Any, key: str) -> Any:
    if isinstance(tree, dict):
        return {k: _without(v, key) for k, v in tree.items() if k != key}
    if isinstance(tree, list):
        return [_without(v, key) for v in tree]
    return tree


def push_grafana_alerting(
    api: GrafanaApi,
    spec: ResolvedSpec,
    options: GrafanaTarget | None = None,
    env: Mapping[str, str] = os.environ,
    *,
    prune: bool = True,
    **kwargs: Any,
) -> AlertingReport:
    """Create or update the folder, mute timings, contact points, rule groups and the policy tree.

    Each object is read first and written only when it differs; secrets come from `env` only when a
    contact point is created or updated (a changed secret alone is not seen: Grafana never answers one).
    With `prune`, Driftline's rule groups and contact points that the spec no longer produces are
    deleted. Keyword arguments are `grafana_alerting`'s (`default_receiver` is read from Grafana).
    """
    target = options or DefaultTarget()
    prov = api.alertingprovisioning
    tree = _call("policy tree", "root", prov.get_notification_policy_tree) or {}
    points = {c.get("uid"): c for c in _call("contact points", "(all)", prov.get_contactpoints) or []}
    ours = {c.get("name") for uid, c in points.items() if str(uid).startswith(CONTACT_POINT_PREFIX)}
    default = tree.get("receiver") or DEFAULT_RECEIVER
    if default in ours or default in {r.name for r in spec.alerting.receivers}:
        default = DEFAULT_RECEIVER  # a receiver a previous push put there, not the organisation's own
    if spec.alerting.ticket is None:
        kwargs.setdefault("default_receiver", default)
    objects = grafana_alerting(spec, target, **kwargs)

    changes = [
        _call("folder", target.folder_uid, lambda: _folder(api, target.folder_uid, target.folder_title))
    ]
    changes += _call("mute timings", "(all)", lambda: _mute_timings(api, objects["mute_timings"]))
    changes += _contact_points(api, objects["contact_points"], points, env)
    if prune:  # first, so that a title moving between groups never meets itself in a stale one
        keep = {g["title"] for g in objects["rule_groups"]}
        changes += _prune_rules(api, target.folder_uid, keep)
    for group in objects["rule_groups"]:
        changes += _rule_group(api, group)
    desired_tree = objects["policy_tree"]
    if _differs(desired_tree, tree) or _differs(_without(tree, "provenance"), desired_tree):
        _call("policy tree", "root", lambda: prov.set_notification_policy_tree(desired_tree))
        changes.append(AlertingChange("policy-tree", "root", "updated"))
    else:
        changes.append(AlertingChange("policy-tree", "root", "unchanged"))
    if prune:
        wanted = {cp["uid"] for cp in objects["contact_points"]}
        for uid in sorted(points):
            if str(uid).startswith(CONTACT_POINT_PREFIX) and uid not in wanted:
                _call("contact point", uid, partial(prov.delete_contactpoint, uid))
                changes.append(AlertingChange("contact-point", uid, "deleted"))
    return AlertingReport(tuple(changes))
