"""Grafana-managed alerting, for teams without Alertmanager: the generated Prometheus alerts as Grafana alert
rules, the spec's receivers as contact points, and the Alertmanager route tree as Grafana's notification
policy tree, with the spec's maintenance windows as mute timings.

This module builds: `build_grafana_alerting` turns rule groups and the Alertmanager config that
`driftline generate` already built into one `GrafanaAlerting` value (the provisioning API's payloads);
`grafana_alerting` does the same from a spec. `alerting.grafana_files` renders that value as Grafana's
alerting provisioning files and writes them; `alerting.grafana_push` pushes it through `clients.grafana`,
reading each object first and writing only what differs, so a second run changes nothing.

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
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from alerting.alertmanager import NULL_RECEIVER, Timing, build_config
from alerting.rules import RuleOptions, generate_model_rules
from slo.rules import AlertingRule, RuleGroup, generate_rules
from spec import Alerting, Receiver, ResolvedSpec, parse_duration

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
#: A secret as Grafana reads it from the environment: `$__env{VAR}`.
ENV_REF = re.compile(r"^\$__env\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')


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
    spec: ResolvedSpec, *, rule_options: RuleOptions | None = None
) -> tuple[RuleGroup, ...]:
    """The Prometheus rule groups `driftline generate` writes, with the same arguments (links: `spec.links`)."""
    slo_groups = generate_rules(spec) if spec.slos else ()
    return (*slo_groups, *generate_model_rules(spec, rule_options or RuleOptions()))


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
        # Grafana's templates have no `query`: annotations that query Prometheus (a drift incident's ranked
        # features, its gate's inputs) are Prometheus-only
        "annotations": {k: grafana_annotation(v) for k, v in sorted(rule.annotations.items()) if "query (" not in v},
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
    """One EmbeddedContactPoint for a spec receiver; each secret is `$__env{VAR}`, never its value.

    The receiver's kind module (`spec.receivers`) renders the settings and names Grafana's type.
    """
    return {
        "uid": contact_point_uid(r.name),
        "name": r.name,
        "type": r.integration.contact_point_type,
        "settings": r.integration.grafana(r.settings, _env_ref),
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
    config: Mapping[str, Any], default_receiver: str = DEFAULT_RECEIVER
) -> dict[str, Any]:
    """The Route tree: the route tree of the Alertmanager `config` (`build_config`'s), matcher for matcher."""
    return _policy(config["route"], default_receiver, True)


def mute_timings(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """MuteTimeIntervals: the Alertmanager `config`'s time_intervals (the spec's windows), and the always-muting
    `driftline-discard` when the spec names no ticket receiver."""
    out = [dict(t) for t in config.get("time_intervals", [])]
    if _uses_discard(config["route"]):
        out.append({"name": DISCARD, "time_intervals": [{}]})
    return out


def _uses_discard(route: Mapping[str, Any]) -> bool:
    children = route.get("routes") or []
    return any(c.get("receiver") == NULL_RECEIVER or _uses_discard(c) for c in children)


@dataclass(frozen=True)
class GrafanaAlerting:
    """Every Grafana alerting object of a spec, built once; files and pushes only render or send it.

    The policy tree waits for the default receiver: a push reads it from Grafana, files name Grafana's own.
    """

    folder: dict[str, str]
    mute_timings: list[dict[str, Any]]
    contact_points: list[dict[str, Any]]
    rule_groups: list[dict[str, Any]]
    route: dict[str, Any] = field(repr=False)  # the Alertmanager route tree the policy tree copies

    def policy_tree(self, default_receiver: str = DEFAULT_RECEIVER) -> dict[str, Any]:
        """The Route tree, with the discarding receiver standing in as `default_receiver`."""
        return _policy(self.route, default_receiver, True)

    def objects(self, default_receiver: str = DEFAULT_RECEIVER) -> dict[str, Any]:
        """The provisioning API's request bodies by key: `folder` ({uid, title}), `mute_timings`,
        `contact_points` (secrets as `$__env{VAR}`), `rule_groups` and `policy_tree`."""
        return {
            "folder": dict(self.folder),
            "mute_timings": self.mute_timings,
            "contact_points": self.contact_points,
            "rule_groups": self.rule_groups,
            "policy_tree": self.policy_tree(default_receiver),
        }


def build_grafana_alerting(
    groups: Iterable[RuleGroup],
    config: Mapping[str, Any],
    alerting: Alerting,
    options: GrafanaTarget | None = None,
    *,
    interval: str = "1m",
) -> GrafanaAlerting:
    """The Grafana alerting objects from what `driftline generate` built already: the Prometheus rule
    `groups`, the Alertmanager `config` (`build_config(alerting, timing)`) and the spec's `alerting`."""
    target = options or DefaultTarget()
    return GrafanaAlerting(
        folder={"uid": target.folder_uid, "title": target.folder_title},
        mute_timings=mute_timings(config),
        contact_points=[contact_point(r) for r in alerting.receivers],
        rule_groups=rule_groups(groups, target, interval=interval),
        route=config["route"],
    )


def build_from_spec(
    spec: ResolvedSpec,
    options: GrafanaTarget | None = None,
    *,
    rule_options: RuleOptions | None = None,
    timing: Timing = Timing(),
    interval: str = "1m",
) -> GrafanaAlerting:
    """`build_grafana_alerting` for a spec alone, building its rule groups and Alertmanager config; the
    arguments are the ones `driftline generate` gives the Prometheus rules and the Alertmanager."""
    groups = prometheus_groups(spec, rule_options=rule_options)
    config = build_config(spec.alerting, timing)
    return build_grafana_alerting(groups, config, spec.alerting, options, interval=interval)


def grafana_alerting(
    spec: ResolvedSpec,
    options: GrafanaTarget | None = None,
    *,
    default_receiver: str = DEFAULT_RECEIVER,
    **kwargs: Any,
) -> dict[str, Any]:
    """Every Grafana alerting object of the spec, as the provisioning API's request bodies
    (`GrafanaAlerting.objects`); keyword arguments are `build_from_spec`'s."""
    return build_from_spec(spec, options, **kwargs).objects(default_receiver)
