"""The dashboard generator and the provisioning-file writer: goldens, determinism, Grafana's dashboard model.

Regenerate the goldens after an intended change with `UPDATE_GOLDEN=1 pytest tests/test_dashboards.py`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards import (
    GrafanaOptions,
    PostgresSource,
    datasources,
    generate_dashboards,
    postgres_from_database_url,
    provisioning_files,
    readonly_role_sql,
    write_provisioning,
)
from dashboards.datasources import MissingSecretError
from dashboards.targets import SQLQuery
from dashboards.uids import model_uid
from slo.links import Links, slug
from spec import load_spec, load_spec_text

ROOT = Path(__file__).resolve().parent.parent
CREDIT = ROOT / "examples" / "credit.yaml"
GOLDEN = Path(__file__).parent / "golden_dashboards" / "credit"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in model["panels"]:
        yield p
        yield from p.get("panels", [])


def test_the_provisioning_files_for_the_credit_example_match_the_goldens() -> None:
    files = provisioning_files(load_spec(CREDIT))
    if UPDATE:
        for old in GOLDEN.rglob("*"):
            if old.is_file():
                old.unlink()
        for rel, text in files.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_text(text, encoding="utf-8")
    assert GOLDEN.is_dir(), f"no goldens in {GOLDEN}: run UPDATE_GOLDEN=1 pytest {__file__}"
    on_disk = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*") if p.is_file()}
    assert on_disk == set(files), "generated files differ from the goldens' list: rerun with UPDATE_GOLDEN=1"
    for rel, text in files.items():
        assert text == (GOLDEN / rel).read_text(encoding="utf-8"), (
            f"{rel} differs from its golden; if intended, rerun with UPDATE_GOLDEN=1"
        )


def test_generating_twice_gives_the_same_json_with_sorted_keys_and_uids_from_model_names() -> None:
    first, second = provisioning_files(load_spec(CREDIT)), provisioning_files(load_spec(CREDIT))
    assert first == second
    board = json.loads(first["dashboards/driftline-model-credit.json"])
    assert board["uid"] == "driftline-model-credit"
    assert (
        first["dashboards/driftline-model-credit.json"] == json.dumps(board, indent=2, sort_keys=True) + "\n"
    )
    assert [b.uid for b in generate_dashboards(load_spec(CREDIT))] == [
        "driftline-executive",
        "driftline-model-credit",
        "driftline-oncall",
        "driftline-slos",
    ]


@pytest.mark.parametrize(
    "name",
    [
        "credit",
        "fraud.v2",
        "a-very-long-model-name-that-does-not-fit-in-forty",
        "a-very-long-model-name-that-does-not-fit-in-fifty",
    ],
)
def test_a_model_uid_is_a_valid_grafana_uid_and_stable(name: str) -> None:
    uid = model_uid(name)
    assert len(uid) <= 40 and uid.replace("-", "").replace("_", "").isalnum()
    assert uid == model_uid(name)


def test_two_long_names_with_the_same_prefix_get_different_uids() -> None:
    a, b = (
        "a-very-long-model-name-that-does-not-fit-in-forty",
        "a-very-long-model-name-that-does-not-fit-in-fifty",
    )
    assert model_uid(a) != model_uid(b)
    assert model_uid("credit") == "driftline-model-credit"


def test_every_dashboard_reads_back_through_the_foundation_sdk_model_unchanged() -> None:
    for board in generate_dashboards(load_spec(CREDIT)):
        typed = Dashboard.from_json(board.model)
        again = json.loads(json.dumps(typed, cls=JSONEncoder))
        assert again == board.model, board.uid
        sql = [
            t
            for p in typed.panels or []
            for t in (getattr(p, "targets", None) or [])
            if isinstance(t, SQLQuery)
        ]
        if board.uid != "driftline-slos":
            assert sql, f"{board.uid}: SQL targets should read back as SQLQuery"


def test_every_panel_has_a_unique_id_and_every_target_a_refid_and_a_driftline_datasource() -> None:
    allowed = {"driftline-prometheus", "driftline-postgres"}
    for board in generate_dashboards(load_spec(CREDIT)):
        ids = [p["id"] for p in panels(board.model)]
        assert len(ids) == len(set(ids)), board.uid
        for p in panels(board.model):
            if p["type"] == "row":
                continue
            assert p["datasource"]["uid"] in allowed
            refs = [t["refId"] for t in p["targets"]]
            assert refs and len(refs) == len(set(refs)) and all(refs), (board.uid, p["title"])
            assert all(t["datasource"] == p["datasource"] for t in p["targets"])


def test_dashboards_have_model_version_and_slice_variables_and_show_deploys() -> None:
    by_uid = {b.uid: b.model for b in generate_dashboards(load_spec(CREDIT))}
    names = {uid: {v["name"] for v in m["templating"]["list"]} for uid, m in by_uid.items()}
    assert {"model", "version", "slice", "metric", "feature"} <= names["driftline-model-credit"]
    assert {"model", "version"} <= names["driftline-oncall"]
    assert {"model", "slo"} <= names["driftline-slos"]
    for uid, m in by_uid.items():
        deploys = [a for a in m["annotations"]["list"] if a["name"] == "Deploys"]
        assert deploys and "driftline-deploy" in deploys[0]["target"]["tags"], uid
    debug = by_uid["driftline-model-credit"]["annotations"]["list"]
    assert next(a for a in debug if a["name"] == "Deploys")["target"]["tags"] == [
        "driftline-deploy",
        "model:$model",
    ]


def test_every_alert_link_opens_a_generated_dashboard_by_its_uid_slug_and_variables() -> None:
    """slo.links builds the links alerts carry: each names a dashboard generated here, by uid and by the slug of
    its title, and sets only variables that dashboard has."""
    spec = load_spec(CREDIT)
    by_uid = {b.uid: b.model for b in generate_dashboards(spec)}
    links = Links("https://grafana.example.com")
    for url in (
        links.slo_dashboard("credit", "credit-latency"),
        links.model_dashboard("credit"),
        links.oncall_dashboard(),
    ):
        assert url is not None
        path, _, query = url.removeprefix("https://grafana.example.com/d/").partition("?")
        uid, board_slug = path.split("/")
        assert uid in by_uid and board_slug == slug(by_uid[uid]["title"]), url
        names = {v["name"] for v in by_uid[uid]["templating"]["list"]}
        assert {p.split("=")[0].removeprefix("var-") for p in query.split("&") if p} <= names, url
    repeated = [p for p in by_uid["driftline-slos"]["panels"] if p["type"] == "row"]
    assert [p.get("repeat") for p in repeated] == ["slo"]


def test_burn_rate_panels_draw_each_windows_alert_threshold() -> None:
    oncall = next(b.model for b in generate_dashboards(load_spec(CREDIT)) if b.uid == "driftline-oncall")
    burn = next(p for p in oncall["panels"] if p["title"] == "Burn rate: credit-availability")
    limits = {
        o["matcher"]["options"]: o["properties"][0]["value"]["steps"][1]["value"]
        for o in burn["fieldConfig"]["overrides"]
    }
    assert limits == {"1h": 14.4, "6h": 6.0, "1d": 3.0, "3d": 1.0}
    assert [t["legendFormat"] for t in burn["targets"]] == ["1h", "6h", "1d", "3d"]


def test_firing_alerts_carry_the_models_runbook_link() -> None:
    oncall = next(b.model for b in generate_dashboards(load_spec(CREDIT)) if b.uid == "driftline-oncall")
    alerts = next(p for p in oncall["panels"] if p["title"] == "Firing alerts")
    assert "https://runbooks.example.com/driftline/credit" in alerts["targets"][0]["expr"]
    link = alerts["fieldConfig"]["overrides"][0]
    assert (
        link["matcher"]["options"] == "runbook_url"
        and link["properties"][0]["value"][0]["url"] == "${__value.raw}"
    )


def test_without_a_postgres_datasource_no_panel_queries_sql() -> None:
    options = GrafanaOptions(postgres=None)
    for board in generate_dashboards(load_spec(CREDIT), options):
        types = {p["datasource"]["type"] for p in panels(board.model) if p["type"] != "row"}
        assert types == {"prometheus"}, board.uid
    assert [d.type for d in datasources(options)] == ["prometheus"]


def test_a_spec_without_slos_gets_no_slo_dashboard_and_no_budget_panels() -> None:
    text = CREDIT.read_text().split("slos:")[0] + "alerting: {}\n"
    spec = load_spec_text(text)
    boards = {b.uid: b.model for b in generate_dashboards(spec)}
    assert "driftline-slos" not in boards
    exprs = [t.get("expr", "") for m in boards.values() for p in panels(m) for t in p.get("targets", [])]
    assert not any("slo:" in e for e in exprs)


def test_the_postgres_password_is_an_environment_reference_in_files_and_read_from_the_environment_for_the_api() -> (
    None
):
    pg = next(d for d in datasources(GrafanaOptions()) if d.type == "grafana-postgresql-datasource")
    assert pg.provisioning_entry()["secureJsonData"] == {"password": "$__env{DRIFTLINE_GRAFANA_DB_PASSWORD}"}
    assert pg.api_body({"DRIFTLINE_GRAFANA_DB_PASSWORD": "s3cret"})["secureJsonData"] == {
        "password": "s3cret"
    }
    with pytest.raises(MissingSecretError, match="set DRIFTLINE_GRAFANA_DB_PASSWORD"):
        pg.api_body({})
    files = provisioning_files(load_spec(CREDIT))
    assert "s3cret" not in "".join(files.values())


def test_the_writer_adds_a_header_to_yaml_and_removes_dashboards_of_removed_models(tmp_path: Path) -> None:
    stale = tmp_path / "dashboards" / "driftline-model-gone.json"
    mine = tmp_path / "dashboards" / "team-dashboard.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    mine.write_text("{}")
    written = write_provisioning(load_spec(CREDIT), tmp_path)
    assert not stale.exists() and mine.exists()
    assert {p.relative_to(tmp_path).as_posix() for p in written} == set(provisioning_files(load_spec(CREDIT)))
    sources = (tmp_path / "provisioning/datasources/driftline.yaml").read_text()
    assert sources.startswith("# Generated by driftline")
    provider = yaml.safe_load((tmp_path / "provisioning/dashboards/driftline.yaml").read_text())
    assert provider["providers"][0]["folderUid"] == "driftline"
    assert yaml.safe_load(sources)["datasources"][1]["jsonData"]["database"] == "driftline"


def test_the_postgres_datasource_follows_the_collector_database_url() -> None:
    pg = postgres_from_database_url("postgresql+psycopg://driftline@db.internal:5433/monitoring")
    assert pg == dataclasses.replace(PostgresSource(), host="db.internal:5433", database="monitoring")
    assert postgres_from_database_url("sqlite:///driftline.db") is None


def test_the_readonly_role_sql_grants_select_only_and_quotes_the_password() -> None:
    sql = readonly_role_sql("driftline_grafana", "it's")
    assert any("PASSWORD 'it''s'" in s for s in sql)
    grant = next(s for s in sql if s.startswith("GRANT SELECT"))
    assert '"public"."records"' in grant and "tokens" not in grant and "batches" not in grant
    with pytest.raises(ValueError, match="lower-case"):
        readonly_role_sql('x"; DROP TABLE records; --')
