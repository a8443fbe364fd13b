"""Data quality, CBPE and worst slices, computed by a real collector process from what it stored."""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
import pytest

from tests.conftest import Collector
from tests.test_collector_api import batch, records, reference, sample


def _hour_ago(n: int) -> float:
    return (time.time() // 3600 - n) * 3600


def test_invalid_records_are_counted_and_quality_is_measured_per_window(collector: Collector) -> None:
    rng = np.random.default_rng(21)
    reference(collector, rng)
    recs = records(100, _hour_ago(3) + 5, rng, prefix="dq")
    for r in recs[:10]:
        r["features"]["income"] = "lots"  # wrong type: stored, counted, never a lost batch
    for r in recs[10:15]:
        del r["features"]["age"]  # a declared feature absent
    recs[15]["features"]["debt_ratio"] = None  # missing is allowed: a rate, not an invalid record
    assert collector.post("/v1/records", batch(recs))[1]["accepted"] == 100
    m = collector.metrics()
    assert sample(m, "driftline_records_total", 'model="credit",outcome="invalid",version="v1"') == 15
    assert sample(m, "driftline_records_total", 'model="credit",outcome="valid",version="v1"') == 85

    collector.evaluate()
    status, points = collector.get("/v1/models/credit/quality")
    assert status == 200
    got = {(p["feature"], p["check"]): (p["count"], p["total"]) for p in points}
    assert got[("income", "type_violation")] == (10, 100)
    assert got[("age", "absent")] == (5, 100)
    assert got[("debt_ratio", "missing")] == (1, 100)
    assert got[("*", "schema_violation")][0] == 5
    m = collector.metrics()
    assert sample(
        m, "driftline_data_quality", 'check="type_violation",feature="income",model="credit",version="v1",window="1h"'
    ) == pytest.approx(0.1)


def _scored(
    n: int, rng: np.random.Generator, ts: float, prefix: str, hard: bool
) -> tuple[list[dict[str, Any]], list[int]]:
    """Calibrated scores: a label is 1 with probability equal to its score. `hard` puts scores near 0.5."""
    scores = (
        rng.uniform(0.35, 0.65, n)
        if hard
        else np.concatenate([rng.uniform(0, 0.15, n // 2), rng.uniform(0.85, 1, n - n // 2)])
    )
    labels = (rng.random(n) < scores).astype(int)
    recs = records(n, ts, rng, prefix=prefix)
    for r, s in zip(recs, scores, strict=True):
        r["score"], r["prediction"] = float(s), int(s >= 0.5)
    return recs, labels.tolist()


def test_cbpe_estimates_accuracy_before_labels_and_matches_it_once_they_come(collector: Collector) -> None:
    rng = np.random.default_rng(22)
    ref_scores = rng.uniform(0, 1, 4000)
    ref_labels = (rng.random(4000) < ref_scores).astype(int)
    cols = {"income": rng.normal(50, 10, 4000).tolist()}
    body = {"model": "credit", "columns": cols, "scores": ref_scores.tolist(), "labels": ref_labels.tolist()}
    assert collector.post("/v1/references", body)[0] == 200

    easy, easy_labels = _scored(1500, rng, _hour_ago(4) + 5, "easy", hard=False)
    hard, hard_labels = _scored(1500, rng, _hour_ago(3) + 5, "hard", hard=True)
    assert collector.post("/v1/records", batch(easy))[0] == 200
    assert collector.post("/v1/records", batch(hard))[0] == 200
    collector.evaluate()
    est = {
        p["window_start"]: p
        for p in collector.get("/v1/models/credit/performance?slice=all")[1]
        if p["metric"] == "estimated_accuracy"
    }
    (w_easy, e_easy), (w_hard, e_hard) = sorted(est.items())
    assert e_easy["value"] > 0.85 and 0.45 < e_hard["value"] < 0.6  # before any label arrived

    for recs, labels, tag in ((easy, easy_labels, "e"), (hard, hard_labels, "h")):
        lab = [{"id": r["id"], "label": y} for r, y in zip(recs, labels, strict=True)]
        assert (
            collector.post(
                "/v1/labels", {"batch_id": uuid.uuid4().hex + tag, "model": "credit", "labels": lab}
            )[0]
            == 200
        )
    collector.evaluate()
    perf = collector.get("/v1/models/credit/performance?slice=all")[1]
    realized = {p["window_start"]: p for p in perf if p["metric"] == "accuracy"}
    for w, e in ((w_easy, e_easy), (w_hard, e_hard)):
        r = realized[w]
        # both carry sampling error: the estimate's interval overlaps the realized one, and they are close
        assert e["lower"] <= r["upper"] and r["lower"] <= e["upper"], (w, e, r)
        assert abs(e["value"] - r["value"]) < 0.03, (w, e["value"], r["value"])


def test_the_worst_slice_endpoint_names_the_slice_planted_in_a_window(collector: Collector) -> None:
    rng = np.random.default_rng(23)
    recs = records(1200, _hour_ago(2) + 5, rng, prefix="ws")
    regions = rng.choice(["EU", "US", "APAC"], len(recs))
    labels = []
    for r, region in zip(recs, regions, strict=True):
        r["slices"] = {"region": str(region)}
        wrong = rng.random() < (0.45 if region == "EU" else 0.08)
        labels.append({"id": r["id"], "label": (1 - r["prediction"]) if wrong else r["prediction"]})
    assert collector.post("/v1/records", batch(recs))[0] == 200
    assert collector.post("/v1/labels", {"batch_id": "ws", "model": "credit", "labels": labels})[0] == 200
    collector.evaluate()
    status, body = collector.get("/v1/models/credit/slices/worst")
    assert status == 200
    findings = body["findings"]
    assert findings and findings[0]["slice"] == "region=EU" and findings[0]["drop_points"] > 15
    assert {f["slice"] for f in findings} == {"region=EU"}
    assert "region=EU: accuracy" in findings[0]["describe"]


def test_cbpe_in_the_collector_follows_each_records_stored_prediction(collector: Collector) -> None:
    """Records predicted with the model's own cut-off (0.8 here) are judged by that prediction; records
    without one by the spec's decision_threshold (credit.yaml: the default 0.5)."""
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(24)
    ref_scores = rng.uniform(0, 1, 4000)
    ref_labels = (rng.random(4000) < ref_scores).astype(int)
    cols = {"income": rng.normal(50, 10, 4000).tolist()}
    body = {"model": "credit", "columns": cols, "scores": ref_scores.tolist(), "labels": ref_labels.tolist()}
    assert collector.post("/v1/references", body)[0] == 200
    recs = records(1000, _hour_ago(2) + 5, rng, prefix="cbpe")
    scores = rng.uniform(0, 1, len(recs))
    predictions: list[int | None] = [int(s >= 0.8) for s in scores[:600]] + [None] * 400
    for r, s, p in zip(recs, scores, predictions, strict=True):
        r["score"], r["prediction"] = float(s), p
    assert collector.post("/v1/records", batch(recs))[0] == 200
    collector.evaluate()
    (est,) = [
        p for p in collector.get("/v1/models/credit/performance?slice=all")[1] if p["metric"] == "estimated_accuracy"
    ]
    p_hat = IsotonicRegression(out_of_bounds="clip").fit(ref_scores, ref_labels).predict(scores)
    said_positive = np.array([s >= 0.5 if p is None else p == 1 for s, p in zip(scores, predictions, strict=True)])
    expected = float(np.where(said_positive, p_hat, 1 - p_hat).mean())
    assert est["value"] == pytest.approx(expected, abs=1e-9)
    by_score = float(np.where(scores >= 0.5, p_hat, 1 - p_hat).mean())  # the old rule, for contrast
    assert abs(est["value"] - by_score) > 0.01
