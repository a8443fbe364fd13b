"""Retention from the spec on SQLite and PostgreSQL, in a real collector: rows older than each kind's
period go (raw records, labels, aggregates, evaluated windows), younger ones stay unchanged, and what is
kept stays consistent (aggregates outlive their records; a window's point goes only once it is past its
own period); the deleted rows are counted on /metrics by table."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from collector import db, migrate
from collector.dialects import timescale
from collector.metrics import MetricsState
from collector.retention import Retention
from contract import RETENTION_DELETED
from spec import SpecError, load_spec_text
from tests.conftest import EXAMPLES, Collector, create_tokens, start_collector
from tests.test_timescale import Cluster, preloaded  # noqa: F401 - the throw-away TimescaleDB cluster

RETENTION = "retention: {records: 30d, labels: 30d, aggregates: 60d, points: 90d}\n"
#: Ages of the three groups of records: past every period; past records and labels only; young.
AGES = {"ancient": 120, "middle": 45, "young": 1}
PER_GROUP = 30
#: What the three periods keep, by group, for each kind of table.
KEPT = {
    "records": {"young"},
    "labels": {"young"},
    "aggregates": {"middle", "young"},
    "points": {"middle", "young"},
}
TABLES = {
    "records": ("records", "ts"),
    "labels": ("labels", "ts"),
    "aggregates": ("minute_counts", "minute"),
    "points": ("drift", "window_start"),
}


def spec_file(tmp_path: Path, retention: bool) -> Path:
    path = tmp_path / ("retained.yaml" if retention else "plain.yaml")
    path.write_text((EXAMPLES / "credit.yaml").read_text() + (RETENTION if retention else ""))
    return path


def group_start(now: dt.datetime, group: str) -> dt.datetime:
    return (now - dt.timedelta(days=AGES[group])).replace(minute=0, second=0, microsecond=0)


def send(c: Collector, now: dt.datetime) -> None:
    rng = np.random.default_rng(3)
    ref = {
        "income": rng.normal(50, 10, 2000).tolist(),
        "age": rng.normal(40, 8, 2000).tolist(),
        "debt_ratio": rng.beta(2, 5, 2000).tolist(),
        "region": rng.choice(["EU", "US", "APAC"], 2000).tolist(),
    }
    assert c.post("/v1/references", {"model": "credit", "columns": ref})[0] == 200
    for group in AGES:
        start = group_start(now, group)
        recs = [
            {
                "id": f"{group}-{i}",
                "ts": (start + dt.timedelta(minutes=i)).isoformat(),
                "features": {
                    "income": float(rng.normal(50, 10)),
                    "age": float(rng.normal(40, 8)),
                    "debt_ratio": float(rng.beta(2, 5)),
                    "region": str(rng.choice(["EU", "US", "APAC"])),
                },
                "prediction": int(rng.integers(0, 2)),
                "score": float(rng.random()),
            }
            for i in range(PER_GROUP)
        ]
        body = {"batch_id": uuid.uuid4().hex, "model": "credit", "version": "v1", "records": recs}
        assert c.post("/v1/records", body)[1]["accepted"] == PER_GROUP
        labels = [{"id": r["id"], "label": i % 2, "ts": r["ts"]} for i, r in enumerate(recs)]
        status, answer = c.post(
            "/v1/labels", {"batch_id": uuid.uuid4().hex, "model": "credit", "labels": labels}
        )
        assert status == 200, answer


def snapshot(url: str) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of the tables retention reads, by kind (the evaluation time left out)."""
    engine = create_engine(url)
    out: dict[str, set[tuple[Any, ...]]] = {}
    try:
        with engine.connect() as conn:
            for kind, (table, _) in TABLES.items():
                rows = conn.execute(text(f'SELECT * FROM "{table}"')).mappings()
                out[kind] = {
                    tuple(sorted((k, str(v)) for k, v in r.items() if k != "computed_at")) for r in rows
                }
    finally:
        engine.dispose()
    return out


def groups_of(url: str, now: dt.datetime) -> dict[str, set[str]]:
    """Which groups each kind's table still holds rows of (by the rows' times)."""
    engine = db.make_engine(url)
    out: dict[str, set[str]] = {}
    try:
        with sessionmaker(engine)() as s:
            for kind, (table, column) in TABLES.items():
                times = [t for (t,) in s.execute(text(f'SELECT "{column}" FROM "{table}"'))]
                found = set()
                for t in times:
                    t = dt.datetime.fromisoformat(t) if isinstance(t, str) else t
                    t = t if t.tzinfo else t.replace(tzinfo=dt.UTC)
                    found |= {g for g in AGES if abs((t - group_start(now, g)).total_seconds()) < 2 * 3600}
                out[kind] = found
    finally:
        engine.dispose()
    return out


def deleted_counts(c: Collector) -> dict[str, float]:
    return {
        s.labels["table"]: s.value
        for family in text_string_to_metric_families(c.metrics())
        for s in family.samples
        if s.name == RETENTION_DELETED.name
    }


def test_retention_deletes_each_kind_past_its_own_period_and_keeps_the_rest_unchanged(
    db_url: str, tmp_path: Path
) -> None:
    check_retention(db_url, tmp_path)


def test_timescaledb_retention_policies_drop_old_chunks_and_batches_delete_the_plain_tables(
    preloaded: Cluster,  # noqa: F811 - the fixture imported from tests.test_timescale
    tmp_path: Path,
) -> None:
    """On the real TimescaleDB the hypertables (records, evaluated windows) get retention policies, run here
    with CALL run_job (the job runner fails on these machines); labels and aggregates are deleted in batches."""
    check_retention(preloaded.new_database(), tmp_path, timescaledb=True)


def retention_jobs(url: str) -> dict[str, tuple[int, str]]:
    """Each hypertable's retention job: its id and drop_after."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT hypertable_name, job_id, config->>'drop_after' FROM timescaledb_information.jobs "
                    "WHERE proc_name = 'policy_retention'"
                )
            )
            return {str(t): (int(j), str(d)) for t, j, d in rows}
    finally:
        engine.dispose()


def run_jobs(url: str, jobs: list[int]) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for job in jobs:
                conn.execute(text("CALL run_job(:j)"), {"j": job})
    finally:
        engine.dispose()


def check_retention(url: str, tmp_path: Path, timescaledb: bool = False) -> None:
    """Records over three ages evaluated by a collector without retention, then a collector with it: after
    its tick (and, on TimescaleDB, the policies' jobs) each kind keeps exactly its young enough rows."""
    now = dt.datetime.now(dt.UTC)
    tokens = create_tokens(url)
    plain = start_collector(url, tmp_path, config=spec_file(tmp_path, False), tokens=tokens)
    try:
        send(plain, now)
        assert plain.evaluate() > 0
    finally:
        plain.stop()
    before = snapshot(url)
    assert groups_of(url, now) == {kind: set(AGES) for kind in TABLES}

    c = start_collector(url, tmp_path, config=spec_file(tmp_path, True), tokens=tokens)
    try:
        c.evaluate()  # the tick's housekeeping, under the lease: nothing pending, retention due
        counts = deleted_counts(c)
        if timescaledb:
            jobs = retention_jobs(url)
            assert {t: d for t, (_, d) in jobs.items()} == {
                "records": "30 days",
                **{t: "90 days" for t in ("drift", "performance", "quality", "attributions")},
            }
            assert "records" not in counts and "drift" not in counts  # their chunks go with the policy
            assert groups_of(url, now)["records"] == set(AGES)
            run_jobs(url, [j for j, _ in jobs.values()])
        assert groups_of(url, now) == KEPT
        after = snapshot(url)
        for kind in TABLES:  # what stays is what was there, unchanged
            assert after[kind] <= before[kind] and after[kind], kind
        assert counts["labels"] == 2 * PER_GROUP
        assert counts["minute_counts"] == len(before["aggregates"]) - len(after["aggregates"])
        if not timescaledb:
            assert counts["records"] == 2 * PER_GROUP
            assert counts["drift"] == len(before["points"]) - len(after["points"])
        assert c.evaluate() == 0 and deleted_counts(c) == counts  # the next tick: nothing more is due
    finally:
        c.stop()


def test_batched_deletes_remove_every_old_row_a_few_at_a_time(tmp_path: Path) -> None:
    """With batches of 7, 50 old labels take 8 statements and all go; the young one stays."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    engine = db.make_engine(url)
    migrate(engine)
    sessions = sessionmaker(engine)
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(days=40)
    with sessions.begin() as s:
        for i in range(50):
            s.add(db.Label(model="m", record_id=f"r{i}", label=1, ts=old, received_at=now))
        s.add(db.Label(model="m", record_id="young", label=0, ts=None, received_at=now))
    spec = load_spec_text((EXAMPLES / "credit.yaml").read_text() + "retention: {labels: 30d}\n")
    state = MetricsState()
    assert Retention(sessions, spec, state, batch=7).run(now) == {"labels": 50}
    with sessions() as s:
        assert [r.record_id for r in s.query(db.Label)] == ["young"]
    assert state.retention_deleted == {"labels": 50}
    engine.dispose()


def test_timescaledb_retention_policies_follow_the_spec_when_it_changes(
    preloaded: Cluster,  # noqa: F811 - the fixture imported from tests.test_timescale
) -> None:
    """A changed period replaces the policy, a period removed removes it, and a repeat changes nothing."""
    url = preloaded.new_database()
    engine = db.make_engine(url)
    try:
        migrate(engine)
        assert timescale.retention_policies(engine, {"records": 30 * 86400}) == {"records"}
        first = retention_jobs(url)
        assert timescale.retention_policies(engine, {"records": 30 * 86400}) == {"records"}
        assert retention_jobs(url) == first  # the same job, not a new one
        assert timescale.retention_policies(engine, {"records": 60 * 86400, "drift": 3600}) == {
            "records",
            "drift",
        }
        assert {t: d for t, (_, d) in retention_jobs(url).items()} == {
            "records": "60 days",
            "drift": "01:00:00",
        }
        assert timescale.retention_policies(engine, {"labels": 86400}) == set()  # labels: a plain table
        assert retention_jobs(url) == {}
    finally:
        engine.dispose()


def test_a_bad_period_is_refused_at_its_line_with_the_fix() -> None:
    text_ = (EXAMPLES / "credit.yaml").read_text() + "retention:\n  records: 30x\n  point: 90d\n"
    with pytest.raises(SpecError) as err:
        load_spec_text(text_)
    message = str(err.value)
    line = len((EXAMPLES / "credit.yaml").read_text().splitlines()) + 2
    assert f"<spec>:{line}: retention.records: '30x' is not a duration" in message, message
    assert f"<spec>:{line + 1}: retention.point:" in message and "did you mean 'points'?" in message, message
