"""Several collectors on one database: evaluation runs under a lease, so each changed window is evaluated
once, the per-window gauges come from the holder alone, and a holder killed with -9 is replaced within
one lease period. Real collector processes on a real PostgreSQL; the alert expressions `driftline
generate` writes are evaluated by promtool over what both collectors export."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from collector import Settings, build_context, db, migrate, repository
from contract import FEATURE_DRIFT, LEASE_HELD, RECORDS, WINDOWS_EVALUATED
from driftline.generate import generate
from slo.writer import dump_yaml
from spec import load_spec
from tests.conftest import EXAMPLES, Collector, create_tokens, missing, start_collector

LEASE_SECONDS = 3.0
INTERVAL = "0.5"
T0 = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)  # the first window; each later one an hour on


def test_a_lease_is_held_by_one_holder_until_it_expires_then_by_the_next(db_url: str) -> None:
    """The holder renews; a second holder is refused until the lease expires, then takes it (keeping the
    time it took it), and the first one is refused; a release hands it over at once."""
    engine = db.make_engine(db_url)
    migrate(engine)
    sessions = sessionmaker(engine)

    def take(holder: str, at: float) -> bool:
        with sessions.begin() as s:
            return repository.take_lease(
                s, name="evaluation", holder=holder, now=T0 + dt.timedelta(seconds=at), seconds=30
            )

    try:
        assert take("a", 0) and take("a", 10)
        assert not take("b", 39.9)  # renewed at 10: held until 40
        assert take("b", 40.1) and not take("a", 41)
        assert take("b", 50)
        with sessions() as s:
            assert repository.lease_holder(s, name="evaluation") == (
                "b", T0 + dt.timedelta(seconds=40.1), T0 + dt.timedelta(seconds=80)
            )  # fmt: skip
        with sessions.begin() as s:
            repository.release_lease(s, name="evaluation", holder="a")  # not a's: nothing happens
        assert not take("a", 51)
        with sessions.begin() as s:
            repository.release_lease(s, name="evaluation", holder="b")
        assert take("a", 52)
    finally:
        engine.dispose()


def test_claimed_minutes_stay_until_their_tick_finishes_and_a_minute_noted_meanwhile_waits_for_the_next(
    db_url: str,
) -> None:
    """A tick claims every pending minute; claimed again (its collector died before finishing), each is
    taken once more, beside any noted meanwhile; finishing deletes only what was claimed."""
    engine = db.make_engine(db_url)
    migrate(engine)
    sessions = sessionmaker(engine)
    minute = int(T0.timestamp())
    try:
        with sessions.begin() as s:
            repository.mark_pending(s, model="m", version="v1", minutes=[minute, minute + 60], kind="records")
        with sessions.begin() as s:
            first = sorted(repository.claim_pending(s))
        assert [(m, v, t.timestamp(), k) for m, v, t, k in first] == [
            ("m", "v1", minute, "records"), ("m", "v1", minute + 60, "records")
        ]  # fmt: skip
        with sessions.begin() as s:  # noted again while the tick runs, and a new minute
            repository.mark_pending(
                s, model="m", version="v1", minutes=[minute, minute + 120], kind="records"
            )
        with sessions.begin() as s:  # the tick never finished: the next takes all three, each once
            again = sorted(repository.claim_pending(s))
        assert [t.timestamp() for _, _, t, _ in again] == [minute, minute + 60, minute + 120]
        with sessions.begin() as s:
            repository.mark_pending(s, model="m", version="v1", minutes=[minute + 180], kind="labels")
            repository.finish_pending(s)
        with sessions() as s:
            left = s.execute(text("SELECT minute, kind FROM pending_minutes")).all()
        assert len(left) == 1 and left[0][1] == "labels"
    finally:
        engine.dispose()


def test_the_windows_of_a_tick_cut_short_are_evaluated_by_the_next_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A collector dies in the middle of a tick (an exception no stage catches stands for kill -9): the
    next tick, in a new process, evaluates the windows that tick had taken."""
    url = f"sqlite:///{tmp_path / 'cut.db'}"
    spec = load_spec(EXAMPLES / "credit.yaml")
    minute = int(T0.timestamp()) + 600
    first = build_context(Settings(database_url=url), spec)
    with first.sessions.begin() as s:
        repository.mark_pending(s, model="credit", version="v1", minutes=[minute], kind="records")

    def die(*_: Any) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(first.evaluator, "_evaluate", die)
    with pytest.raises(KeyboardInterrupt):
        first.evaluator.tick()
    first.engine.dispose()
    second = build_context(Settings(database_url=url), spec)
    keys = second.evaluator.tick()
    assert [(k.model, k.version, k.start) for k in keys] == [("credit", "v1", T0)]
    assert second.evaluator.tick() == []  # done: nothing is taken twice
    second.engine.dispose()


def samples(c: Collector) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample on a collector's /metrics, by sample name."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(c.metrics()):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    return out


def held(c: Collector) -> float:
    return sum(v for _, v in samples(c).get(LEASE_HELD.name, []))


def received(c: Collector) -> float:
    return sum(v for _, v in samples(c).get(RECORDS.name, []))


def evaluated(c: Collector) -> float:
    return sum(v for _, v in samples(c).get(WINDOWS_EVALUATED.name, []))


def wait(what: str, pred: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def window_batch(i: int, rng: np.random.Generator, shift: float = 0.0) -> dict[str, Any]:
    """One batch holding every record of window i (40 records in its first half hour)."""
    start = (T0 + dt.timedelta(hours=i)).timestamp()
    records = [
        {
            "id": f"w{i}-{j}",
            "ts": start + 45.0 * j,
            "features": {
                "income": float(rng.normal(50 + shift, 10)),
                "age": float(rng.normal(40, 8)),
                "debt_ratio": float(rng.beta(2, 5)),
                "region": str(rng.choice(["EU", "US", "APAC"])),
            },
            "prediction": int(rng.integers(0, 2)),
            "score": float(rng.random()),
        }
        for j in range(40)
    ]
    return {"batch_id": uuid.uuid4().hex, "model": "credit", "version": "v1", "records": records}


def send(c: Collector, body: dict[str, Any]) -> None:
    status, answer = c.post("/v1/records", body)
    assert status == 200 and answer["accepted"] == len(body["records"]), answer


def drained(url: str) -> Callable[[], bool]:
    engine = create_engine(url)

    def check() -> bool:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT count(*) FROM pending_minutes")) == 0

    return check


def windows_stored(url: str) -> set[dt.datetime]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT DISTINCT window_start FROM drift WHERE window_seconds = 3600"))
            return {r[0].astimezone(dt.UTC) for r in rows}
    finally:
        engine.dispose()


def lease_row(url: str) -> tuple[str, dt.datetime, dt.datetime]:
    engine = db.make_engine(url)
    try:
        with sessionmaker(engine)() as s:
            row = repository.lease_holder(s, name="evaluation")
    finally:
        engine.dispose()
    assert row is not None
    return row


@pytest.fixture
def pair(pg_fresh_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Two collector processes on one PostgreSQL database, ticking every 0.5 s under a 3 s lease; the first
    holds the lease when the second starts."""
    monkeypatch.setenv("DRIFTLINE_LEASE_SECONDS", str(LEASE_SECONDS))
    monkeypatch.setenv("DRIFTLINE_RELOAD_COUNTERS", "false")  # several collectors: each counts its own
    tokens = create_tokens(pg_fresh_url)
    extra = ("--evaluation-interval", INTERVAL)
    a = start_collector(pg_fresh_url, tmp_path, tokens=tokens, extra=extra)
    b: Collector | None = None
    try:
        wait("the first collector to take the lease", lambda: held(a) == 1)
        b = start_collector(pg_fresh_url, tmp_path, tokens=tokens, extra=extra)
        yield a, b
    finally:
        for c in (a, b):
            if c is not None:
                c.stop()


def promtool_expr_test(
    tmp_path: Path, rules: Path, series: list[dict[str, str]], tests: list[dict[str, Any]]
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing("promtool", "apt-get install prometheus (Debian)")
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}],
    }
    path = tmp_path / "two-collectors.test.yaml"
    path.write_text(dump_yaml(test))
    out = subprocess.run([str(promtool), "test", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def check_alert_promql(tmp_path: Path, a: Collector, b: Collector) -> None:
    """Each drift alert expression the generated rules hold, over both collectors' series (as Prometheus
    scrapes them, one `instance` each), gives exactly the holder's samples: no feature twice."""
    rules = next(
        p
        for p in generate(load_spec(EXAMPLES / "credit.yaml"), tmp_path / "gen")
        if p.name == "driftline-alerts.rules.yaml"
    )
    exprs = {
        r["alert"]: r["expr"]
        for g in yaml.safe_load(rules.read_text())["groups"]
        for r in g["rules"]
        if r.get("alert") in ("DriftlineFeatureDriftAlert", "DriftlineFeatureDriftWarning")
    }
    assert len(exprs) == 2, exprs
    series, holder = [], []
    for c in (a, b):
        for labels, value in samples(c).get(FEATURE_DRIFT.name, []):
            labels = {**labels, "instance": f"127.0.0.1:{c.port}", "job": "driftline"}
            inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            series.append({"series": f"{FEATURE_DRIFT.name}{{{inner}}}", "values": f"{value!r}x20"})
            if c is a:
                holder.append((labels, value))
    assert holder and len(series) == len(holder)  # the standby exports no per-window gauge
    tests = []
    for name, expr in exprs.items():
        low, high = (0.25, float("inf")) if name.endswith("Alert") else (0.1, 0.25)
        metric = re.search(r'metric="(\w+)"', expr)
        assert metric is not None
        expected = [
            {
                "labels": FEATURE_DRIFT.name
                + "{"
                + ",".join(f'{k}="{v}"' for k, v in sorted(lab.items()))
                + "}",
                "value": v,
            }
            for lab, v in holder
            if lab["metric"] == metric.group(1) and low <= v < high
        ]
        tests.append({"expr": expr, "eval_time": "10m", "exp_samples": expected})
    assert any(t["exp_samples"] for t in tests), "the drifted windows raise at least one drift alert"
    promtool_expr_test(tmp_path, rules, series, tests)


def test_two_collectors_evaluate_each_window_once_and_a_killed_holder_is_replaced_within_a_lease_period(
    pair: tuple[Collector, Collector], pg_fresh_url: str, tmp_path: Path
) -> None:
    a, b = pair
    rng = np.random.default_rng(7)
    assert held(a) == 1 and held(b) == 0
    reference = {
        "income": rng.normal(50, 10, 3000).tolist(),
        "age": rng.normal(40, 8, 3000).tolist(),
        "debt_ratio": rng.beta(2, 5, 3000).tolist(),
        "region": rng.choice(["EU", "US", "APAC"], 3000).tolist(),
    }
    status, body = a.post("/v1/references", {"model": "credit", "columns": reference})
    assert status == 200, body
    # a first window builds the version's aggregates; from then on a window is evaluated once per batch
    send(b, window_batch(0, rng))
    wait("the first window", lambda: drained(pg_fresh_url)() and evaluated(a) >= 1)
    before = evaluated(a) + evaluated(b)
    k = 6
    for i in range(1, k + 1):  # one batch per window, every other one through the standby collector
        send(a if i % 2 else b, window_batch(i, rng, shift=25.0 if i == k else 0.0))
    wait("every window", lambda: drained(pg_fresh_url)() and evaluated(a) + evaluated(b) >= before + k)
    time.sleep(1.5)  # three more ticks: nothing is evaluated again
    assert evaluated(a) + evaluated(b) == before + k
    assert evaluated(b) == 0, "the standby collector evaluated windows"
    assert len(windows_stored(pg_fresh_url)) == k + 1
    check_alert_promql(tmp_path, a, b)

    holder, _, expires = lease_row(pg_fresh_url)
    a.proc.kill()  # kill -9: no release
    killed = dt.datetime.now(dt.UTC)
    a.proc.wait(10)
    wait("the standby to take over", lambda: held(b) == 1, timeout=30)
    new_holder, acquired, _ = lease_row(pg_fresh_url)
    assert new_holder != holder
    assert acquired >= expires, "taken before the dead holder's lease ran out"
    assert (acquired - killed).total_seconds() <= LEASE_SECONDS * 4 / 3 + 1.0, (acquired, killed)
    assert any(FEATURE_DRIFT.name == n for n in samples(b)), "the new holder exports the per-window gauges"

    mine = evaluated(b)
    for i in range(k + 1, k + 4):
        send(b, window_batch(i, rng))
    wait("the windows sent after the kill", lambda: drained(pg_fresh_url)() and evaluated(b) >= mine + 3)
    time.sleep(1.5)
    assert evaluated(b) == mine + 3
    assert len(windows_stored(pg_fresh_url)) == k + 4

    # the killed collector comes back: its counters start from zero, not from the stored totals (which hold
    # what the other ingested), so a sum over instances of their increases counts every record once
    assert received(b) == 7 * 40  # windows 0, 2, 4, 6 and the three after the kill went through b
    again = start_collector(
        pg_fresh_url, tmp_path, tokens=(a.admin, a.ingest, a.read), extra=("--evaluation-interval", INTERVAL)
    )
    try:
        assert received(again) == 0 and held(again) == 0
        send(again, window_batch(k + 4, rng))
        assert received(again) == 40 and received(b) == 7 * 40
        wait("the window sent to the restarted collector", lambda: len(windows_stored(pg_fresh_url)) == k + 5)
        assert evaluated(again) == 0
    finally:
        again.stop()
