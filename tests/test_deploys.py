"""Deploys: a model version seen for the first time in SDK stats is recorded and annotated in Grafana."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import missing, start_collector
from tests.fake_grafana import SPEC, FakeGrafana
from tests.test_collector_api import stats


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    if not SPEC.exists():
        missing(f"Grafana's OpenAPI description at {SPEC}", "check out shared/ beside the repository")
    with FakeGrafana() as g:
        yield g
    assert g.errors == [], "\n".join(g.errors)


def test_a_new_version_is_recorded_once_and_posted_as_a_grafana_annotation(
    grafana: FakeGrafana, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTLINE_GRAFANA_URL", grafana.url)
    monkeypatch.setenv("GRAFANA_TOKEN", grafana.token)
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    try:
        for version, end in (("v1", time.time() - 600), ("v1", time.time() - 300), ("v2", time.time() - 60)):
            assert c.post("/v1/stats", {**stats(5, 0, [5, 0, 0, 0], end=end), "version": version})[0] == 200
        status, deploys = c.get("/v1/models/credit/deploys")
        assert status == 200 and [d["version"] for d in deploys] == ["v1", "v2"]
        deadline = time.monotonic() + 20
        while len(grafana.state.annotations) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        tags = sorted(tuple(a["tags"]) for a in grafana.state.annotations)
        assert tags == [
            ("driftline-deploy", "model:credit", "version:v1"),
            ("driftline-deploy", "model:credit", "version:v2"),
        ]
    finally:
        c.stop()
