"""The SDK against a real collector process over real HTTP, including the collector dying mid-traffic."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from contract import PREDICTIONS
from sdk import CollectorClient, Monitor, wire
from tests.conftest import Collector, start_collector
from tests.test_collector_api import batch, records, sample, stored


def _serve(mon: Monitor, rng: np.random.Generator, start: int, n: int) -> int:
    """Serve n single-row requests through the SDK as serving code would; returns the errors raised."""
    errors = 0
    for i in range(start, start + n):
        try:
            with mon.observe(
                ids=[f"req-{i}"],
                features={"income": float(rng.normal(50, 10)), "region": "EU", "email": f"u{i}@example.com"},
                slices={"region": "EU"},
            ) as obs:
                if i % 50 == 0:
                    raise ValueError("model failed")
                obs.predictions([int(i % 2)])
        except ValueError:
            errors += 1
    return errors


def test_serving_survives_a_dead_collector_and_queued_samples_arrive_after_restart(
    collector: Collector, tmp_path: Path
) -> None:
    rng = np.random.default_rng(11)
    mon = Monitor(
        model="credit", version="v1", collector=collector.url, token=collector.ingest, sample_rate=1.0,
        redact=["email"], max_queue=200, batch_size=50, flush_interval=0.1, initial_backoff=0.05, max_backoff=0.3,
        timeout=2.0,
    )
    try:
        assert _serve(mon, rng, 0, 100) == 2
        assert mon.flush(timeout=30)
        assert stored(collector) == 98  # a failed call counts against availability but has no record

        collector.proc.kill()
        collector.proc.wait(10)
        # the serving loop runs on: only the model's own errors reach it, never the SDK's
        assert _serve(mon, rng, 100, 500) == 10
        assert not mon.flush(timeout=0.5)

        again = start_collector(
            collector.database_url, tmp_path, port=collector.port,
            tokens=(collector.admin, collector.ingest, collector.read),
        )
        try:
            assert mon.flush(timeout=60)
            dropped = mon.dropped_total
            assert dropped >= 490 - 200 - 50  # the queue bound, less at most one batch in flight
            assert stored(again) + dropped == 588
            metrics = again.metrics()
            labels = 'model="credit",version="v1"'
            assert sample(metrics, "driftline_sdk_dropped_total", labels) == dropped
            assert sample(metrics, "driftline_predictions_total", labels.replace(",", ',outcome="ok",', 1)) == 588
            assert sample(metrics, "driftline_predictions_total", labels.replace(",", ',outcome="error",', 1)) == 12
            assert sample(metrics, "driftline_prediction_latency_seconds_count", labels) == 600
        finally:
            again.stop()
    finally:
        mon.close(timeout=1)


def test_pii_never_reaches_the_collector_and_labels_join_sampled_records(collector: Collector) -> None:
    from sqlalchemy import create_engine, text

    rng = np.random.default_rng(12)
    mon = Monitor(
        model="credit", version="v1", collector=collector.url, token=collector.ingest, sample_rate=0.3,
        redact=["email"], flush_interval=0.1,
    )
    try:
        _serve(mon, rng, 1, 400)
        mon.log_labels(ids=[f"req-{i}" for i in range(1, 401)], labels=[i % 2 for i in range(1, 401)])
        assert mon.flush(timeout=30)
    finally:
        mon.close(timeout=1)
    engine = create_engine(collector.database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT record_id, features FROM records")).all()
        labelled = set(conn.scalars(text("SELECT record_id FROM labels")))
    engine.dispose()
    assert 60 < len(rows) < 180  # about 30% of 400, deterministic by id
    assert all("@example.com" not in str(features) for _, features in rows)
    ok_ids = {rid for rid, _ in rows}
    # labels are sampled by the same hash: every label sent has its record (none for failed calls' ids)
    assert labelled <= {f"req-{i}" for i in range(1, 401)}
    assert ok_ids <= labelled


class Refused(Exception):
    """The caller's error class: replay hands the client ReplayError the same way."""


def test_the_collector_client_ingests_evaluates_and_reads_a_real_collector(collector: Collector) -> None:
    rng = np.random.default_rng(12)
    client = CollectorClient.connect(
        collector.url, collector.ingest, collector.admin, timeout=30, error=Refused
    )
    try:
        assert client.ready()
        cols = {
            "income": rng.normal(50, 10, 2000).tolist(),
            "age": rng.normal(40, 8, 2000).tolist(),
            "debt_ratio": rng.beta(2, 5, 2000).tolist(),
            "region": rng.choice(["EU", "US", "APAC"], 2000).tolist(),
        }
        assert set(client.reference({"model": "credit", "columns": cols})["features"]) == set(cols)
        start = (time.time() // 3600 - 3) * 3600
        body = batch(records(200, start + 10, rng, prefix="client"), batch_id="client-1")
        assert client.records(body) == (200, False)
        assert client.records(body) == (0, True)  # the same batch id is stored once
        labels = [{"id": f"client{i}", "label": i % 2} for i in range(200)]
        assert client.labels({"batch_id": "client-l1", "model": "credit", "labels": labels}) == 200
        counts = [0] * (len(wire.DEFAULT_LATENCY_BOUNDS) + 1)
        counts[3] = 7
        stats = {
            "batch_id": "client-s1", "model": "credit", "version": "v1", "start": start, "end": start + 10,
            "ok": 7, "error": 0, "latency_bounds": list(wire.DEFAULT_LATENCY_BOUNDS), "latency_counts": counts,
            "latency_sum": 0.05, "sampled": 7, "dropped": 0,
        }  # fmt: skip
        assert client.stats(stats) == 1
        assert client.evaluate() == 1
        drift = client.series("credit", "drift", metric="psi")
        assert {p["feature"] for p in drift} >= {"income", "age", "debt_ratio"}
        (accuracy,) = client.series("credit", "performance", slice="all", metric="accuracy")
        assert (accuracy["support"], accuracy["total"]) == (200, 200)
        assert {s["name"] for s in client.slos()} >= {"credit-availability", "credit-accuracy"}
        ok = sample(client.metrics(), PREDICTIONS.name, 'model="credit",outcome="ok",version="v1"')
        assert ok == 7
        with pytest.raises(Refused, match=r"^the collector refused /v1/evaluate with 403: "):
            CollectorClient.connect(collector.url, collector.ingest, error=Refused).evaluate()
        with pytest.raises(Refused, match=r"^the collector refused /v1/records with 409: "):
            client.records({**body, "records": body["records"][:1]})  # the batch id holds other content
    finally:
        client.close()
