"""`driftline generate` writes every artifact; `driftline provision grafana` pushes idempotently."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, cli, missing
from tests.fake_grafana import SPEC, FakeGrafana


def test_generate_writes_rules_alertmanager_and_grafana_provisioning(tmp_path: Path) -> None:
    out = cli(
        "generate",
        str(EXAMPLES / "credit.yaml"),
        "--out",
        str(tmp_path),
        "--database-url",
        "postgresql+psycopg://ro@db.example:5432/driftline",
    )
    assert out.returncode == 0, out.stderr
    files = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert {
        "prometheus/driftline-slo.rules.yaml",
        "prometheus/driftline-alerts.rules.yaml",
        "alertmanager/alertmanager.yml",
        "grafana/provisioning/datasources/driftline.yaml",
        "grafana/provisioning/dashboards/driftline.yaml",
    } <= files
    boards = [json.loads((tmp_path / f).read_text()) for f in files if f.startswith("grafana/dashboards/")]
    assert {b["uid"] for b in boards} >= {
        "driftline-executive",
        "driftline-oncall",
        "driftline-slos",
        "driftline-model-credit",
    }
    datasources = (tmp_path / "grafana/provisioning/datasources/driftline.yaml").read_text()
    assert "grafana-postgresql-datasource" in datasources or "postgres" in datasources
    assert out.stdout.count("\n") == len(files)


def test_generate_refuses_a_bad_spec_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "credit.yaml").read_text().replace("objective: 99.9", "objective: 100"))
    out = cli("generate", str(bad), "--out", str(tmp_path / "out"))
    assert out.returncode == 2 and "objective" in out.stderr and not (tmp_path / "out").exists()


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    if not SPEC.exists():
        missing(f"Grafana's OpenAPI description at {SPEC}", "check out shared/ beside the repository")
    with FakeGrafana() as g:
        yield g
    assert g.errors == [], "\n".join(g.errors)


def test_provision_grafana_creates_dashboards_and_alerting_then_changes_nothing(grafana: FakeGrafana) -> None:
    args = ("provision", "grafana", str(EXAMPLES / "credit.yaml"), "--url", grafana.url)
    env = {"GRAFANA_TOKEN": grafana.token, "PAGERDUTY_KEY": "pd-key", "SLACK_WEBHOOK": "https://hooks.example/x"}
    first = cli(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    assert "contact point" in first.stdout or "contact-point" in first.stdout, first.stdout
    second = cli(*args, env=env)
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stdout and "updated" not in second.stdout, second.stdout
    assert grafana.errors == []
    wrong = cli(*args, env={**env, "GRAFANA_TOKEN": "nope"})
    assert wrong.returncode == 1 and "provisioning failed" in wrong.stderr
    assert grafana.errors and all("401" in e for e in grafana.errors)
    grafana.errors.clear()  # the refused token was this test's doing
