"""Grafana-managed alerting: rules, contact points, the policy tree and mute timings, checked against
Grafana's OpenAPI description (tests/fake_grafana.py validates every request) and pushed with grafana-client."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_client import GrafanaApi

from alerting import (
    CONTACT_POINTS_FILE,
    DEFAULT_RECEIVER,
    DISCARD,
    MUTE_TIMINGS_FILE,
    POLICIES_FILE,
    RULES_FILE,
    AlertingProvisionError,
    DefaultTarget,
    Timing,
    alerting_files,
    build_config,
    grafana_alerting,
    prometheus_duration,
    prometheus_groups,
    push_grafana_alerting,
    write_grafana_alerting,
)
from clients import SilenceError
from contract import DriftlineError
from dashboards import EmptyProvisioningError, GrafanaOptions, PrometheusSource, ProvisionError
from driftline.generate import generate
from slo.rules import AlertingRule
from spec import ResolvedSpec, load_spec, load_spec_text, parse_duration
from spec.receivers import KINDS
from tests.conftest import EXAMPLES, missing
from tests.fake_grafana import SPEC, FakeGrafana, OpenAPI

CREDIT_TEXT = (EXAMPLES / "credit.yaml").read_text()
SECRETS = {
    "PAGERDUTY_KEY": "pd-routing-key-4f1c",
    "SLACK_WEBHOOK": "https://hooks.slack.example/T000/B000/secret-path",
    "OPSGENIE_KEY": "og-api-key-77aa",
    "SMTP_PASSWORD": "smtp-secret-19",
    "HOOK_TOKEN": "bearer-token-0b0b",
}
FRAUD = """\
  - name: fraud
    version: v12
    features: [{name: x, type: numeric}]
    prediction: {type: binary}
"""
GENIE = """\
    - {name: genie, opsgenie: {api_key_env: OPSGENIE_KEY, api_url: "https://api.eu.opsgenie.com/", responders: [ml]}}
"""
EVERY_RECEIVER = f"""\
models:
  - name: credit
    features: [{{name: x, type: numeric}}]
    prediction: {{type: binary}}
    drift: {{window: 1h, metrics: [psi], warn: 0.1, alert: 0.25}}
{FRAUD}slos:
  - {{name: credit-availability, model: credit, sli: availability, objective: 99.9, window: 30d}}
alerting:
  receivers:
    - {{name: oncall, pagerduty: {{routing_key_env: PAGERDUTY_KEY}}}}
    - {{name: ml-team, slack: {{webhook_url_env: SLACK_WEBHOOK, channel: "#ml-alerts"}}}}
{GENIE}    - name: mail
      email: {{to: ml@example.com, from: driftline@example.com, smarthost: "smtp.example.com:587",
              auth_username: driftline, auth_password_env: SMTP_PASSWORD}}
    - {{name: hook, webhook: {{url: "http://127.0.0.1:9/hook?key=$plain", bearer_token_env: HOOK_TOKEN}}}}
  page: oncall
  ticket: ml-team
  mute:
    - {{name: retrain, weekdays: [sunday], times: [{{start: '02:00', end: '04:00'}}], models: [credit]}}
    - {{name: freeze, weekdays: [saturday], location: Europe/Berlin}}
  runbook_base_url: https://git.example.com/driftline/blob/main/docs/runbooks/
grafana: {{url: "https://grafana.example.com"}}
"""


def credit(text: str = CREDIT_TEXT) -> ResolvedSpec:
    return load_spec_text(text)


def every_receiver() -> ResolvedSpec:
    return load_spec_text(EVERY_RECEIVER)


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    if not SPEC.exists():
        missing(f"Grafana's OpenAPI description at {SPEC}", "check out shared/ beside the repository")
    return OpenAPI()


@pytest.fixture
def grafana(openapi: OpenAPI) -> Iterator[FakeGrafana]:
    with FakeGrafana(spec=openapi, strict_references=True) as g:
        yield g
    assert g.errors == [], "requests Grafana's description does not allow:\n" + "\n".join(g.errors)


@pytest.fixture
def api(grafana: FakeGrafana) -> GrafanaApi:
    return GrafanaApi.from_url(grafana.url, credential=grafana.token)


def push(api: GrafanaApi, spec: ResolvedSpec, **kw: Any) -> dict[str, str]:
    report = push_grafana_alerting(api, spec, env=SECRETS, **kw)
    return {f"{c.kind} {c.uid}": c.action for c in report.changes}


def prometheus_alerts(spec: ResolvedSpec) -> list[tuple[str, AlertingRule]]:
    return [(g.name, r) for g in prometheus_groups(spec) for r in g.rules if isinstance(r, AlertingRule)]


def grafana_rules(objects: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in objects["rule_groups"] for r in g["rules"]]


def flatten(route: dict[str, Any], key: str, parents: tuple[tuple[str, ...], ...] = ()) -> list[Any]:
    """(matchers from the root down, receiver, mute intervals) for every route of a tree."""
    matchers = tuple(route.get(key) or ())
    path = (*parents, matchers) if parents or matchers else ()
    rows = [(path, route.get("receiver"), tuple(route.get("mute_time_intervals") or ()))]
    for child in route.get("routes") or []:
        rows += flatten(child, key, path or ((),))
    return rows


# ------------------------------------------------------------------------------ the payloads


@pytest.mark.parametrize(
    "spec",
    [*(load_spec(p) for p in sorted(EXAMPLES.glob("*.yaml"))), every_receiver()],
    ids=[*(p.name for p in sorted(EXAMPLES.glob("*.yaml"))), "every-receiver"],
)
def test_every_payload_validates_against_grafanas_description(spec: ResolvedSpec, openapi: OpenAPI) -> None:
    objects = grafana_alerting(spec)
    problems = []
    for group in objects["rule_groups"]:
        problems += [f"group {group['title']}: {e}" for e in openapi.schema_errors("AlertRuleGroup", group)]
        for rule in group["rules"]:
            problems += [
                f"rule {rule['title']}: {e}" for e in openapi.schema_errors("ProvisionedAlertRule", rule)
            ]
    for cp in objects["contact_points"]:
        problems += [
            f"contact point {cp['name']}: {e}" for e in openapi.schema_errors("EmbeddedContactPoint", cp)
        ]
    for mute in objects["mute_timings"]:
        problems += [
            f"mute timing {mute['name']}: {e}" for e in openapi.schema_errors("MuteTimeInterval", mute)
        ]
    problems += [f"policy tree: {e}" for e in openapi.schema_errors("Route", objects["policy_tree"])]
    assert problems == []
    assert objects["rule_groups"] and all(g["rules"] for g in objects["rule_groups"])


def test_the_provisioning_files_validate_against_the_descriptions_file_and_api_schemas(
    tmp_path: Path, openapi: OpenAPI
) -> None:
    write_grafana_alerting(every_receiver(), tmp_path)
    docs = {p.name: yaml.safe_load(p.read_text()) for p in tmp_path.iterdir()}
    assert sorted(docs) == sorted([RULES_FILE, CONTACT_POINTS_FILE, POLICIES_FILE, MUTE_TIMINGS_FILE])
    assert all(d["apiVersion"] == 1 for d in docs.values())
    problems = openapi.schema_errors("AlertingFileExport", docs[RULES_FILE])
    for point in docs[CONTACT_POINTS_FILE]["contactPoints"]:
        for receiver in point["receivers"]:
            problems += openapi.schema_errors("EmbeddedContactPoint", {"name": point["name"], **receiver})
    for policy in docs[POLICIES_FILE]["policies"]:
        problems += openapi.schema_errors("Route", {k: v for k, v in policy.items() if k != "orgId"})
    for mute in docs[MUTE_TIMINGS_FILE]["muteTimes"]:
        problems += openapi.schema_errors("MuteTimeInterval", {k: v for k, v in mute.items() if k != "orgId"})
    assert problems == []
    assert {g["folder"] for g in docs[RULES_FILE]["groups"]} == {"Driftline"}
    assert all(p["orgId"] == 1 for p in docs[POLICIES_FILE]["policies"])


def test_the_fake_refuses_the_literal_readings_of_the_description_that_grafana_refuses(
    openapi: OpenAPI,
) -> None:
    rule = grafana_rules(grafana_alerting(credit()))[0]
    tree = {"receiver": "x", "routes": [{"receiver": "y", "object_matchers": [["severity", "=", "page"]]}]}
    mute = {"name": "m", "time_intervals": [{"times": [{"start_time": "02:00", "end_time": "04:00"}]}]}
    assert openapi.schema_errors("ProvisionedAlertRule", rule) == []
    assert openapi.schema_errors("Route", tree) == []
    assert openapi.schema_errors("MuteTimeInterval", mute) == []
    refused = {
        "`for` as nanoseconds, which prometheus/common's Duration cannot read": (
            "ProvisionedAlertRule",
            {**rule, "for": 120_000_000_000},
        ),
        "`for` that is no Prometheus duration": ("ProvisionedAlertRule", {**rule, "for": "2 minutes"}),
        "object matchers as the objects the description shows": (
            "Route",
            {"receiver": "x", "object_matchers": [{"Name": "severity", "Type": 0, "Value": "page"}]},
        ),
        "an object matcher with an unknown operator": (
            "Route",
            {"receiver": "x", "object_matchers": [["severity", "==", "page"]]},
        ),
        "a time range in minutes as the description shows": (
            "MuteTimeInterval",
            {"name": "m", "time_intervals": [{"times": [{"StartMinute": 120, "EndMinute": 240}]}]},
        ),
        "a time of day past midnight": (
            "MuteTimeInterval",
            {"name": "m", "time_intervals": [{"times": [{"start_time": "02:00", "end_time": "25:00"}]}]},
        ),
    }
    for case, (schema, body) in refused.items():
        assert openapi.schema_errors(schema, body), case


def test_every_grafana_rule_runs_the_prometheus_rules_promql_with_its_labels_and_hold_time() -> None:
    spec = every_receiver()
    alerts = prometheus_alerts(spec)
    rules = grafana_rules(grafana_alerting(spec))
    by_group: dict[str, list[dict[str, Any]]] = {}
    for r in rules:
        by_group.setdefault(r["ruleGroup"], []).append(r)
    assert len(rules) == len(alerts) > 10
    for group, alert in alerts:
        rule = by_group[group].pop(0)
        query = rule["data"][0]
        assert query["model"]["expr"] == alert.expr, rule["title"]
        assert query["datasourceUid"] == "driftline-prometheus" and query["model"]["instant"] is True
        assert rule["labels"] == dict(alert.labels)
        assert rule["title"].split(" (")[0] == alert.alert
        assert parse_duration(rule["for"]) == (parse_duration(alert.for_) if alert.for_ else 0)
        assert (
            rule["annotations"].keys()
            # annotations that query Prometheus (a drift incident's ranked features) are Prometheus-only
            == {k for k, v in alert.annotations.items() if "query (" not in v}
            >= {
                "summary",
                "description",
                "runbook_url",
                "dashboard_url",
            }
        )
        assert rule["annotations"]["runbook_url"] == alert.annotations["runbook_url"]
        assert rule["annotations"]["dashboard_url"] == alert.annotations["dashboard_url"]
        assert rule["condition"] == "C" and rule["noDataState"] == "OK"
        assert rule["folderUID"] == "driftline"


def test_the_condition_fires_for_any_series_the_query_returns_as_prometheus_does() -> None:
    rule = next(
        r for r in grafana_rules(grafana_alerting(credit())) if r["title"] == "DriftlineCollectorDown"
    )
    query, value, condition = rule["data"]
    assert "up{" in query["model"]["expr"] and "== 0" in query["model"]["expr"]  # fires with the value 0
    assert value["model"] | {"type": "reduce", "expression": "A", "reducer": "last"} == value["model"]
    assert condition["model"]["type"] == "math"
    assert condition["model"]["expression"] == "is_number($B) || is_nan($B) || is_inf($B)"
    assert {value["datasourceUid"], condition["datasourceUid"]} == {"__expr__"}
    assert query["relativeTimeRange"]["from"] > query["relativeTimeRange"]["to"] == 0


def test_annotations_read_the_reduced_value_where_prometheus_reads_value() -> None:
    spec = credit()
    burn = next(r for g, r in prometheus_alerts(spec) if r.alert == "CreditAvailabilityErrorBudgetBurn")
    rules = {r["title"]: r for r in grafana_rules(grafana_alerting(spec))}
    grafana_burn = rules["CreditAvailabilityErrorBudgetBurn (1h, 5m)"]["annotations"]["description"]
    grafana_drift = rules["DriftlineFeatureDriftWarning"]["annotations"]["description"]
    assert "{{ $value | humanizePercentage }}" in burn.annotations["description"]
    assert grafana_burn == burn.annotations["description"].replace("$value", "$values.B.Value")
    assert '{{ $values.B.Value | printf "%.3f" }}' in grafana_drift and "$value " not in grafana_drift
    assert "{{ $labels.feature }}" in grafana_drift


def test_titles_are_unique_in_the_folder_and_name_the_labels_that_tell_rules_apart() -> None:
    rules = grafana_rules(grafana_alerting(every_receiver()))
    titles = [r["title"] for r in rules]
    assert len(set(titles)) == len(titles)
    assert {"DriftlineFeatureDriftWarning (credit)", "DriftlineFeatureDriftWarning (fraud)"} <= set(titles)
    assert {t for t in titles if t.startswith("CreditAvailability")} == {
        "CreditAvailabilityErrorBudgetBurn (1h, 5m)",
        "CreditAvailabilityErrorBudgetBurn (6h, 30m)",
        "CreditAvailabilityErrorBudgetBurn (1d, 2h)",
        "CreditAvailabilityErrorBudgetBurn (3d, 6h)",
    }
    assert "DriftlineCollectorDown" in titles and "DriftlineUnexpectedModelVersion" in titles
    uids = [r["uid"] for r in rules]
    assert len(set(uids)) == len(uids) and all(len(u) <= 40 for u in uids)


def test_a_rules_uid_is_stable_across_threshold_and_title_changes() -> None:
    one = {r["title"]: r["uid"] for r in grafana_rules(grafana_alerting(credit()))}
    stricter = credit(CREDIT_TEXT.replace("warn: 0.1", "warn: 0.15"))
    assert {r["title"]: r["uid"] for r in grafana_rules(grafana_alerting(stricter))} == one
    two_models = grafana_rules(grafana_alerting(every_receiver()))
    credit_warning = next(r for r in two_models if r["title"] == "DriftlineFeatureDriftWarning (credit)")
    assert credit_warning["uid"] == one["DriftlineFeatureDriftWarning"]


def test_prometheus_durations_are_written_as_grafana_answers_them() -> None:
    cases = {None: "0s", "15m": "15m", "90s": "1m30s", "2h": "2h", "14d": "2w", "10d": "10d", "60s": "1m"}
    assert {k: prometheus_duration(k) for k in cases} == cases


# ------------------------------------------------------------------------------ contact points and routing


def test_every_receiver_kind_becomes_a_contact_point_with_its_secret_as_an_environment_reference() -> None:
    points = {cp["name"]: cp for cp in grafana_alerting(every_receiver())["contact_points"]}
    assert {n: cp["type"] for n, cp in points.items()} == {
        "oncall": "pagerduty",
        "ml-team": "slack",
        "genie": "opsgenie",
        "mail": "email",
        "hook": "webhook",
    }
    assert points["oncall"]["settings"]["integrationKey"] == "$__env{PAGERDUTY_KEY}"
    assert (
        points["ml-team"]["settings"] | {"url": "$__env{SLACK_WEBHOOK}", "recipient": "#ml-alerts"}
        == (points["ml-team"]["settings"])
    )
    assert points["genie"]["settings"]["apiKey"] == "$__env{OPSGENIE_KEY}"
    assert points["genie"]["settings"]["apiUrl"] == "https://api.eu.opsgenie.com/v2/alerts"
    assert points["genie"]["settings"]["responders"] == [{"type": "team", "name": "ml"}]
    assert points["mail"]["settings"]["addresses"] == "ml@example.com"
    assert points["hook"]["settings"]["authorization_credentials"] == "$__env{HOOK_TOKEN}"
    assert all(
        cp["uid"].startswith("driftline-") and not cp["disableResolveMessage"] for cp in points.values()
    )
    assert len({cp["uid"] for cp in points.values()}) == len(points)


def test_the_policy_tree_routes_pages_and_tickets_as_the_alertmanager_config_does() -> None:
    spec = every_receiver()
    timing = Timing()
    am = build_config(spec.alerting, timing)["route"]
    tree = grafana_alerting(spec, timing=timing)["policy_tree"]
    am_rows = flatten(am, "matchers")
    grafana_rows = [
        (tuple(tuple(f'{n}{op}"{v}"' for n, op, v in level) for level in path), receiver, mutes)
        for path, receiver, mutes in flatten(tree, "object_matchers")
    ]
    assert grafana_rows == am_rows
    assert [row[:2] for row in grafana_rows[:3]] == [
        ((), "ml-team"),
        (((), ('severity="page"',)), "oncall"),
        (((), ('severity="page"',), ('model=~"credit"',)), "oncall"),
    ]
    for key in ("group_by", "group_wait", "group_interval", "repeat_interval"):
        assert tree[key] == am[key], key
    assert tree["group_by"] == ["alertname", "model", "slo", "window"]
    assert [r["repeat_interval"] for r in tree["routes"]] == [timing.page_repeat, timing.ticket_repeat]


def test_the_spec_mute_windows_become_mute_timings_alertmanager_would_read_the_same_way() -> None:
    spec = every_receiver()
    mutes = grafana_alerting(spec)["mute_timings"]
    assert mutes == build_config(spec.alerting)["time_intervals"]
    assert mutes[0] == {
        "name": "retrain",
        "time_intervals": [{"weekdays": ["sunday"], "times": [{"start_time": "02:00", "end_time": "04:00"}]}],
    }
    assert mutes[1]["time_intervals"][0]["location"] == "Europe/Berlin"


def test_without_a_ticket_receiver_tickets_are_muted_always_as_alertmanager_discards_them() -> None:
    spec = credit(CREDIT_TEXT.replace("  ticket: ml-team\n", ""))
    objects = grafana_alerting(spec, default_receiver="team-default")
    tree = objects["policy_tree"]
    assert tree["receiver"] == "team-default"
    page, ticket = tree["routes"]
    assert page["receiver"] == "oncall" and "mute_time_intervals" not in page
    assert ticket["object_matchers"] == [["severity", "=", "ticket"]]
    assert ticket["receiver"] == "team-default" and ticket["mute_time_intervals"] == [DISCARD]
    assert {"name": DISCARD, "time_intervals": [{}]} in objects["mute_timings"]
    no_receivers = grafana_alerting(load_spec(EXAMPLES / "fraud.yaml"))
    assert (
        no_receivers["contact_points"] == [] and no_receivers["policy_tree"]["receiver"] == DEFAULT_RECEIVER
    )


def test_options_pick_the_folder_and_the_prometheus_datasource_and_the_defaults_are_the_dashboards() -> None:
    defaults, dashboards = DefaultTarget(), GrafanaOptions()
    assert (defaults.folder_uid, defaults.folder_title, defaults.prometheus.uid) == (
        dashboards.folder_uid,
        dashboards.folder_title,
        dashboards.prometheus.uid,
    )
    options = GrafanaOptions(prometheus=PrometheusSource(uid="prom-eu"), folder_uid="ml", folder_title="ML")
    objects = grafana_alerting(credit(), options)
    assert {g["folderUid"] for g in objects["rule_groups"]} == {"ml"}
    assert {r["data"][0]["datasourceUid"] for r in grafana_rules(objects)} == {"prom-eu"}
    rules_file = yaml.safe_load(alerting_files(credit(), options)[RULES_FILE])
    assert {g["folder"] for g in rules_file["groups"]} == {"ML"}


def test_each_receiver_kind_is_one_module_that_renders_both_forms_and_names_its_secrets() -> None:
    spec = every_receiver()
    assert {r.kind for r in spec.alerting.receivers} == set(KINDS), "give EVERY_RECEIVER the new kind"
    assert list(KINDS) == ["pagerduty", "opsgenie", "slack", "email", "webhook"]  # the model's field order
    am = {r["name"]: r for r in build_config(spec.alerting)["receivers"]}
    points = {cp["name"]: cp for cp in grafana_alerting(spec)["contact_points"]}
    for r in spec.alerting.receivers:
        kind = KINDS[r.kind]
        assert r.integration is kind
        assert kind.spec.model_config.get("extra") == "forbid"
        assert list(am[r.name]) == ["name", kind.alertmanager_key]
        assert points[r.name]["type"] == kind.contact_point_type
        secrets = r.secret_env
        assert secrets, f"{r.name}: every receiver of EVERY_RECEIVER sets its secret"
        am_text, grafana_text = json.dumps(am[r.name]), json.dumps(points[r.name])
        for var in secrets:
            assert f'"/etc/alertmanager/secrets/{var}"' in am_text
        referenced = set(re.findall(r"\$__env\{(\w+)\}", grafana_text))
        assert referenced <= set(secrets)
        assert referenced or r.kind == "email"  # Grafana mails through its own SMTP settings
    assert {v for r in spec.alerting.receivers for v in r.secret_env} == set(SECRETS)


def test_the_exceptions_share_driftlines_root_and_keep_their_bases() -> None:
    assert issubclass(AlertingProvisionError, DriftlineError) and issubclass(
        AlertingProvisionError, RuntimeError
    )
    assert issubclass(ProvisionError, DriftlineError) and issubclass(ProvisionError, RuntimeError)
    assert issubclass(SilenceError, DriftlineError) and issubclass(SilenceError, RuntimeError)
    assert issubclass(EmptyProvisioningError, DriftlineError) and issubclass(
        EmptyProvisioningError, ValueError
    )


def test_generate_builds_every_artifact_exactly_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import alerting.grafana
    import driftline.generate

    calls: dict[str, int] = {}

    def counted(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] = calls.get(name, 0) + 1
            return fn(*args, **kwargs)

        return wrapper

    for module in (driftline.generate, alerting.grafana):
        for name in ("build_config", "generate_rules", "generate_model_rules"):
            monkeypatch.setattr(module, name, counted(name, getattr(module, name)))
    generate(every_receiver(), tmp_path)
    assert calls == {"build_config": 1, "generate_rules": 1, "generate_model_rules": 1}


# ------------------------------------------------------------------------------ files


def test_secrets_never_appear_in_written_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in SECRETS.items():
        monkeypatch.setenv(var, value)
    paths = write_grafana_alerting(every_receiver(), tmp_path)
    text = "".join(p.read_text() for p in paths)
    for value in SECRETS.values():
        assert value not in text
    for var in ("PAGERDUTY_KEY", "SLACK_WEBHOOK", "OPSGENIE_KEY", "HOOK_TOKEN"):
        assert f"$__env{{{var}}}" in text
    assert all(p.read_text().startswith("# generated by driftline") for p in paths)
    assert all(value not in json.dumps(grafana_alerting(every_receiver())) for value in SECRETS.values())


def test_a_dollar_grafana_would_interpolate_is_escaped_in_files_and_left_alone_in_api_payloads(
    tmp_path: Path,
) -> None:
    spec = every_receiver()
    hook = next(cp for cp in grafana_alerting(spec)["contact_points"] if cp["name"] == "hook")
    assert hook["settings"]["url"] == "http://127.0.0.1:9/hook?key=$plain"
    points = yaml.safe_load(alerting_files(spec)[CONTACT_POINTS_FILE])["contactPoints"]
    written = next(p for p in points if p["name"] == "hook")["receivers"][0]["settings"]
    assert written["url"] == "http://127.0.0.1:9/hook?key=$$plain"
    assert written["authorization_credentials"] == "$__env{HOOK_TOKEN}"
    rules = yaml.safe_load(alerting_files(spec)[RULES_FILE])["groups"]
    drift = next(
        r for g in rules for r in g["rules"] if r["title"].startswith("DriftlineFeatureDriftWarning")
    )
    assert "{{ $labels.feature }}" in drift["annotations"]["summary"]  # Grafana reads annotations raw


def test_writing_twice_changes_no_file_and_a_file_the_spec_no_longer_needs_is_removed(tmp_path: Path) -> None:
    first = write_grafana_alerting(every_receiver(), tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in first}
    assert write_grafana_alerting(every_receiver(), tmp_path) == first
    assert {p: p.stat().st_mtime_ns for p in first} == stamps
    (tmp_path / "team-rules.yaml").write_text("apiVersion: 1\n")
    without_mutes = EVERY_RECEIVER.split("  mute:")[0]
    second = write_grafana_alerting(load_spec_text(without_mutes), tmp_path)
    assert not (tmp_path / MUTE_TIMINGS_FILE).exists() and (tmp_path / "team-rules.yaml").exists()
    assert sorted(p.name for p in second) == sorted([RULES_FILE, CONTACT_POINTS_FILE, POLICIES_FILE])


# ------------------------------------------------------------------------------ pushing to Grafana


def test_a_first_push_creates_the_folder_mute_timings_contact_points_rules_and_policy_tree(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    spec = every_receiver()
    changes = push(api, spec)
    objects = grafana_alerting(spec)
    assert {k.split()[0] for k, v in changes.items() if v == "created"} == {
        "folder",
        "mute-timing",
        "contact-point",
        "rule",
    }
    assert changes["policy-tree root"] == "updated"
    assert len(grafana.state.alert_rules) == len(prometheus_alerts(spec))
    assert set(grafana.state.rule_groups) == {("driftline", g["title"]) for g in objects["rule_groups"]}
    assert all(r["provenance"] == "api" for r in grafana.state.alert_rules.values())
    assert set(grafana.state.mute_timings) == {"retrain", "freeze"}
    assert grafana.state.policy_tree == objects["policy_tree"]
    secrets = {
        grafana.state.contact_points[u]["name"]: s for u, s in grafana.state.contact_point_secrets.items()
    }
    assert secrets == {
        "oncall": {"integrationKey": SECRETS["PAGERDUTY_KEY"]},
        "ml-team": {"url": SECRETS["SLACK_WEBHOOK"]},
        "genie": {"apiKey": SECRETS["OPSGENIE_KEY"]},
        "mail": {},
        "hook": {"authorization_credentials": SECRETS["HOOK_TOKEN"]},
    }
    stored = api.alertingprovisioning.get_contactpoints(name="oncall")[0]
    assert stored["settings"]["integrationKey"] == "[REDACTED]"


def test_a_second_push_changes_nothing_and_only_reads(grafana: FakeGrafana, api: GrafanaApi) -> None:
    push(api, every_receiver())
    saves = dict(grafana.state.rule_saves)
    sent = len(grafana.requests)
    report = push_grafana_alerting(api, every_receiver(), env=SECRETS)
    assert not report.changed, report.summary()
    assert all(method == "GET" for method, _, _ in grafana.requests[sent:])
    assert grafana.state.rule_saves == saves


def test_a_second_push_needs_no_secret_when_nothing_changed(grafana: FakeGrafana, api: GrafanaApi) -> None:
    push(api, every_receiver())
    assert not push_grafana_alerting(api, every_receiver(), env={}).changed


def test_changing_one_drift_threshold_updates_exactly_that_rule(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    push(api, credit())
    saves = dict(grafana.state.rule_saves)
    changed = push(api, credit(CREDIT_TEXT.replace("warn: 0.1", "warn: 0.15")))
    (key,) = [k for k, v in changed.items() if v != "unchanged"]
    uid = key.split()[1]
    assert changed[key] == "updated"
    assert grafana.state.alert_rules[uid]["title"] == "DriftlineFeatureDriftWarning"
    assert grafana.state.alert_rules[uid]["labels"]["threshold"] == "0.15"
    assert {u: grafana.state.rule_saves[u] - saves[u] for u in saves} == {u: int(u == uid) for u in saves}


def test_a_contact_point_edited_in_grafana_is_put_back_with_its_secret(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    push(api, credit())
    (uid,) = [u for u, c in grafana.state.contact_points.items() if c["name"] == "ml-team"]
    grafana.state.contact_points[uid]["settings"]["recipient"] = "#random"
    changed = push(api, credit())
    assert [k for k, v in changed.items() if v != "unchanged"] == [f"contact-point {uid}"]
    assert grafana.state.contact_points[uid]["settings"]["recipient"] == "#ml-alerts"
    assert grafana.state.contact_point_secrets[uid] == {"url": SECRETS["SLACK_WEBHOOK"]}


def test_a_contact_point_that_lost_its_secret_in_grafana_gets_it_back(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    push(api, credit())
    (uid,) = [u for u, c in grafana.state.contact_points.items() if c["name"] == "oncall"]
    grafana.state.contact_point_secrets[uid] = {}
    changed = push(api, credit())
    assert [k for k, v in changed.items() if v != "unchanged"] == [f"contact-point {uid}"]
    assert grafana.state.contact_point_secrets[uid] == {"integrationKey": SECRETS["PAGERDUTY_KEY"]}


def test_a_missing_secret_variable_is_an_error_naming_it(grafana: FakeGrafana, api: GrafanaApi) -> None:
    with pytest.raises(AlertingProvisionError, match=r"'oncall' \(pagerduty\): set PAGERDUTY_KEY"):
        push_grafana_alerting(api, credit(), env={"SLACK_WEBHOOK": "x"})
    assert grafana.state.contact_points == {}


def test_a_removed_model_and_receiver_leave_no_stale_rules_or_contact_points(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    api.folder.create_folder("Driftline", uid="driftline")
    push(api, every_receiver())
    team_rule = grafana_rules(grafana_alerting(credit()))[0] | {
        "uid": "team-rule",
        "title": "Team rule",
        "ruleGroup": "team",
    }
    api.alertingprovisioning.create_alertrule(team_rule)
    spec = load_spec_text(EVERY_RECEIVER.replace(FRAUD, "").replace(GENIE, ""))
    assert [m.name for m in spec.models] == ["credit"]
    changed = push(api, spec)
    deleted = sorted(k.split()[0] for k, v in changed.items() if v == "deleted")
    # every group of the removed model: its drift and performance alerts and its traffic-drop alert
    fraud_alerts = [r for g, r in prometheus_alerts(every_receiver()) if g.endswith("-fraud")]
    assert deleted.count("contact-point") == 1 and deleted.count("rule") == len(fraud_alerts) > 0
    credit_warning = next(
        u for u, r in grafana.state.alert_rules.items() if r["ruleGroup"] == "driftline-model-credit"
    )
    assert changed[f"rule {credit_warning}"] == "updated"  # its title lost " (credit)": one model is left
    assert grafana.state.alert_rules[credit_warning]["title"] == "DriftlineFeatureDriftWarning"
    assert ("driftline", "driftline-model-fraud") not in grafana.state.rule_groups
    assert "team-rule" in grafana.state.alert_rules
    assert {c["name"] for c in grafana.state.contact_points.values()} == {"oncall", "ml-team", "mail", "hook"}
    assert not push_grafana_alerting(api, spec, env=SECRETS).changed


def test_without_a_ticket_receiver_the_push_keeps_the_organisations_root_receiver(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    api.alertingprovisioning.create_contactpoint(
        {"uid": "team-mail", "name": "team-mail", "type": "email", "settings": {"addresses": "t@example.com"}}
    )
    api.alertingprovisioning.set_notification_policy_tree({"receiver": "team-mail"})
    spec = credit(CREDIT_TEXT.replace("  ticket: ml-team\n", ""))
    push(api, spec)
    tree = grafana.state.policy_tree
    assert tree["receiver"] == "team-mail"
    assert tree["routes"][1]["mute_time_intervals"] == [DISCARD]
    assert grafana.state.mute_timings[DISCARD] == {"name": DISCARD, "time_intervals": [{}]}
    assert not push_grafana_alerting(api, spec, env=SECRETS).changed


def test_a_wrong_token_is_an_error_naming_the_object(grafana: FakeGrafana) -> None:
    wrong = GrafanaApi.from_url(grafana.url, credential="glsa_wrong")
    with pytest.raises(AlertingProvisionError, match=r"policy tree 'root' \(HTTP 401\)"):
        push_grafana_alerting(wrong, credit(), env=SECRETS)
    grafana.errors.clear()  # the 401 was the point
