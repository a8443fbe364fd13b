"""Events: retrains, deploys and rollbacks reported with POST /v1/events, over real HTTP against a real collector
process on SQLite and PostgreSQL: stored once per event id, read back newest first, counted on /metrics, and
refused with a 4xx naming the field when wrong."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker

from collector import auth, db
from dashboards import generate_dashboards
from dashboards.uids import model_uid
from spec import load_spec
from tests.conftest import EXAMPLES, Collector, cli, missing, start_collector
from tests.fake_grafana import SPEC, FakeGrafana


def event(event_id: str = "e1", **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "model": "credit", "kind": "retrain", **fields}


def other_project_token(c: Collector) -> str:
    engine = db.make_engine(c.database_url)
    try:
        with sessionmaker(engine).begin() as s:
            return auth.create_token(s, scope="admin", project="other")
    finally:
        engine.dispose()


def counted(c: Collector, kind: str) -> float | None:
    for line in c.metrics().splitlines():
        if line.startswith(f'driftline_model_events_total{{kind="{kind}",model="credit"}}'):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_an_event_is_stored_once_read_back_and_counted(collector: Collector) -> None:
    c = collector
    at = time.time() - 3600
    sent = event(version="v2", ts=at, note="weekly retrain", links=["https://ci.example/runs/7"])
    status, stored = c.post("/v1/events", sent)
    assert status == 200, stored
    assert stored["duplicate"] is False
    assert (stored["event_id"], stored["kind"], stored["version"], stored["note"]) == (
        "e1",
        "retrain",
        "v2",
        "weekly retrain",
    )
    assert stored["links"] == ["https://ci.example/runs/7"]
    assert abs(dt.datetime.fromisoformat(stored["ts"]).timestamp() - at) < 1e-3

    status, again = c.post("/v1/events", sent)  # a retry: the stored event, nothing new
    assert status == 200 and again == {**stored, "duplicate": True}
    status, body = c.post("/v1/events", {**sent, "kind": "rollback"})
    assert status == 409 and body["detail"][0]["loc"] == ["body", "event_id"], body

    status, listed = c.get("/v1/models/credit/events")
    assert status == 200 and [e["event_id"] for e in listed] == ["e1"], listed
    assert listed[0] == {k: v for k, v in stored.items() if k != "duplicate"}
    assert counted(c, "retrain") == 1.0


def test_an_event_without_a_time_is_stored_at_arrival_and_its_retry_is_the_same_event(
    collector: Collector,
) -> None:
    c = collector
    before = time.time()
    status, first = c.post("/v1/events", event("deploy-1", kind="deploy", version="v3"))
    assert status == 200, first
    assert before - 1 <= dt.datetime.fromisoformat(first["ts"]).timestamp() <= time.time() + 1
    time.sleep(0.05)
    status, retry = c.post("/v1/events", event("deploy-1", kind="deploy", version="v3"))
    assert status == 200 and retry["duplicate"] is True and retry["ts"] == first["ts"], retry
    assert counted(c, "deploy") == 1.0


def test_reads_filter_by_kind_and_time_and_page_newest_first(collector: Collector) -> None:
    c = collector
    now = time.time()
    for i, kind in enumerate(["retrain", "deploy", "retrain", "rollback", "retrain"]):
        status, body = c.post("/v1/events", event(f"e{i}", kind=kind, ts=now - 3600 * (5 - i)))
        assert status == 200, body
    status, retrains = c.get("/v1/models/credit/events?kind=retrain")
    assert status == 200 and [e["event_id"] for e in retrains] == ["e4", "e2", "e0"]
    since = dt.datetime.fromtimestamp(now - 3600 * 3.5, dt.UTC).isoformat()
    until = dt.datetime.fromtimestamp(now - 3600 * 1.5, dt.UTC).isoformat()
    query = urllib.parse.urlencode({"since": since, "until": until})
    status, span = c.get(f"/v1/models/credit/events?{query}")
    assert status == 200 and [e["event_id"] for e in span] == ["e3", "e2"], span

    seen, path = [], "/v1/models/credit/events?limit=2"
    while path:
        req = urllib.request.Request(c.url + path, headers={"Authorization": f"Bearer {c.read}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            seen += [e["event_id"] for e in json.loads(resp.read())]
            link = resp.headers.get("Link")
        path = link[len("<" + c.url) : link.index(">")] if link else ""
    assert seen == ["e4", "e3", "e2", "e1", "e0"]


def test_hostile_events_get_a_4xx_naming_the_field(collector: Collector) -> None:
    c = collector
    cases: list[tuple[dict[str, Any], int, list[Any]]] = [
        (event(kind="retrian"), 422, ["body", "kind"]),
        (event(ts=253402300799000), 422, ["body", "ts"]),  # milliseconds
        (event(ts="9999-12-31T00:00:00Z"), 422, ["body", "ts"]),
        (event(ts=0), 422, ["body", "ts"]),
        (event(ts="yesterday"), 422, ["body", "ts"]),
        ({"event_id": "e1", "kind": "retrain"}, 422, ["body", "model"]),
        (event(model="nope"), 422, ["body", "model"]),
        (event(links=["javascript:alert(1)"]), 422, ["body", "links", 0]),
        (event(note="a\x00b"), 422, ["body", "note"]),
        (event(event_id=""), 422, ["body", "event_id"]),
        (event(version="v 2"), 422, ["body", "version"]),
        (event(extra=1), 422, ["body", "extra"]),
    ]
    for body, want, loc in cases:
        status, answer = c.post("/v1/events", body)
        assert status == want, (body, answer)
        locs = [e["loc"] for e in answer["detail"]]
        assert loc in locs, (body, answer)
        assert all(e["msg"] for e in answer["detail"])
    status, answer = c.post("/v1/events", event(), token=other_project_token(c))
    assert status == 403 and answer["detail"][0]["loc"] == ["body", "model"], answer
    assert "project" in answer["detail"][0]["msg"]
    status, answer = c.post("/v1/events", event(), token=c.read)
    assert status == 403 and "ingest" in answer["detail"], answer
    status, answer = c.get("/v1/models/credit/events", token=other_project_token(c))
    assert status == 403, answer
    status, answer = c.get("/v1/models/nope/events")
    assert status == 404 and answer["detail"][0]["loc"] == ["path", "model"], answer
    for query, loc in (
        ("kind=oops", ["query", "kind"]),
        ("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", ["query", "until"]),
        ("cursor=bm9wZQ", ["query", "cursor"]),
        ("limit=0", ["query", "limit"]),
        ("window=1h", ["query", "window"]),
    ):
        status, answer = c.get(f"/v1/models/credit/events?{query}")
        assert status == 422 and answer["detail"][0]["loc"] == loc, (query, answer)
    status, listed = c.get("/v1/models/credit/events")
    assert status == 200 and listed == [], listed
    assert counted(c, "retrain") is None


def test_the_event_counter_carries_on_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    c = start_collector(url, tmp_path)
    try:
        for i in range(3):
            assert c.post("/v1/events", event(f"r{i}"))[0] == 200
        tokens = (c.admin, c.ingest, c.read)
    finally:
        c.stop()
    c = start_collector(url, tmp_path, tokens=tokens)
    try:
        assert counted(c, "retrain") == 3.0
        assert c.post("/v1/events", event("r0"))[1]["duplicate"] is True
        assert counted(c, "retrain") == 3.0
    finally:
        c.stop()


def test_the_cli_reports_an_event_and_prints_what_was_stored(tmp_path: Path) -> None:
    c = start_collector(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path)
    try:
        args = ("--model", "credit", "--collector", c.url, "--token", c.ingest)
        out = cli(
            "event", "retrain", *args, "--version", "v7", "--note", "drift on income",
            "--link", "https://ci.example/runs/9", "--at", "2026-01-02T03:04:05Z", "--id", "run-9",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == [
            "stored: retrain of credit version v7 at 2026-01-02T03:04:05Z (event id run-9)",
            "  note: drift on income",
            "  link: https://ci.example/runs/9",
        ]
        again = cli("event", "retrain", *args, "--version", "v7", "--note", "drift on income",
                    "--link", "https://ci.example/runs/9", "--at", "2026-01-02T03:04:05Z", "--id", "run-9")  # fmt: skip
        assert again.returncode == 0 and again.stdout.startswith("already stored (nothing changed): retrain")
        out = cli("event", "rollback", *args)
        assert out.returncode == 0 and out.stdout.startswith("stored: rollback of credit at "), out.stderr
        status, listed = c.get("/v1/models/credit/events")
        assert status == 200 and [e["kind"] for e in listed] == ["rollback", "retrain"], listed
        assert counted(c, "retrain") == 1.0 and counted(c, "rollback") == 1.0

        refused = cli("event", "deploy", "--model", "nope", "--collector", c.url, "--token", c.ingest)
        assert refused.returncode == 2 and "422" in refused.stderr and "model 'nope'" in refused.stderr
        bad_time = cli("event", "deploy", *args, "--at", "last tuesday")
        assert bad_time.returncode == 2 and "--at" in bad_time.stderr and "ISO-8601" in bad_time.stderr
        no_token = cli(
            "event", "deploy", "--model", "credit", "--collector", c.url, env={"DRIFTLINE_TOKEN": ""}
        )
        assert no_token.returncode == 2 and "DRIFTLINE_TOKEN" in no_token.stderr
    finally:
        c.stop()


def test_every_stored_event_is_posted_as_a_grafana_annotation_the_model_dashboard_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not SPEC.exists():
        missing(f"Grafana's OpenAPI description at {SPEC}", "check out shared/ beside the repository")
    with FakeGrafana() as grafana:
        monkeypatch.setenv("DRIFTLINE_GRAFANA_URL", grafana.url)
        monkeypatch.setenv("GRAFANA_TOKEN", grafana.token)
        c = start_collector(f"sqlite:///{tmp_path / 'g.db'}", tmp_path)
        try:
            at = time.time() - 600
            sent = event("g1", version="v2", ts=at, note="weekly", links=["https://ci.example/runs/1"])
            assert c.post("/v1/events", sent)[0] == 200
            assert c.post("/v1/events", sent)[1]["duplicate"] is True  # a retry posts nothing more
            assert c.post("/v1/events", event("g2", kind="rollback"))[0] == 200
            deadline = time.monotonic() + 20
            while len(grafana.state.annotations) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            c.stop()
    assert grafana.errors == [], "\n".join(grafana.errors)
    by_tags = {tuple(a["tags"]): a for a in grafana.state.annotations}
    assert set(by_tags) == {
        ("driftline-event", "model:credit", "kind:retrain", "version:v2"),
        ("driftline-event", "model:credit", "kind:rollback"),
    }
    retrain = by_tags[("driftline-event", "model:credit", "kind:retrain", "version:v2")]
    assert retrain["time"] == int(at * 1000)
    assert retrain["text"].splitlines() == [
        "credit: retrain of version v2",
        "weekly",
        "https://ci.example/runs/1",
    ]

    board = next(
        b for b in generate_dashboards(load_spec(EXAMPLES / "credit.yaml")) if b.uid == model_uid("credit")
    )
    shown = next(a for a in board.model["annotations"]["list"] if a["name"] == "Events")
    # Grafana shows an annotation on a tags query when it carries every tag the query names
    assert (
        set(shown["target"]["tags"]) == {"driftline-event", "model:$model"}
        and not shown["target"]["matchAny"]
    )
