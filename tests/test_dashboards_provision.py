"""Provisioning with grafana-client against a local server that validates every request against Grafana's
OpenAPI description and keeps Grafana's state (tests/fake_grafana.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from grafana_client import GrafanaApi

from dashboards import (
    GENERATED_TAG,
    GrafanaOptions,
    PrometheusSource,
    ProvisionError,
    post_deploy_annotation,
    provision,
    provision_grafana,
)
from spec import ResolvedSpec, load_spec_text
from tests.conftest import free_port, missing
from tests.fake_grafana import SPEC, FakeGrafana

ROOT = Path(__file__).resolve().parent.parent
CREDIT_TEXT = (ROOT / "examples" / "credit.yaml").read_text()
ENV = {"DRIFTLINE_GRAFANA_DB_PASSWORD": "grafana-reads"}
FRAUD = """
  - name: fraud
    features:
      - {name: amount, type: numeric}
      - {name: country, type: categorical}
    prediction: {type: binary}
    slices: [country]
"""


def credit(text: str = CREDIT_TEXT) -> ResolvedSpec:
    return load_spec_text(text)


def with_fraud() -> ResolvedSpec:
    return credit(CREDIT_TEXT.replace("\nslos:", FRAUD + "slos:"))


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    if not SPEC.exists():
        missing(f"Grafana's OpenAPI description at {SPEC}", "check out shared/ beside the repository")
    with FakeGrafana() as g:
        yield g
    assert g.errors == [], "requests Grafana's description does not allow:\n" + "\n".join(g.errors)


@pytest.fixture
def api(grafana: FakeGrafana) -> GrafanaApi:
    return GrafanaApi.from_url(grafana.url, credential=grafana.token)


def push(api: GrafanaApi, spec: ResolvedSpec, **kw: Any) -> dict[str, str]:
    report = provision(api, spec, env=ENV, **kw)
    return {f"{c.kind} {c.uid}": c.action for c in report.changes}


def raw(grafana: FakeGrafana, method: str, path: str, body: Any = None, token: str | None = None) -> int:
    req = urllib.request.Request(
        grafana.url + path, method=method, data=None if body is None else json.dumps(body).encode()
    )
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {token or grafana.token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_the_first_run_creates_the_folder_datasources_and_every_dashboard(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    changes = push(api, credit())
    assert changes == {
        "folder driftline": "created",
        "datasource driftline-prometheus": "created",
        "datasource driftline-postgres": "created",
        "dashboard driftline-executive": "created",
        "dashboard driftline-model-credit": "created",
        "dashboard driftline-oncall": "created",
        "dashboard driftline-slos": "created",
    }
    assert grafana.dashboard_versions() == dict.fromkeys(grafana.state.dashboards, 1)
    assert {d["folderUid"] for d in grafana.state.dashboards.values()} == {"driftline"}
    assert grafana.state.secrets["driftline-postgres"] == {"password": "grafana-reads"}
    stored = api.dashboard.get_dashboard("driftline-oncall")
    assert (
        stored["dashboard"]["title"] == "Driftline / On-call" and stored["meta"]["folderUid"] == "driftline"
    )


def test_a_second_run_changes_nothing_and_leaves_every_version_as_it_was(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    push(api, credit())
    versions, ds_versions = (
        grafana.dashboard_versions(),
        {u: d["version"] for u, d in grafana.state.datasources.items()},
    )
    report = provision(api, credit(), env=ENV)
    assert not report.changed, report.summary()
    assert grafana.dashboard_versions() == versions
    assert {u: d["version"] for u, d in grafana.state.datasources.items()} == ds_versions
    assert all(method == "GET" for method, _, _ in grafana.requests[-len(report.changes) :])


def test_changing_one_models_drift_threshold_bumps_only_its_debug_dashboard(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    push(api, credit())
    before = grafana.dashboard_versions()
    changed = push(api, credit(CREDIT_TEXT.replace("warn: 0.1", "warn: 0.15")))
    assert [k for k, v in changed.items() if v != "unchanged"] == ["dashboard driftline-model-credit"]
    after = grafana.dashboard_versions()
    assert {u: after[u] - before[u] for u in before} == {
        "driftline-executive": 0,
        "driftline-model-credit": 1,
        "driftline-oncall": 0,
        "driftline-slos": 0,
    }


def test_adding_a_model_creates_its_dashboard_and_updates_only_the_dashboards_that_list_models(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    push(api, credit())
    before = grafana.dashboard_versions()
    changed = push(api, with_fraud())
    assert {k: v for k, v in changed.items() if v != "unchanged"} == {
        "dashboard driftline-executive": "updated",
        "dashboard driftline-model-fraud": "created",
        "dashboard driftline-oncall": "updated",
        "dashboard driftline-slos": "updated",
    }
    after = grafana.dashboard_versions()
    assert after["driftline-model-credit"] == before["driftline-model-credit"]
    assert after["driftline-executive"] == before["driftline-executive"] + 1


def test_a_removed_models_dashboard_is_pruned_and_other_dashboards_in_the_folder_are_kept(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    push(api, with_fraud())
    api.dashboard.update_dashboard(
        {
            "dashboard": {"uid": "team-notes", "title": "Team notes", "tags": ["driftline"]},
            "folderUid": "driftline",
        }
    )
    changed = push(api, credit())
    assert changed["dashboard driftline-model-fraud"] == "deleted"
    assert set(grafana.state.dashboards) == {
        "driftline-executive",
        "driftline-model-credit",
        "driftline-oncall",
        "driftline-slos",
        "team-notes",
    }
    assert all(
        GENERATED_TAG in d["dashboard"]["tags"]
        for u, d in grafana.state.dashboards.items()
        if u != "team-notes"
    )


def test_a_dashboard_edited_in_the_ui_is_put_back_with_a_new_version(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    push(api, credit())
    edited = api.dashboard.get_dashboard("driftline-oncall")["dashboard"]
    edited["panels"] = edited["panels"][:1]
    api.dashboard.update_dashboard({"dashboard": edited, "folderUid": "driftline"})
    assert grafana.dashboard_versions()["driftline-oncall"] == 2
    changed = push(api, credit())
    assert changed["dashboard driftline-oncall"] == "updated"
    assert grafana.dashboard_versions()["driftline-oncall"] == 3
    assert len(api.dashboard.get_dashboard("driftline-oncall")["dashboard"]["panels"]) > 1


def test_a_changed_prometheus_url_updates_that_datasource_only_and_keeps_the_postgres_secret(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    push(api, credit())
    options = GrafanaOptions(prometheus=PrometheusSource(url="http://prometheus.internal:9090"))
    report = provision(api, credit(), options, env={})  # no password needed: the stored one is kept
    changed = {f"{c.kind} {c.uid}": c.action for c in report.changes if c.action != "unchanged"}
    assert changed == {"datasource driftline-prometheus": "updated"}
    assert grafana.state.datasources["driftline-prometheus"]["url"] == "http://prometheus.internal:9090"
    assert grafana.state.datasources["driftline-prometheus"]["version"] == 2
    assert grafana.state.secrets["driftline-postgres"] == {"password": "grafana-reads"}


def test_provision_grafana_reads_the_token_from_the_environment(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "driftline.yaml"
    config.write_text(CREDIT_TEXT)
    monkeypatch.setenv("DRIFTLINE_GRAFANA_DB_PASSWORD", "grafana-reads")
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    with pytest.raises(ProvisionError, match="set GRAFANA_TOKEN"):
        provision_grafana(config, grafana.url)
    monkeypatch.setenv("GRAFANA_TOKEN", grafana.token)
    assert provision_grafana(config, grafana.url).changed
    assert not provision_grafana(config, grafana.url).changed


def test_a_wrong_token_or_an_unreachable_grafana_is_a_provision_error_naming_the_object(
    grafana: FakeGrafana,
) -> None:
    with pytest.raises(ProvisionError, match=r"folder 'driftline' \(HTTP 401\)"):
        provision_grafana(credit(), grafana.url, token="glsa_wrong")
    grafana.errors.clear()  # the 401 above was the point of the test
    with pytest.raises(ProvisionError, match="could not reach Grafana"):
        provision_grafana(credit(), f"http://127.0.0.1:{free_port()}", token="t", timeout=2)


def test_a_deploy_annotation_carries_the_tags_the_dashboards_filter_on(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    ann_id = post_deploy_annotation(api, "credit", "v8", 1_700_000_000_000)
    (ann,) = grafana.state.annotations
    assert ann["id"] == ann_id and ann["time"] == ann["timeEnd"] == 1_700_000_000_000
    assert ann["tags"] == ["driftline-deploy", "model:credit", "version:v8"]
    assert api.annotations.find_annotations(tags=["driftline-deploy", "model:credit"])[0]["id"] == ann_id


def test_the_fake_refuses_what_grafanas_description_does_not_allow(grafana: FakeGrafana) -> None:
    cases = {
        "an undeclared field (a typo Grafana would silently ignore)": (
            "POST",
            "/api/dashboards/db",
            {"dashboard": {"title": "x"}, "folderUID": "driftline"},
            400,
        ),
        "a wrong type": ("POST", "/api/folders", {"title": 3}, 400),
        "an unknown path": ("GET", "/api/dashboard/uid/x", None, 404),
        "a method the path lacks": ("PATCH", "/api/folders", {"title": "x"}, 405),
        "an undeclared query parameter": ("GET", "/api/search?folderUIDs=x", None, 400),
        "a path parameter of the wrong type": ("GET", "/api/folders/id/abc", None, 404),
        "the provisioning path taken literally under /api": (
            "GET",
            "/api/api/v1/provisioning/policies",
            None,
            404,
        ),
    }
    for name, (method, path, body, status) in cases.items():
        assert raw(grafana, method, path, body) == status, name
    assert raw(grafana, "GET", "/api/folders", token="glsa_wrong") == 401
    assert len(grafana.errors) == len(cases) + 1
    assert "folderUID" in grafana.errors[0] and "Additional properties" in grafana.errors[0]
    grafana.errors.clear()
    assert raw(grafana, "GET", "/api/v1/provisioning/policies") == 200  # the real URL of the quirky path


def test_alerting_provisioning_paths_are_served_where_grafana_serves_them(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    api.folder.create_folder("Driftline", uid="driftline")
    tree = {"receiver": "oncall", "group_by": ["alertname", "model"]}
    api.alertingprovisioning.set_notification_policy_tree(tree)
    assert api.alertingprovisioning.get_notification_policy_tree() == tree
    point = {"name": "oncall", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/hook"}}
    created = api.alertingprovisioning.create_contactpoint(point)
    assert api.alertingprovisioning.get_contactpoints()[0]["uid"] == created["uid"]
    assert {p for _, p, _ in grafana.requests} >= {
        "/api/v1/provisioning/policies",
        "/api/v1/provisioning/contact-points",
    }


def test_a_renamed_folder_gets_its_title_back_through_a_versioned_update(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    push(api, credit())
    api.folder.update_folder("driftline", title="Someone renamed it", version=1)
    changed = push(api, credit())
    assert changed["folder driftline"] == "updated"
    assert grafana.state.folders["driftline"]["title"] == "Driftline"
    assert grafana.state.folders["driftline"]["version"] == 3
    assert push(api, credit())["folder driftline"] == "unchanged"


def test_a_datasource_of_the_same_name_under_another_uid_is_a_clear_error(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    api.datasource.create_datasource(
        {"name": "Driftline Prometheus", "type": "prometheus", "url": "http://x:9090"}
    )
    with pytest.raises(ProvisionError, match=r"datasource 'driftline-prometheus' \(HTTP 409\)"):
        provision(api, credit(), env=ENV)


def test_a_missing_database_password_is_a_provision_error_naming_the_variable(
    grafana: FakeGrafana, api: GrafanaApi
) -> None:
    with pytest.raises(ProvisionError, match="set DRIFTLINE_GRAFANA_DB_PASSWORD"):
        provision(api, credit(), env={})
