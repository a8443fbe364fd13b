"""The collector's HTTP API, spoken to over real HTTP in a real process, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from sdk import CollectorClient
from sdk.client import next_cursor
from tests.conftest import EXAMPLES as EXAMPLES_DIR
from tests.conftest import Collector, cli, http, start_collector


def records(
    n: int, ts: float, rng: np.random.Generator, income_shift: float = 0.0, prefix: str = "r"
) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{i}",
            "ts": ts + i * 1e-3,
            "features": {
                "income": float(rng.normal(50 + income_shift, 10)),
                "age": float(rng.normal(40, 8)),
                "debt_ratio": float(rng.beta(2, 5)),
                "region": str(rng.choice(["EU", "US", "APAC"])),
            },
            "prediction": int(rng.integers(0, 2)),
            "score": float(rng.random()),
            "slices": {"region": "EU"},
        }
        for i in range(n)
    ]


def batch(recs: list[dict[str, Any]], batch_id: str | None = None, model: str = "credit") -> dict[str, Any]:
    return {"batch_id": batch_id or uuid.uuid4().hex, "model": model, "version": "v1", "records": recs}


def stored(c: Collector) -> int:
    status, models = c.get("/v1/models")
    assert status == 200, models
    return sum(m["records"] for m in models)


def reference(c: Collector, rng: np.random.Generator, n: int = 4000) -> None:
    cols = {
        "income": rng.normal(50, 10, n).tolist(),
        "age": rng.normal(40, 8, n).tolist(),
        "debt_ratio": rng.beta(2, 5, n).tolist(),
        "region": rng.choice(["EU", "US", "APAC"], n).tolist(),
    }
    status, body = c.post("/v1/references", {"model": "credit", "columns": cols})
    assert status == 200, body
    assert set(body["features"]) == set(cols)


def test_a_batch_is_stored_and_the_same_batch_id_sent_twice_is_stored_once(collector: Collector) -> None:
    rng = np.random.default_rng(1)
    body = batch(records(50, time.time(), rng), batch_id="batch-1")
    assert collector.post("/v1/records", body) == (200, {"accepted": 50, "duplicate": False})
    assert collector.post("/v1/records", body) == (200, {"accepted": 0, "duplicate": True})
    assert stored(collector) == 50


def test_a_gzip_body_is_accepted(collector: Collector) -> None:
    raw = gzip.compress(json.dumps(batch(records(20, time.time(), np.random.default_rng(2)))).encode())
    status, body = http(
        "POST",
        collector.url + "/v1/records",
        raw=raw,
        token=collector.ingest,
        headers={"Content-Encoding": "gzip"},
    )
    assert (status, body["accepted"]) == (200, 20)


def _bad_requests(c: Collector) -> dict[str, tuple[dict[str, Any], int, str]]:
    """name -> (http kwargs, expected status, text the message must contain)."""
    good = records(1, time.time(), np.random.default_rng(3), prefix="bad")
    return {
        "malformed JSON": ({"raw": b'{"batch_id": "x", '}, 422, "JSON"),
        "a timestamp that is no timestamp": (
            {"body": batch([{**good[0], "ts": "yesterday-ish"}])},
            422,
            "send unix seconds (a number, never milliseconds) or ISO-8601",
        ),
        "features that are not an object": (
            {"body": batch([{**good[0], "features": [1, 2]}])},
            422,
            "features",
        ),
        "a nested value as the prediction": (
            {"body": batch([{**good[0], "prediction": {"a": 1}}])},
            422,
            "objects and lists are not accepted",
        ),
        "an unknown field on a record": ({"body": batch([{**good[0], "colour": "red"}])}, 422, "colour"),
        "a NUL character in a record id": ({"body": batch([{**good[0], "id": "a\x00b"}])}, 422, "NUL"),
        "an unknown model": ({"body": batch(good, model="fraud")}, 422, "'fraud' is not registered"),
        "no token": ({"body": batch(good), "token": ""}, 401, "missing bearer token"),
        "a made-up token": ({"body": batch(good), "token": "dl_0000_nope"}, 401, "invalid"),
        "a read token writing": ({"body": batch(good), "token": c.read}, 403, "needs scope 'ingest'"),
        "a body with an unsupported encoding": (
            {"body": batch(good), "headers": {"Content-Encoding": "br"}},
            415,
            "gzip",
        ),
        "a gzip header on a plain body": (
            {"raw": json.dumps(batch(good)).encode(), "headers": {"Content-Encoding": "gzip"}},
            400,
            "gzip",
        ),
    }


def test_bad_input_gets_a_4xx_naming_the_problem_and_changes_nothing_stored(collector: Collector) -> None:
    rng = np.random.default_rng(4)
    assert collector.post("/v1/records", batch(records(30, time.time(), rng)))[0] == 200
    before = stored(collector)
    for name, (kw, expected, needle) in _bad_requests(collector).items():
        token = kw.pop("token", collector.ingest)
        status, body = http("POST", collector.url + "/v1/records", token=token or None, **kw)
        assert status == expected, (name, status, body)
        assert isinstance(body, dict) and "detail" in body, (name, body)
        assert needle in json.dumps(body["detail"]), (name, body)
    assert stored(collector) == before
    assert collector.proc.poll() is None


def test_odd_feature_values_are_stored_not_refused_nan_as_null_and_nul_replaced(collector: Collector) -> None:
    """Wrong-typed features are data-quality events, never a lost batch; NaN and NUL cannot be stored as is."""
    raw = (
        b'{"batch_id": "odd-1", "model": "credit", "version": "v1", "records": [{"id": "n1", "ts": 1700000000, '
        b'"features": {"income": NaN, "age": Infinity, "region": "E\\u0000U", "emb": [0.1, 0.2], '
        b'"debt_ratio": {"a": 1}}, "score": NaN}]}'
    )
    status, body = http("POST", collector.url + "/v1/records", raw=raw, token=collector.ingest)
    assert (status, body["accepted"]) == (200, 1), body
    engine = create_engine(collector.database_url)
    with engine.connect() as conn:
        features, score = conn.execute(
            text("SELECT features, score FROM records WHERE record_id = 'n1'")
        ).one()
    engine.dispose()
    features = features if isinstance(features, dict) else json.loads(features)
    assert features == {
        "income": None,
        "age": None,
        "region": "E\ufffdU",
        "emb": [0.1, 0.2],
        "debt_ratio": {"a": 1},
    }
    assert score is None


def test_an_oversized_body_gets_413_and_smaller_batches_still_go_through(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTLINE_MAX_BODY_BYTES", "20000")
    c = start_collector(db_url, tmp_path)
    try:
        rng = np.random.default_rng(5)
        big = batch(records(400, time.time(), rng))
        status, body = c.post("/v1/records", big)
        assert status == 413 and "20000 bytes" in body["detail"]
        # a gzip bomb: small on the wire, too big once decompressed
        bomb = batch([{"id": "z", "ts": 1.0, "features": {"note": "a" * 200_000}}])
        raw = gzip.compress(json.dumps(bomb).encode())
        assert len(raw) < 2000
        status, body = http(
            "POST", c.url + "/v1/records", raw=raw, token=c.ingest, headers={"Content-Encoding": "gzip"}
        )
        assert status == 413, body
        assert c.post("/v1/records", batch(records(10, time.time(), rng)))[0] == 200
        assert stored(c) == 10
    finally:
        c.stop()


def project_tokens(database_url: str, project: str) -> dict[str, str]:
    """An admin, an ingest and a read token of `project`, made straight in the collector's database."""
    from sqlalchemy.orm import sessionmaker

    from collector import auth, db

    engine = db.make_engine(database_url)
    try:
        with sessionmaker(engine).begin() as s:
            return {scope: auth.create_token(s, scope=scope, project=project) for scope in auth.SCOPES}
    finally:
        engine.dispose()


#: Columns of the scope matrix: a token by scope, "other ..." of another project, "none" for no token.
TOKEN_COLUMNS = ("admin", "ingest", "read", "other admin", "other ingest", "other read", "none")


def _scope_matrix(c: Collector) -> list[tuple[str, str, Any, tuple[int, ...]]]:
    """(method, path, body, expected status per TOKEN_COLUMNS) for every operation that needs a token.

    The credit model is the default project's; the "other" tokens belong to project other, which owns
    the fraud model. A scope check comes before the project check, so an other-project token of the wrong
    scope gets the scope's 403 and one of the right scope the project's 403.
    """
    now = time.time()
    rec = records(2, now, np.random.default_rng(61))
    lab = [{"id": "r0", "label": 1}]
    ref = {"model": "credit", "columns": {"income": [1.0, 2.0, 3.0, 4.0], "region": ["EU", "US", "EU", "US"]}}
    write, read_ = (200, 200, 403, 403, 403, 403, 401), (200, 403, 200, 403, 403, 403, 401)
    rows: list[tuple[str, str, Any, tuple[int, ...]]] = [
        ("POST", "/v1/records", lambda: batch(rec), write),
        (
            "POST",
            "/v1/labels",
            lambda: {"batch_id": uuid.uuid4().hex, "model": "credit", "labels": lab},
            write,
        ),
        ("POST", "/v1/stats", lambda: stats(1, 0, [1, 0, 0, 0]), write),
        ("POST", "/v1/references", lambda: ref, write),
        ("GET", "/v1/models", None, (200, 403, 200, 200, 403, 200, 401)),  # each project sees its own
        ("POST", "/v1/models", lambda: {"name": "credit"}, (200, 403, 403, 409, 403, 403, 401)),
        ("POST", "/v1/evaluate", None, (200, 403, 403, 200, 403, 403, 401)),
        ("GET", "/v1/slos", None, (200, 403, 200, 200, 403, 200, 401)),  # each project sees its own
        ("GET", "/v1/slos/credit-availability", None, read_),
    ]
    for part in ("drift", "performance", "attributions", "records", "deploys", "quality", "slices/worst"):
        rows.append(("GET", f"/v1/models/credit/{part}", None, read_))
    return rows


def test_scopes_and_projects_every_operation_by_every_kind_of_token(collector: Collector) -> None:
    """admin does everything in its project, ingest only writes, read only reads; a token of another
    project touches none of the project's models, and its lists show only its own project's."""
    other = project_tokens(collector.database_url, "other")
    assert collector.post("/v1/models", {"name": "fraud"}, token=other["admin"]) == (
        200,
        {"accepted": 1, "duplicate": False},
    )
    mine = (collector.admin, collector.ingest, collector.read)
    tokens = dict(
        zip(TOKEN_COLUMNS, (*mine, other["admin"], other["ingest"], other["read"], ""), strict=True)
    )
    for method, path, body, expected in _scope_matrix(collector):
        for (column, token), want in zip(tokens.items(), expected, strict=True):
            status, out = http(method, collector.url + path, body() if body else None, token=token or None)
            assert status == want, (method, path, column, status, out)
            said = json.dumps(out)
            if status == 403 and "needs scope" not in said:  # the project's 403 names it and the token's
                assert column.startswith("other") and "project 'other'" in said, (method, path, column, out)
                assert "credit" in said, out
    # lists show each project only its own models and SLOs
    assert [m["name"] for m in collector.get("/v1/models", token=other["read"])[1]] == ["fraud"]
    assert [m["name"] for m in collector.get("/v1/models", token=collector.read)[1]] == ["credit"]
    assert collector.get("/v1/slos", token=other["read"])[1] == []
    # an unknown model's 404 names only the token's own project's models
    status, out = collector.get("/v1/models/nope/drift", token=other["read"])
    assert status == 404 and "fraud" in json.dumps(out) and "credit" not in json.dumps(out)
    # a project's own tokens work on its own model, ingest included
    rng = np.random.default_rng(6)
    fraud = batch(records(3, time.time(), rng), model="fraud")
    assert collector.post("/v1/records", fraud, token=other["ingest"])[0] == 200
    assert collector.post("/v1/records", {**fraud, "batch_id": "x"})[0] == 403


def stats(
    ok: int, error: int, counts: list[int], batch_id: str | None = None, end: float | None = None
) -> dict[str, Any]:
    end = end or time.time()
    return {
        "batch_id": batch_id or uuid.uuid4().hex,
        "model": "credit",
        "version": "v1",
        "start": end - 10,
        "end": end,
        "ok": ok,
        "error": error,
        "latency_bounds": [0.05, 0.2, 1.0],
        "latency_counts": counts,
        "latency_sum": 1.25,
        "sampled": 3,
        "dropped": 2,
    }


def sample(text_: str, name: str, labels: str) -> float:
    m = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text_, re.M)
    assert m, f"{name}{{{labels}}} not in /metrics:\n{text_}"
    return float(m.group(1))


def test_sdk_stats_become_exact_counters_and_a_histogram_that_survive_a_restart(
    collector: Collector, tmp_path: Path
) -> None:
    first = stats(90, 10, [60, 30, 8, 2], batch_id="s-1")
    assert collector.post("/v1/stats", first)[0] == 200
    assert collector.post("/v1/stats", first)[1]["duplicate"] is True  # a retry resends the same batch
    assert collector.post("/v1/stats", stats(5, 0, [5, 0, 0, 0]))[0] == 200
    status, body = collector.post("/v1/stats", stats(5, 0, [1, 1, 1, 1]))
    assert status == 422 and "ok + error" in json.dumps(body)
    status, body = collector.post("/v1/stats", {**stats(5, 0, [5, 0]), "latency_bounds": [0.1]})
    assert status == 422 and "differ from the bounds" in json.dumps(body)

    def check(text_: str) -> None:
        assert sample(text_, "driftline_predictions_total", 'model="credit",outcome="ok",version="v1"') == 95
        assert (
            sample(text_, "driftline_predictions_total", 'model="credit",outcome="error",version="v1"') == 10
        )
        assert (
            sample(
                text_, "driftline_prediction_latency_seconds_bucket", 'le="0.05",model="credit",version="v1"'
            )
            == 65
        )
        assert (
            sample(
                text_, "driftline_prediction_latency_seconds_bucket", 'le="1.0",model="credit",version="v1"'
            )
            == 103
        )
        assert (
            sample(text_, "driftline_prediction_latency_seconds_count", 'model="credit",version="v1"') == 105
        )
        assert sample(text_, "driftline_sdk_dropped_total", 'model="credit",version="v1"') == 4
        assert sample(text_, "driftline_model_version_info", 'model="credit",version="v1"') == 1

    check(collector.metrics())
    collector.stop()
    again = start_collector(
        collector.database_url, tmp_path, tokens=(collector.admin, collector.ingest, collector.read)
    )
    try:
        check(again.metrics())
    finally:
        again.stop()


def test_labels_are_stored_by_id_and_counted(collector: Collector) -> None:
    body = {
        "batch_id": "l-1",
        "model": "credit",
        "labels": [{"id": "a", "label": 1}, {"id": "b", "label": 0}],
    }
    assert collector.post("/v1/labels", body) == (200, {"accepted": 2, "duplicate": False})
    assert collector.post("/v1/labels", body)[1]["duplicate"] is True
    status, err = collector.post(
        "/v1/labels", {**body, "batch_id": "l-2", "labels": [{"id": "c", "label": None}]}
    )
    assert status == 422 and "not null" in json.dumps(err) and '"labels", 0, "label"' in json.dumps(err)
    assert sample(collector.metrics(), "driftline_labels_total", 'model="credit"') == 2


def test_drift_is_computed_per_event_time_window_and_only_the_shifted_feature_alerts(
    collector: Collector,
) -> None:
    rng = np.random.default_rng(7)
    reference(collector, rng)
    hour = 3600.0
    base = (time.time() // hour - 3) * hour  # three complete hourly windows ago
    assert collector.post("/v1/records", batch(records(2000, base + 60, rng, prefix="a")))[0] == 200
    assert (
        collector.post(
            "/v1/records", batch(records(2000, base + hour + 60, rng, income_shift=8, prefix="b"))
        )[0]
        == 200
    )
    assert collector.evaluate() == 2

    status, points = collector.get("/v1/models/credit/drift?metric=psi")
    assert status == 200
    psi = {(p["window_start"][:13], p["feature"]): p for p in points if p["metric"] == "psi"}
    first, second = sorted({w for w, _ in psi})
    assert {f for (w, f), p in psi.items() if w == first and p["status"] == "alert"} == set()
    assert {f for (w, f), p in psi.items() if w == second and p["status"] == "alert"} == {"income"}
    assert psi[(second, "income")]["n_current"] == 2000

    # reading: filters narrow, a time span selects windows, and an unknown parameter is refused
    starts = sorted({p["window_start"] for p in points})
    only = collector.get(f"/v1/models/credit/drift?feature=income&metric=psi&since={quote(starts[1])}")[1]
    assert [(p["feature"], p["metric"], p["window_start"]) for p in only] == [("income", "psi", starts[1])]
    before = collector.get(f"/v1/models/credit/drift?until={quote(starts[1])}")[1]
    assert before and {p["window_start"] for p in before} == {starts[0]}
    quality = collector.get("/v1/models/credit/quality?feature=income")[1]
    assert quality and {q["feature"] for q in quality} == {"income"}
    status, answer = collector.get("/v1/models/credit/drift?featur=income")
    assert status == 422 and answer["detail"][0]["loc"] == ["query", "featur"], answer
    assert "'featur'" in answer["detail"][0]["msg"] and "feature" in answer["detail"][0]["msg"]
    status, answer = collector.get(f"/v1/models/credit/performance?since={quote(starts[1])}&until={quote(starts[0])}")
    assert status == 422 and answer["detail"][0]["loc"] == ["query", "until"], answer

    # paging: a full page names the next in its Link header; pages of 7 give every point once, in order
    everything = collector.get("/v1/models/credit/drift")[1]
    client = CollectorClient.connect(collector.url, collector.read)
    first_page = client.get("/v1/models/credit/drift", {"limit": 7})
    link = first_page.header("Link") or ""
    assert link.startswith("<http") and link.endswith('>; rel="next"') and "limit=7" in link, link
    pages, cursor = [first_page.json()], next_cursor(link)
    while cursor is not None:
        page = client.get("/v1/models/credit/drift", {"limit": 7, "cursor": cursor})
        pages.append(page.json())
        cursor = next_cursor(page.header("Link"))
    assert [p for page in pages for p in page] == everything
    assert len(pages) == len(everything) // 7 + 1  # a full last page links to an empty one
    assert client.series("credit", "drift", limit=len(everything) - 1) == everything[:-1]
    for bad in ("x", quote(base64.urlsafe_b64encode(b'["quality","2026-01-01T00:00:00+00:00",3600,"v1","a","b"]'))):
        status, answer = collector.get(f"/v1/models/credit/drift?cursor={bad}")
        assert status == 422 and answer["detail"][0]["loc"] == ["query", "cursor"], answer

    m = collector.metrics()
    assert (
        sample(m, "driftline_feature_drift", 'feature="income",metric="psi",model="credit",version="v1",window="1h"')
        > 0.25
    )
    assert (
        sample(m, "driftline_feature_drift", 'feature="age",metric="psi",model="credit",version="v1",window="1h"') < 0.1
    )


def test_a_late_record_lands_in_its_own_window_which_is_evaluated_again(collector: Collector) -> None:
    rng = np.random.default_rng(8)
    reference(collector, rng)
    start = (time.time() // 3600 - 5) * 3600
    assert collector.post("/v1/records", batch(records(20, start + 10, rng, prefix="early")))[0] == 200
    assert collector.evaluate() == 1
    before = {p["feature"]: p for p in collector.get("/v1/models/credit/drift")[1] if p["metric"] == "psi"}
    assert before["income"]["status"] == "insufficient_data" and before["income"]["n_current"] == 20
    assert (
        collector.post("/v1/records", batch(records(500, start + 100, rng, income_shift=10, prefix="late")))[
            0
        ]
        == 200
    )
    assert collector.evaluate() == 1
    after = {p["feature"]: p for p in collector.get("/v1/models/credit/drift")[1] if p["metric"] == "psi"}
    assert after["income"]["n_current"] == 520 and after["income"]["status"] == "alert"
    assert after["income"]["window_start"] == before["income"]["window_start"]


def test_a_reference_with_an_undeclared_or_ragged_column_is_refused(collector: Collector) -> None:
    status, body = collector.post("/v1/references", {"model": "credit", "columns": {"incmoe": [1, 2, 3]}})
    assert status == 422 and "'incmoe' is not a declared feature" in json.dumps(body)
    status, body = collector.post(
        "/v1/references", {"model": "credit", "columns": {"income": [1, 2], "age": [1]}}
    )
    assert status == 422 and "different lengths" in json.dumps(body)


def test_health_readiness_and_openapi_are_served(collector: Collector) -> None:
    assert http("GET", collector.url + "/healthz") == (200, {"status": "ok"})
    assert http("GET", collector.url + "/readyz") == (200, {"status": "ready"})
    status, spec = http("GET", collector.url + "/openapi.json")
    assert status == 200
    ops = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {"postRecords", "postLabels", "postStats", "postReference", "listModels", "metrics"} <= ops


def test_serve_on_a_fresh_database_prints_an_admin_and_an_ingest_token_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT, free_port

    url = f"sqlite:///{tmp_path / 'fresh.db'}"

    def first_lines() -> str:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "driftline.cli", "serve", "--port", str(port), "--database-url", url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            lines = []
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("driftline collector on"):
                    break
            return "".join(lines)
        finally:
            proc.terminate()
            proc.wait(10)

    out = first_lines()
    tokens = dict(re.findall(r"(admin|ingest) token:\s+(dl_\S+)", out))
    assert set(tokens) == {"admin", "ingest"}, out
    assert "token" not in first_lines().replace("driftline collector", "")
    assert cli("token", "create", "--scope", "read", "--database-url", url).stdout.startswith("dl_")


@pytest.mark.postgres
def test_storage_outage_answers_503_and_the_collector_recovers(pg_fresh_url: str, tmp_path: Path) -> None:
    c = start_collector(pg_fresh_url, tmp_path)
    name = pg_fresh_url.rsplit("/", 1)[1]
    admin = create_engine(pg_fresh_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        rng = np.random.default_rng(9)
        # token checks read storage too, so cache nothing: block new connections and drop the open ones
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": name}
            )
        status, body = c.post("/v1/records", batch(records(5, time.time(), rng)))
        assert status == 503 and "retry" in body["detail"], body
        assert http("GET", c.url + "/readyz")[0] == 503
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert c.post("/v1/records", batch(records(5, time.time(), rng)))[0] == 200
        assert stored(c) == 5
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
        c.stop()


def test_labels_that_arrive_later_reopen_their_window_and_give_realized_accuracy(
    collector: Collector,
) -> None:
    rng = np.random.default_rng(10)
    start = (time.time() // 3600 - 4) * 3600
    recs = records(200, start + 5, rng, prefix="acc")
    assert collector.post("/v1/records", batch(recs))[0] == 200
    assert collector.evaluate() == 1
    status, before = collector.get("/v1/models/credit/performance?slice=all&metric=accuracy")
    assert status == 200 and before[0]["status"] == "insufficient_data" and before[0]["support"] == 0

    truth = [r["prediction"] if i % 4 else 1 - r["prediction"] for i, r in enumerate(recs)]  # 75% right
    body = {
        "batch_id": "late",
        "model": "credit",
        "labels": [{"id": r["id"], "label": y} for r, y in zip(recs, truth, strict=True)],
    }
    assert collector.post("/v1/labels", body)[0] == 200
    assert collector.evaluate() == 1
    (after,) = collector.get("/v1/models/credit/performance?slice=all&metric=accuracy")[1]
    assert (after["status"], after["support"], after["total"]) == ("ok", 200, 200)
    assert after["value"] == pytest.approx(0.75) and after["lower"] < 0.75 < after["upper"]
    assert after["window_start"] == before[0]["window_start"]
    regions = {p["slice"] for p in collector.get("/v1/models/credit/performance")[1]}
    assert regions == {"all", "region=EU"}
    assert sample(
        collector.metrics(),
        "driftline_model_performance",
        'metric="accuracy",model="credit",slice="all",version="v1",window="1h"',
    ) == pytest.approx(0.75)


def test_ks_and_wasserstein_are_stored_with_p_values_corrected_across_features(tmp_path: Path) -> None:
    spec = tmp_path / "ks.yaml"
    spec.write_text(
        (EXAMPLES_DIR / "credit.yaml")
        .read_text()
        .replace(
            "drift: {window: 1h, metrics: [psi, kl, js], warn: 0.1, alert: 0.25}",
            "drift: {window: 1h, metrics: [psi, ks, wasserstein], warn: 0.1, alert: 0.25}",
        )
    )
    c = start_collector(f"sqlite:///{tmp_path / 'ks.db'}", tmp_path, config=spec)
    try:
        rng = np.random.default_rng(31)
        reference(c, rng)
        start = (time.time() // 3600 - 2) * 3600
        assert c.post("/v1/records", batch(records(1500, start + 5, rng, income_shift=5)))[0] == 200
        c.evaluate()
        ks = {p["feature"]: p for p in c.get("/v1/models/credit/drift")[1] if p["metric"] == "ks"}
        assert set(ks) == {"income", "age", "debt_ratio"}  # numeric features only
        assert ks["income"]["status"] == "alert" and ks["income"]["p_adjusted"] < 0.01
        assert ks["income"]["correction"] == "benjamini-hochberg"
        assert all(ks[f]["p_adjusted"] >= ks[f]["p_value"] for f in ks)
        assert {ks[f]["status"] for f in ("age", "debt_ratio")} == {"ok"}
        wasser = {
            p["feature"]: p for p in c.get("/v1/models/credit/drift")[1] if p["metric"] == "wasserstein"
        }
        assert wasser["income"]["value"] > wasser["age"]["value"]
    finally:
        c.stop()
