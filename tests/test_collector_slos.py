"""SLO status computed by the collector from the SDK's exact counters and labelled predictions."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from sdk.wire import DEFAULT_LATENCY_BOUNDS
from tests.conftest import Collector
from tests.test_collector_api import batch, records, sample


def stats(ok: int, error: int, slow: int, end: float) -> dict[str, object]:
    """`ok + error` calls, `slow` of them over 200 ms (0.25 s bucket), the rest at 0.01 s."""
    counts = [0] * (len(DEFAULT_LATENCY_BOUNDS) + 1)
    counts[DEFAULT_LATENCY_BOUNDS.index(0.01)] = ok + error - slow
    counts[DEFAULT_LATENCY_BOUNDS.index(0.25)] = slow
    return {
        "batch_id": uuid.uuid4().hex,
        "model": "credit",
        "version": "v1",
        "start": end - 10,
        "end": end,
        "ok": ok,
        "error": error,
        "latency_bounds": list(DEFAULT_LATENCY_BOUNDS),
        "latency_counts": counts,
        "latency_sum": 1.0,
    }


def test_budgets_and_burn_rates_follow_the_sdk_counters(collector: Collector) -> None:
    now = time.time()
    # 2% errors over the last two minutes: 20x the 0.1% budget of a 99.9% objective
    assert collector.post("/v1/stats", stats(980, 20, 5, now - 60))[0] == 200
    assert collector.post("/v1/stats", stats(980, 20, 5, now - 1))[0] == 200
    status, slos = collector.get("/v1/slos")
    assert status == 200
    by_name = {s["name"]: s for s in slos}
    avail = by_name["credit-availability"]
    assert avail["computed_by"] == "collector"
    assert avail["error_ratio"] == pytest.approx(0.02)
    assert avail["burn_rates"]["5m"] == pytest.approx(20.0) and avail["burn_rates"]["30d"] == pytest.approx(
        20.0
    )
    assert avail["remaining"] == pytest.approx(1 - 20.0)
    assert {(f["severity"], f["long_window"]) for f in avail["firing"]} >= {("page", "1h")}

    latency = by_name["credit-latency"]  # 99% under 200 ms; 10 of 2000 calls were slower
    assert latency["error_ratio"] == pytest.approx(10 / 2000) and latency["burn_rates"][
        "1h"
    ] == pytest.approx(0.5)
    assert latency["firing"] == []

    metrics = collector.metrics()
    assert sample(
        metrics, "driftline_slo_burn_rate", 'slo="credit-availability",window="5m"'
    ) == pytest.approx(20)
    assert sample(
        metrics, "driftline_slo_error_budget_remaining", 'slo="credit-availability"'
    ) == pytest.approx(-19)
    assert collector.get("/v1/slos/credit-latency")[1]["name"] == "credit-latency"
    status, err = collector.get("/v1/slos/nope")
    assert status == 404 and "credit-availability" in err["detail"][0]["msg"]


def test_labels_count_correct_and_incorrect_predictions_and_freshness_is_exported(
    collector: Collector,
) -> None:
    rng = np.random.default_rng(3)
    recs = records(40, time.time() - 30, rng, prefix="q")
    assert collector.post("/v1/records", batch(recs))[0] == 200
    labels = [
        {"id": r["id"], "label": r["prediction"] if i < 30 else 1 - r["prediction"]}
        for i, r in enumerate(recs)
    ]
    assert collector.post("/v1/labels", {"batch_id": "lab", "model": "credit", "labels": labels})[0] == 200
    m = collector.metrics()
    assert (
        sample(m, "driftline_labelled_predictions_total", 'model="credit",outcome="correct",version="v1"')
        == 30
    )
    assert (
        sample(m, "driftline_labelled_predictions_total", 'model="credit",outcome="incorrect",version="v1"')
        == 10
    )
    assert abs(sample(m, "driftline_last_record_timestamp_seconds", 'model="credit"') - time.time()) < 60
    assert abs(sample(m, "driftline_last_label_timestamp_seconds", 'model="credit"') - time.time()) < 60


def test_the_data_quality_slo_counts_invalid_records_by_arrival(tmp_path: Path) -> None:
    from tests.conftest import EXAMPLES, start_collector

    c = start_collector(f"sqlite:///{tmp_path / 'f.db'}", tmp_path, config=EXAMPLES / "fraud.yaml")
    try:
        recs = [
            {"id": f"t{i}", "ts": time.time() - 10,
             "features": {"amount": "n/a" if i < 4 else 12.5, "merchant_category": "grocery", "country": "DE"}}
            for i in range(200)
        ]  # fmt: skip
        body = {"batch_id": "dq", "model": "fraud", "version": "v1", "records": recs}
        assert c.post("/v1/records", body)[1]["accepted"] == 200
        status, slo = c.get("/v1/slos/fraud-data-quality")
        assert status == 200 and slo["computed_by"] == "collector"
        assert slo["error_ratio"] == pytest.approx(4 / 200)
        assert slo["burn_rates"]["5m"] == pytest.approx((4 / 200) / 0.001)
    finally:
        c.stop()
