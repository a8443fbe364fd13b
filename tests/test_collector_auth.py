"""Trust between tenants: batch ids per model with a content digest, projects, token revocation, rate limits
and cardinality caps, against a real collector process on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from collector import auth, db, migrations, repository
from collector.metrics import MetricsState, make_registry
from collector.ratelimit import Buckets, RateLimiter
from sdk import Monitor
from tests.conftest import Collector, cli, start_collector
from tests.test_collector_api import batch, records, sample, stats, stored


@dataclass
class Tenants:
    """A collector with the credit model (project default) and the fraud model (project other)."""

    c: Collector
    root: str  # a global admin, like the bootstrap one
    other: dict[str, str]  # scope -> token of project other


def make_tokens(database_url: str) -> tuple[tuple[str, str, str], str, dict[str, str]]:
    """Default-project admin, ingest and read tokens, a global admin, and project other's tokens."""
    engine = db.make_engine(database_url)
    migrations.migrate(engine)
    with sessionmaker(engine).begin() as s:
        mine = tuple(auth.create_token(s, scope=scope) for scope in ("admin", "ingest", "read"))
        root = auth.create_token(s, scope="admin", project=None)
        other = {scope: auth.create_token(s, scope=scope, project="other") for scope in auth.SCOPES}
    engine.dispose()
    return mine, root, other  # type: ignore[return-value]


def start_tenants(database_url: str, workdir: Path) -> Tenants:
    mine, root, other = make_tokens(database_url)
    c = start_collector(database_url, workdir, tokens=mine)
    status, body = c.post("/v1/models", {"name": "fraud"}, token=other["admin"])
    assert status == 200, body
    return Tenants(c, root, other)


@pytest.fixture
def tenants(db_url: str, tmp_path: Path) -> Iterator[Tenants]:
    t = start_tenants(db_url, tmp_path)
    yield t
    t.c.stop()


def _count(database_url: str, sql: str, **params: Any) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar_one())
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------ item 5: batch ids


def test_another_models_token_cannot_claim_a_batch_id_first_both_batches_are_stored(tenants: Tenants) -> None:
    """Before: batch ids were unique across models, so the victim's batch was answered duplicate and lost."""
    c, rng = tenants.c, np.random.default_rng(51)
    shared = "replay-" + "0" * 40  # replay's ids are derived from file content: predictable
    squatter = batch(records(2, time.time(), rng, prefix="f"), batch_id=shared, model="fraud")
    assert c.post("/v1/records", squatter, token=tenants.other["ingest"]) == (
        200,
        {"accepted": 2, "duplicate": False},
    )
    victim = batch(records(40, time.time(), rng), batch_id=shared)
    assert c.post("/v1/records", victim) == (200, {"accepted": 40, "duplicate": False})
    assert c.post("/v1/records", victim) == (200, {"accepted": 0, "duplicate": True})  # a retry
    assert stored(c) == 40
    # labels and stats are per model too
    labels = {"batch_id": "lab-1", "labels": [{"id": "r0", "label": 1}]}
    assert (
        c.post("/v1/labels", {**labels, "model": "fraud"}, token=tenants.other["ingest"])[1]["accepted"] == 1
    )
    assert c.post("/v1/labels", {**labels, "model": "credit"})[1] == {"accepted": 1, "duplicate": False}
    same_start = stats(3, 0, [3, 0, 0, 0], batch_id="s-1", end=1_700_000_000.0)
    assert c.post("/v1/stats", {**same_start, "model": "fraud"}, token=tenants.other["ingest"])[0] == 200
    assert c.post("/v1/stats", same_start) == (200, {"accepted": 1, "duplicate": False})
    assert sample(c.metrics(), "driftline_predictions_total", 'model="credit",outcome="ok",version="v1"') == 3
    assert _count(c.database_url, "SELECT count(*) FROM stats") == 2


def test_the_same_batch_id_with_different_content_is_refused_with_409_and_changes_nothing(
    tenants: Tenants,
) -> None:
    c, rng = tenants.c, np.random.default_rng(52)
    recs = [{**r, "ts": 1_700_000_000 + i} for i, r in enumerate(records(5, 0.0, rng))]
    first = batch(recs, batch_id="b-1")
    assert c.post("/v1/records", first)[1] == {"accepted": 5, "duplicate": False}
    other = batch(records(5, time.time(), rng, prefix="x"), batch_id="b-1")
    status, body = c.post("/v1/records", other)
    assert status == 409, body
    msg = json.dumps(body["detail"])
    assert "b-1" in msg and "different content" in msg and "new batch id" in msg
    assert body["detail"][0]["loc"] == ["body", "batch_id"]
    assert stored(c) == 5
    # the same content re-encoded (timestamps as ISO-8601 text) is still the same batch
    again = {**first, "records": [{**r, "ts": _iso(r["ts"])} for r in first["records"]]}
    assert c.post("/v1/records", again) == (200, {"accepted": 0, "duplicate": True})
    # a labels or stats batch under a records batch's id is other content too
    assert (
        c.post("/v1/labels", {"batch_id": "b-1", "model": "credit", "labels": [{"id": "r0", "label": 1}]})[0]
        == 409
    )
    assert c.post("/v1/stats", stats(1, 0, [1, 0, 0, 0], batch_id="s-9"))[0] == 200
    assert c.post("/v1/stats", stats(2, 0, [2, 0, 0, 0], batch_id="s-9"))[0] == 409
    assert sample(c.metrics(), "driftline_predictions_total", 'model="credit",outcome="ok",version="v1"') == 1


def _iso(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def test_the_sdk_counts_a_409_batch_as_dropped_and_does_not_retry_it(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the collector answered 200 duplicate, so the SDK counted a lost batch as delivered."""
    rng = np.random.default_rng(53)
    taken = uuid.uuid4()
    assert (
        collector.post("/v1/records", batch(records(3, time.time(), rng, prefix="t"), batch_id=taken.hex))[0]
        == 200
    )
    import sdk.shipper

    ids = iter([taken])  # the SDK's first batch id collides with the stored batch's; later ones are fresh
    monkeypatch.setattr(sdk.shipper.uuid, "uuid4", lambda: next(ids, None) or uuid.UUID(bytes=rng.bytes(16)))
    mon = Monitor(
        "credit", "v1", collector=collector.url, token=collector.ingest, sample_rate=1.0, flush_interval=0.05,
        initial_backoff=0.01, max_backoff=0.05,
    )  # fmt: skip
    try:
        with mon.observe(ids=["a", "b"], features={"income": [1.0, 2.0]}) as obs:
            obs.predictions([0, 1])
        assert mon.flush(timeout=30)
        assert mon.dropped_total == 2
    finally:
        mon.close(5.0)
    assert stored(collector) == 3  # nothing stored over the other batch, and nothing raised


def test_migration_7_keeps_existing_batches_tokens_and_models_working(db_url: str) -> None:
    """A database from before projects: its batch ids go under their models, its tokens keep working."""
    engine = db.make_engine(db_url)
    db.Base.metadata.drop_all(engine)  # the run's PostgreSQL database is shared: start from no tables
    try:
        _migrate_an_old_database(engine)
    finally:
        db.Base.metadata.drop_all(engine)  # leave no half schema for the tests after this one
        engine.dispose()


def _migrate_an_old_database(engine: Engine) -> None:
    old = MetaData()
    Table("schema_version", old, Column("version", Integer, primary_key=True), Column("name", String(200)),
          Column("applied_at", db.UTCDateTime))  # fmt: skip
    Table("tokens", old, Column("id", String(32), primary_key=True), Column("name", String(200)),
          Column("scope", String(16)), Column("secret_sha256", String(64)), Column("created_at", db.UTCDateTime),
          Column("revoked", db.Boolean))  # fmt: skip
    Table("models", old, Column("name", String(64), primary_key=True), Column("source", String(16)),
          Column("created_at", db.UTCDateTime))  # fmt: skip
    Table("batches", old, Column("batch_id", String(128), primary_key=True), Column("kind", String(16)),
          Column("model", String(64)), Column("size", Integer), Column("received_at", db.UTCDateTime),
          Column("version", String(64)), Column("invalid", Integer, nullable=False, server_default="0"))  # fmt: skip
    now = db.utcnow()
    with engine.begin() as conn:
        old.create_all(conn)
        conn.execute(
            old.tables["schema_version"].insert(), [{"version": v, "name": "old"} for v in range(1, 7)]
        )
        conn.execute(old.tables["models"].insert(), [{"name": "credit", "source": "spec", "created_at": now}])
        conn.execute(
            old.tables["batches"].insert(),
            [{"batch_id": "old-1", "kind": "records", "model": "credit", "size": 3, "received_at": now}],
        )
    with Session(engine) as s, s.begin():
        secret = "s3cret"
        for tid, scope in (("a1", "admin"), ("i1", "ingest")):
            s.execute(
                old.tables["tokens"]
                .insert()
                .values(
                    id=tid,
                    name="",
                    scope=scope,
                    secret_sha256=auth._sha256(secret),
                    created_at=now,
                    revoked=False,
                )
            )
    assert migrations.migrate(engine) == [m.version for m in migrations.MIGRATIONS if m.version >= 7]
    assert inspect(engine).get_pk_constraint("batches")["constrained_columns"] == ["model", "batch_id"]
    with Session(engine) as s, s.begin():
        assert repository.model_projects(s) == {"credit": "default"}
        admin, ingest = auth.verify(s, "dl_a1_s3cret"), auth.verify(s, "dl_i1_s3cret")
        assert admin is not None and admin.project is None  # an existing admin stays global
        assert ingest is not None and ingest.project == "default" and ingest.owns("default")
        assert not ingest.owns("other")
        # the old batch is still a duplicate for its model (no digest to compare), and free for another
        claim = dict(batch_id="old-1", kind="records", size=3, digest="d" * 64)
        assert repository.claim_batch(s, model="credit", **claim) == "duplicate"  # type: ignore[arg-type]
        assert repository.claim_batch(s, model="fraud", **claim) == "new"  # type: ignore[arg-type]
        assert (
            s.scalar(select(db.Batch.size).where(db.Batch.batch_id == "old-1", db.Batch.model == "credit"))
            == 3
        )
    assert migrations.migrate(engine) == []


# ------------------------------------------------------------------------------------ item 7: projects


def test_a_spec_can_put_models_in_projects_and_only_their_tokens_touch_them(
    db_url: str, tmp_path: Path
) -> None:
    spec = tmp_path / "two.yaml"
    credit = (Path(__file__).parent.parent / "examples" / "credit.yaml").read_text()
    spec.write_text(credit.replace("  - name: credit\n", "  - name: credit\n    project: risk\n", 1))
    mine, root, _ = make_tokens(db_url)
    engine = db.make_engine(db_url)
    with sessionmaker(engine).begin() as s:
        risk = auth.create_token(s, scope="ingest", project="risk")
    engine.dispose()
    c = start_collector(db_url, tmp_path, config=spec, tokens=mine)
    try:
        body = batch(records(2, time.time(), np.random.default_rng(71)))
        status, out = c.post("/v1/records", body)  # a default-project token
        assert status == 403 and "not in project 'default'" in json.dumps(out), out
        assert c.post("/v1/records", body, token=risk)[0] == 200
        assert c.post("/v1/records", {**body, "batch_id": "g"}, token=root)[0] == 200  # a global admin
        assert [m["project"] for m in c.get("/v1/models", token=root)[1]] == ["risk"]
        assert c.get("/v1/models")[1] == []
    finally:
        c.stop()


def test_versions_beyond_the_cap_leave_metrics_bounded_and_are_counted(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: every version an ingest token made up added series to /metrics, without bound."""
    monkeypatch.setenv("DRIFTLINE_MAX_VERSIONS_PER_MODEL", "3")
    c = start_collector(db_url, tmp_path)
    try:
        for i in range(10):
            body = {**stats(1, 0, [1, 0, 0, 0], end=1_700_000_000.0 + i), "version": f"v{i}"}
            assert c.post("/v1/stats", body)[0] == 200
        text_ = c.metrics()
        versions = set(
            re.findall(
                r'^driftline_predictions_total\{model="credit",outcome="ok",version="([^"]+)"', text_, re.M
            )
        )
        assert versions == {"v7", "v8", "v9"}  # the most recently active ones
        assert sample(text_, "driftline_cardinality_limited_total", 'kind="version",model="credit"') == 7
        assert sample(text_, "driftline_model_version_info", 'model="credit",version="v9"') == 1
        c.stop()
        again = start_collector(db_url, tmp_path, tokens=(c.admin, c.ingest, c.read))  # rebuilt from storage
        try:
            text_ = again.metrics()
            got = set(
                re.findall(
                    r'^driftline_predictions_total\{model="credit",outcome="ok",version="([^"]+)"',
                    text_,
                    re.M,
                )
            )
            assert got == {"v7", "v8", "v9"}
            _, models = again.get("/v1/models")
            assert len(models[0]["versions"]) == 10  # the data stays stored and listed
        finally:
            again.stop()
    finally:
        c.stop()


def test_metrics_state_bounds_versions_and_slices_per_model_and_counts_each_once() -> None:
    state = MetricsState(max_versions=2, max_slices=3)
    for v in ("a", "b", "c", "a", "d"):
        state.add_records("m", v, 10, 1)
    assert {k[1] for k in state.records} == {"a", "d"}
    assert state.limited[("m", "version")] == 3  # a (which came back), b and c were pushed out
    # gauges of versions not exported now are left out, and never push out active versions
    state.set_drift({("m", "b", "f", "psi", "1h"): 0.1, ("m", "a", "f", "psi", "1h"): 0.2})
    assert list(state.drift) == [("m", "a", "f", "psi", "1h")]
    slices = {("m", "a", f"region={i}", "accuracy", "1h"): 0.5 for i in range(6)}
    state.set_performance(slices)
    state.set_performance(slices)  # exported every tick: each refused value is counted once
    assert len(state.performance) == 3
    assert state.limited[("m", "slice")] == 3
    text_ = make_registry(state)
    from prometheus_client import generate_latest

    out = generate_latest(text_).decode()
    assert 'driftline_cardinality_limited_total{kind="slice",model="m"} 3.0' in out


# ------------------------------------------------------------------------ item 13: revoke and rate limits


def test_token_list_shows_no_secrets_and_a_revoked_token_is_refused_on_the_next_request(
    collector: Collector,
) -> None:
    """Before: there was no `token list` or `token revoke`."""
    url = collector.database_url
    listed = cli("token", "list", "--database-url", url)
    assert listed.returncode == 0, listed.stderr
    ingest_id = collector.ingest.split("_", 2)[1]
    assert ingest_id in listed.stdout and "ingest" in listed.stdout and "active" in listed.stdout
    for token in (collector.admin, collector.ingest, collector.read):
        assert token.split("_", 2)[2] not in listed.stdout
    assert collector.get("/v1/models", token=collector.ingest)[0] == 403  # valid, wrong scope
    body = batch(records(1, time.time(), np.random.default_rng(81)))
    assert collector.post("/v1/records", body)[0] == 200
    out = cli("token", "revoke", ingest_id, "--database-url", url)
    assert out.returncode == 0 and "revoked" in out.stdout, out
    status, answer = collector.post("/v1/records", {**body, "batch_id": "next"})
    assert status == 401 and "revoked" in answer["detail"]
    assert re.search(rf"^{ingest_id}\s.*\brevoked$", cli("token", "list", "--database-url", url).stdout, re.M)
    missing = cli("token", "revoke", "nope", "--database-url", url)
    assert missing.returncode == 1 and "token list" in missing.stderr
    bad = cli("token", "create", "--scope", "read", "--project", "no spaces", "--database-url", url)
    assert bad.returncode == 2 and "--project" in bad.stderr
    assert collector.get("/v1/models")[0] == 200  # the other tokens carry on


def test_many_invalid_tokens_from_one_address_get_429_with_retry_after(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: 3,016 requests with bad tokens, never a 429."""
    monkeypatch.setenv("DRIFTLINE_AUTH_FAILURES_PER_MINUTE", "3")  # one more every 20 s
    c = start_collector(db_url, tmp_path)
    try:
        answers = [c.get("/v1/models", token=f"dl_{i:04d}_guess")[0] for i in range(8)]
        assert answers[:3] == [401, 401, 401] and answers[-1] == 429, answers
        status, body, headers = _raw_get(c.url + "/v1/models", "dl_0000_guess")
        assert status == 429 and 1 <= int(headers["retry-after"]) <= 20
        assert "invalid tokens from this address" in body["detail"]
        # the address is refused before any token is looked up, a valid one included, until it refills
        assert c.get("/v1/models")[0] == 429
        assert c.proc.poll() is None
    finally:
        c.stop()


def test_a_token_over_its_request_rate_gets_429_and_other_tokens_do_not(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTLINE_RATE_LIMIT_PER_TOKEN", "0.01")  # one request per 100 s after the burst
    monkeypatch.setenv("DRIFTLINE_RATE_LIMIT_BURST", "5")
    c = start_collector(db_url, tmp_path)
    try:
        answers = [c.get("/v1/models")[0] for _ in range(7)]
        assert answers[:5] == [200] * 5 and answers[5:] == [429, 429], answers
        status, body, headers = _raw_get(c.url + "/v1/models", c.read)
        assert status == 429 and int(headers["retry-after"]) >= 1
        assert "for this token" in body["detail"]
        assert c.get("/v1/models", token=c.admin)[0] == 200  # another token has its own bucket
    finally:
        c.stop()


def _raw_get(url: str, token: str) -> tuple[int, Any, dict[str, str]]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), {k.lower(): v for k, v in err.headers.items()}


def test_buckets_refill_at_their_rate_up_to_their_burst_and_stay_bounded() -> None:
    now = [0.0]
    b = Buckets(rate=2.0, burst=3, clock=lambda: now[0], max_keys=2)
    assert [b.take("t") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take("t") == pytest.approx(0.5)  # one request refills in 1/rate seconds
    now[0] += 0.5
    assert b.take("t") == 0.0
    now[0] += 100.0
    assert [b.take("t") for _ in range(4)][-1] > 0  # refilled to the burst, never beyond
    b.take("u"), b.take("v")
    assert len(b._buckets) == 2  # the least recently used key was dropped
    off = Buckets(rate=0.0, burst=1)
    assert all(off.take("t") == 0.0 for _ in range(100))
    limiter = RateLimiter(per_token=1, token_burst=1, failures_per_minute=2, clock=lambda: now[0])
    assert limiter.address_blocked("10.0.0.1") is None
    limiter.failed("10.0.0.1"), limiter.failed("10.0.0.1")
    blocked = limiter.address_blocked("10.0.0.1")
    assert blocked is not None and blocked.headers() == {"Retry-After": "30"}
    assert limiter.address_blocked("10.0.0.2") is None  # per address


def test_wrong_project_tokens_never_see_or_change_another_projects_data(tenants: Tenants) -> None:
    """Before: any ingest token could overwrite another model's labels and inflate its stats."""
    c, rng = tenants.c, np.random.default_rng(91)
    assert c.post("/v1/records", batch(records(3, time.time(), rng)))[0] == 200
    labels = {"batch_id": "l-1", "model": "credit", "labels": [{"id": "r0", "label": 1}]}
    status, out = c.post("/v1/labels", labels, token=tenants.other["ingest"])
    assert status == 403 and "'credit'" in json.dumps(out) and "project 'other'" in json.dumps(out)
    assert c.post("/v1/stats", stats(10**6, 0, [10**6, 0, 0, 0]), token=tenants.other["ingest"])[0] == 403
    assert c.post("/v1/models", {"name": "credit"}, token=tenants.other["admin"])[0] == 409  # not moved
    status, out = c.post("/v1/models", {"name": "x1", "project": "default"}, token=tenants.other["admin"])
    assert status == 403 and out["detail"][0]["loc"] == ["body", "project"]
    assert c.post("/v1/models", {"name": "x2", "project": "third"}, token=tenants.root)[0] == 200
    assert _count(c.database_url, "SELECT count(*) FROM labels") == 0
    assert 'driftline_predictions_total{model="credit"' not in c.metrics()
    assert [m["name"] for m in c.get("/v1/models", token=tenants.root)[1]] == ["credit", "fraud", "x2"]
