"""One bad row or window never blinds evaluation: hostile records are refused or stored harmlessly, a
failing window is logged once, counted on /metrics and skipped, and rows stored before ingest checked
event times break neither reads nor evaluation, before or after a restart."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import generate_latest
from sqlalchemy import create_engine, text

from collector import db, evaluation, repository, service
from collector.app import build_context
from collector.context import AppContext
from collector.metrics import make_registry
from collector.schemas import RecordBatch, ReferenceIn
from collector.settings import Settings
from spec import load_spec
from tests.conftest import Collector, http, start_collector

SPEC_YAML = """\
version: 1
models:
  - name: credit
    features:
      - {name: income, type: numeric}
      - {name: region, type: categorical}
    prediction: {type: binary, positive_class: 1}
    drift: {window: 1h, metrics: [psi], warn: 0.1, alert: 0.25, min_count: 5}
  - name: fraud
    features:
      - {name: amount, type: numeric}
    prediction: {type: binary, positive_class: 1}
    drift: {window: 1h, metrics: [psi], warn: 0.1, alert: 0.25, min_count: 5}
"""
HOUR = 3600


def window_ago(hours: int) -> float:
    """The start of the aligned one-hour window `hours` before the current one."""
    now = int(time.time())
    return float(now - now % HOUR - hours * HOUR)


def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "two-models.yaml"
    path.write_text(SPEC_YAML)
    return path


def rows(model: str, n: int, ts: float, rng: np.random.Generator, prefix: str) -> list[dict[str, Any]]:
    def features() -> dict[str, Any]:
        if model == "fraud":
            return {"amount": float(rng.lognormal(3, 1))}
        return {"income": float(rng.normal(50, 10)), "region": str(rng.choice(["EU", "US"]))}

    return [
        {
            "id": f"{prefix}{i}",
            "ts": ts + 60 + i,
            "features": features(),
            "prediction": int(rng.integers(0, 2)),
            "score": float(rng.random()),
        }
        for i in range(n)
    ]


def body(model: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"batch_id": uuid.uuid4().hex, "model": model, "version": "v1", "records": records}


def references(post: Callable[[str, dict[str, Any]], Any], rng: np.random.Generator) -> None:
    post(
        "/v1/references",
        {
            "model": "credit",
            "columns": {
                "income": rng.normal(50, 10, 500).tolist(),
                "region": rng.choice(["EU", "US"], 500).tolist(),
            },
        },
    )
    post("/v1/references", {"model": "fraud", "columns": {"amount": rng.lognormal(3, 1, 500).tolist()}})


def window_points(c: Collector, model: str, start: float) -> list[dict[str, Any]]:
    status, points = c.get(f"/v1/models/{model}/drift")
    assert status == 200, points
    when = dt.datetime.fromtimestamp(start, dt.UTC)
    return [p for p in points if dt.datetime.fromisoformat(p["window_start"]) == when]


def failures(metrics: str) -> dict[str, float]:
    return {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in metrics.splitlines()
        if line.startswith("driftline_evaluation_failures_total{")
    }


def test_an_extreme_timestamp_nan_scores_and_10000_features_arriving_together_blind_no_other_window(
    tmp_path: Path,
) -> None:
    """The acceptance test: three hostile records arrive together with another model's data; the next
    tick evaluates every other window, and nothing fails."""
    c = start_collector(f"sqlite:///{tmp_path / 'd.db'}", tmp_path, config=spec_file(tmp_path))
    try:
        rng = np.random.default_rng(7)

        def post(path: str, payload: dict[str, Any]) -> tuple[int, Any]:
            return c.post(path, payload)

        references(lambda p, b: post(p, b), rng)
        fraud_start, credit_start = window_ago(3), window_ago(2)
        assert post("/v1/records", body("fraud", rows("fraud", 60, fraud_start, rng, "f")))[0] == 200
        assert post("/v1/records", body("credit", rows("credit", 40, credit_start, rng, "c")))[0] == 200
        assert c.evaluate() >= 2

        extreme = {**rows("credit", 1, credit_start, rng, "x")[0], "ts": "9999-12-31T23:30:00Z"}
        wide = {**rows("credit", 1, credit_start, rng, "w")[0]}
        wide["features"] = {f"f{j}": float(j) for j in range(10_000)}
        nan_raw = (
            b'{"batch_id": "nan-%s", "model": "credit", "version": "v1", "records": [{"id": "nan", '
            b'"ts": %d, "score": NaN, "prediction": 1, "features": {"income": NaN, "region": "EU"}}]}'
        ) % (uuid.uuid4().hex.encode(), int(credit_start) + 30)
        more_fraud = body("fraud", rows("fraud", 40, fraud_start, rng, "g"))
        sends: dict[str, Callable[[], tuple[int, Any]]] = {
            "extreme": lambda: post("/v1/records", body("credit", [extreme])),
            "wide": lambda: post("/v1/records", body("credit", [wide])),
            "nan": lambda: http("POST", c.url + "/v1/records", raw=nan_raw, token=c.ingest),
            "all three in one batch": lambda: post("/v1/records", body("credit", [extreme, wide])),
            "fraud": lambda: post("/v1/records", more_fraud),
        }
        with ThreadPoolExecutor(len(sends)) as pool:
            futures = {name: pool.submit(send) for name, send in sends.items()}
            got = {name: f.result() for name, f in futures.items()}
        assert got["extreme"][0] == 422 and got["extreme"][1]["detail"][0]["loc"][-1] == "ts", got
        assert got["wide"][0] == 422 and got["wide"][1]["detail"][0]["loc"][-1] == "features", got
        assert got["all three in one batch"][0] == 422, got
        assert got["nan"][0] == 200 and got["fraud"][0] == 200, got

        # the next tick evaluates the other model's window with its new rows, and the NaN row's window
        assert c.evaluate() >= 2
        fraud = window_points(c, "fraud", fraud_start)
        assert fraud and {p["n_current"] for p in fraud} == {100}, fraud
        credit = window_points(c, "credit", credit_start)
        assert credit and max(p["n_current"] for p in credit) == 41, credit
        assert c.get("/v1/models/credit/records")[0] == 200
        assert not any(failures(c.metrics()).values()), failures(c.metrics())
    finally:
        c.stop()


@pytest.fixture
def context(tmp_path: Path) -> AppContext:
    """An in-process collector context on SQLite with two models and a reference for each."""
    ctx = build_context(
        Settings(database_url=f"sqlite:///{tmp_path / 'd.db'}"), load_spec(spec_file(tmp_path))
    )
    rng = np.random.default_rng(3)
    references(lambda _, b: service.store_reference(ctx, ReferenceIn.model_validate(b)), rng)
    return ctx


def store(ctx: AppContext, model: str, start: float, prefix: str) -> None:
    recs = rows(model, 20, start, np.random.default_rng(len(prefix)), prefix)
    service.store_records(ctx, RecordBatch.model_validate(body(model, recs)))


def drift_windows(ctx: AppContext, model: str) -> set[dt.datetime]:
    with ctx.sessions() as s:
        return {p.window_start for p in repository.drift_series(s, model=model, limit=1000)}


def test_a_failing_window_is_logged_once_counted_skipped_and_retried_a_bounded_number_of_times(
    context: AppContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ctx, start = context, window_ago(2)
    when = dt.datetime.fromtimestamp(start, dt.UTC)
    real = evaluation.window_drift

    def broken(reference: Any, *args: Any) -> Any:
        if reference.binning.feature == "income":
            raise ZeroDivisionError("a bug in one model's drift")
        return real(reference, *args)

    monkeypatch.setattr(evaluation, "window_drift", broken)
    store(ctx, "credit", start, "c")
    store(ctx, "fraud", start, "f")
    with caplog.at_level(logging.ERROR, logger="driftline.evaluation"):
        keys = ctx.evaluator.tick()
        assert {k.model for k in keys} == {"credit", "fraud"}
        assert drift_windows(ctx, "fraud") == {when}  # the other model went on
        assert drift_windows(ctx, "credit") == set()
        with ctx.sessions() as s:  # and so did the failing window's other stages
            assert repository.performance_series(s, model="credit", limit=100)
        assert ctx.state.evaluation_failures == {("credit", "drift"): 1}
        scraped = generate_latest(make_registry(ctx.state)).decode()
        assert 'driftline_evaluation_failures_total{model="credit",stage="drift"} 1.0' in scraped

        # retried on the next ticks (a storage hiccup would pass), then left until new data arrives
        for _ in range(evaluation.MAX_RETRIES + 2):
            ctx.evaluator.tick()
        assert ctx.state.evaluation_failures == {("credit", "drift"): 1 + evaluation.MAX_RETRIES}
        assert not ctx.evaluator.retry
    logged = [r for r in caplog.records if "drift of credit failed" in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]
    assert any("left until new data for it arrives" in r.getMessage() for r in caplog.records)

    # fixed, and new data for the window arrives: it is evaluated
    monkeypatch.setattr(evaluation, "window_drift", real)
    store(ctx, "credit", start, "late")
    ctx.evaluator.tick()
    assert drift_windows(ctx, "credit") == {when}


def test_a_window_that_fails_once_is_evaluated_on_the_next_tick(
    context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, start = context, window_ago(2)
    real, calls = evaluation.window_drift, {"n": 0}

    def flaky(reference: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("storage went away for a moment")
        return real(reference, *args)

    monkeypatch.setattr(evaluation, "window_drift", flaky)
    store(ctx, "fraud", start, "f")
    ctx.evaluator.tick()
    assert drift_windows(ctx, "fraud") == set() and ctx.evaluator.retry
    ctx.evaluator.tick()  # no new data: the retry alone brings the window back
    assert drift_windows(ctx, "fraud") == {dt.datetime.fromtimestamp(start, dt.UTC)}
    assert not ctx.evaluator.retry


def plant_rows_from_before_the_fix(url: str) -> None:
    """Store a year-1 and a year-9999 record the way the old ingest did."""
    now = dt.datetime.now(dt.UTC)
    extreme = [dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 12, 31, 23, 30, tzinfo=dt.UTC)]
    engine = create_engine(url)
    with engine.begin() as conn:
        for i, ts in enumerate(extreme):
            row = {"model": "credit", "record_id": f"old{i}", "version": "v1", "batch_id": "before-the-fix"}
            if url.startswith("sqlite"):
                # collector/dialects/sqlite.py wrote strftime('%Y-%m-%d ...'): year 1 came out unpadded
                conn.execute(
                    text(
                        "INSERT INTO records (model, record_id, ts, version, received_at, features, batch_id) "
                        "VALUES (:model, :record_id, :ts, :version, :now, '{}', :batch_id)"
                    ),
                    {
                        **row,
                        "ts": ts.strftime("%Y-%m-%d %H:%M:%S.%f"),
                        "now": now.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    },
                )
            else:
                conn.execute(
                    db.table(db.Record).insert(), [{**row, "ts": ts, "received_at": now, "features": {}}]
                )
    engine.dispose()


def test_rows_stored_before_ingest_checked_event_times_break_neither_reads_nor_evaluation(
    db_url: str, tmp_path: Path
) -> None:
    """Before the fix a year-1 or year-9999 time was stored; SQLite then read back '1-01-01 ...' (an invalid
    isoformat) and the window end of 9999-12-31T23:30 overflowed: every tick and read failed, restart or
    not. Such rows are now read, skipped by evaluation (counted, once their version's aggregates are
    rebuilt on new data) and the other windows go on."""
    config = spec_file(tmp_path)
    c = start_collector(db_url, tmp_path, config=config)
    try:
        rng = np.random.default_rng(11)
        references(lambda p, b: c.post(p, b), rng)
        start = window_ago(2)
        assert c.post("/v1/records", body("fraud", rows("fraud", 30, start, rng, "f")))[0] == 200
        plant_rows_from_before_the_fix(db_url)
        for attempt in ("running", "restarted"):
            new = body("fraud", rows("fraud", 30, start, rng, f"f-{attempt}"))
            assert c.post("/v1/records", new)[0] == 200
            if attempt == "running":  # new data for the version rebuilds its aggregates from every record
                assert c.post("/v1/records", body("credit", rows("credit", 30, start, rng, "c")))[0] == 200
            assert c.evaluate() >= 1, attempt
            assert window_points(c, "fraud", start), attempt
            status, recs = c.get("/v1/models/credit/records")
            assert status == 200, (attempt, recs)
            assert {"0001", "9999"} <= {r["ts"][:4] for r in recs}, recs
            if attempt == "running":
                assert failures(c.metrics()) == {
                    'driftline_evaluation_failures_total{model="credit",stage="window"}': 2.0
                }
                c.stop()
                c = start_collector(db_url, tmp_path, config=config, tokens=(c.admin, c.ingest, c.read))
    finally:
        c.stop()
