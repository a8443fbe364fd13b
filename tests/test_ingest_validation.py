"""What ingest refuses and why: event times outside the documented range, absurd stats counters, and records
with more features than the limit, each a 422 naming the field, over real HTTP to a real collector process.
Nothing of a refused batch is stored, and the collector goes on evaluating."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sdk import wire
from tests.conftest import Collector, http, start_collector

NOW = time.time()
GOOD_TS = NOW - 2 * 3600


def record(i: int, ts: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"r{i}",
        "ts": ts,
        "features": {"income": 50.0 + i, "age": 40.0, "debt_ratio": 0.2, "region": "EU"},
        "prediction": 1,
        "score": 0.7,
        **extra,
    }


def batch(records: list[dict[str, Any]], model: str = "credit") -> dict[str, Any]:
    return {"batch_id": uuid.uuid4().hex, "model": model, "version": "v1", "records": records}


def stats(**over: Any) -> dict[str, Any]:
    """A stats batch as the SDK sends it: 10 s of counters."""
    body = {
        "batch_id": uuid.uuid4().hex,
        "model": "credit",
        "version": "v1",
        "start": NOW - 70,
        "end": NOW - 60,
        "ok": 1200,
        "error": 3,
        "latency_bounds": [0.01, 0.1, 1.0],
        "latency_counts": [1000, 200, 3, 0],
        "latency_sum": 25.0,
        "sampled": 12,
        "dropped": 0,
    }
    return {**body, **over}


def stored(c: Collector) -> int:
    status, models = c.get("/v1/models")
    assert status == 200, models
    return sum(m["records"] for m in models)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    """One collector process (SQLite) for the whole module: each test sends its own batch ids."""
    tmp = tmp_path_factory.mktemp("ingest")
    c = start_collector(f"sqlite:///{tmp / 'driftline.db'}", tmp)
    yield c
    c.stop()


EXTREME_TIMES = {
    "year 9999": "9999-12-31T23:30:00Z",
    "year 1": "0001-01-01T00:00:00Z",
    "year 1 with an offset (was a 500)": "0001-01-01T00:30:00+01:00",
    "the last second Python holds, with an offset (was a 500)": "9999-12-31T23:59:59-01:00",
    "unix 0, a placeholder": 0,
    "before 2000": "1999-12-31T23:59:59Z",
    "milliseconds sent as seconds": int(NOW * 1000),
    "two days ahead of the collector's clock": NOW + 2 * 86400,
}


@pytest.mark.parametrize("ts", list(EXTREME_TIMES.values()), ids=list(EXTREME_TIMES))
def test_an_event_time_outside_the_documented_range_is_a_422_naming_the_record_and_nothing_is_stored(
    collector: Collector, ts: Any
) -> None:
    before = stored(collector)
    status, body = collector.post("/v1/records", batch([record(0, GOOD_TS), record(1, ts)]))
    assert status == 422, body
    [entry] = body["detail"]
    assert entry["loc"] == ["body", "records", 1, "ts"], entry
    msg = entry["msg"]
    if ts == int(NOW * 1000):
        assert "never milliseconds" in msg and "divide by 1000" in msg, msg
    else:
        assert msg.startswith("record 1 (id 'r1'): event time "), msg
        assert "2000-01-01T00:00:00Z to " in msg and "unix seconds" in msg, msg
    assert stored(collector) == before
    # nothing half-stored blinds evaluation or the read endpoints
    assert collector.post("/v1/evaluate", None, token=collector.admin)[0] == 200
    assert collector.get("/v1/models/credit/records")[0] == 200


def test_label_and_stats_times_are_held_to_the_same_range(collector: Collector) -> None:
    status, body = collector.post(
        "/v1/labels",
        {
            "batch_id": uuid.uuid4().hex,
            "model": "credit",
            "labels": [
                {"id": "r0", "label": 1, "ts": NOW},
                {"id": "r1", "label": 0, "ts": "9999-12-31T23:30:00Z"},
            ],
        },
    )
    assert status == 422 and body["detail"][0]["loc"] == ["body", "labels", 1, "ts"], body
    assert body["detail"][0]["msg"].startswith("label 1 (id 'r1'): event time 9999-12-31T23:30:00Z")
    for field, value in (("start", "0001-01-01T00:00:00Z"), ("end", "9999-12-31T23:30:00Z")):
        status, body = collector.post("/v1/stats", stats(**{field: value}))
        assert status == 422 and body["detail"][0]["loc"] == ["body", field], body
    # naive text (UTC by the wire's rule) beside a number no longer compares naive with aware (was a 500)
    status, body = collector.post("/v1/stats", stats(start=NOW - 70, end="2000-01-01T00:00:00"))
    assert status == 422 and "must not be before start" in json.dumps(body), body


def test_a_number_is_unix_seconds_and_text_is_iso_8601_with_its_offset(collector: Collector) -> None:
    when = int(GOOD_TS)
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    shifted = time.strftime("%Y-%m-%dT%H:%M:%S+01:00", time.gmtime(when + 3600))
    recs = [record(0, when), record(1, iso), record(2, shifted), record(3, str(when))]
    for r in recs:
        r["id"] = f"unit-{r['id']}"
    assert collector.post("/v1/records", batch(recs))[0] == 200
    status, rows = collector.get("/v1/models/credit/records?limit=1000")
    assert status == 200
    got = {r["id"]: r["ts"] for r in rows if r["id"].startswith("unit-")}
    assert set(got.values()) == {iso}, got


def test_the_allowed_future_skew_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_MAX_FUTURE_SKEW_SECONDS", "60")
    c = start_collector(f"sqlite:///{tmp_path / 'd.db'}", tmp_path)
    try:
        assert c.post("/v1/records", batch([record(0, time.time() + 30)]))[0] == 200
        status, body = c.post("/v1/records", batch([record(1, time.time() + 600)]))
        assert status == 422 and "later than the latest accepted" in body["detail"][0]["msg"], body
    finally:
        c.stop()


ABSURD_STATS = {
    "ok beyond 64 bits (was a 500)": ({"ok": 2**70, "latency_counts": [2**70, 0, 0, 3]}, "ok"),
    "ok near the BIGINT maximum, histogram to match (was stored)": (
        {"ok": 9_200_000_000_000_000_000, "latency_counts": [9_200_000_000_000_000_000, 0, 0, 3]},
        "ok",
    ),
    "a bucket count over the cap": ({"latency_counts": [2**64, 0, 0, 0]}, "latency_counts"),
    "a billion calls in 10 seconds": (
        {"ok": 10**9, "latency_counts": [10**9, 0, 0, 3]},
        "ok",
    ),
    "a billion sampled rows in 10 seconds": ({"sampled": 10**9}, "sampled"),
    "a billion dropped rows in 10 seconds": ({"dropped": 10**9}, "dropped"),
    "two days of latency per call": ({"latency_sum": 1203 * 86400.0 * 2}, "latency_sum"),
    "latency without calls": ({"ok": 0, "error": 0, "latency_counts": [0, 0, 0, 0]}, "latency_sum"),
    "a negative count": ({"error": -1}, "error"),
}


@pytest.mark.parametrize("over, field", list(ABSURD_STATS.values()), ids=list(ABSURD_STATS))
def test_absurd_stats_deltas_are_a_422_naming_the_counter_and_change_no_total(
    collector: Collector, over: dict[str, Any], field: str
) -> None:
    before = collector.metrics()
    status, body = collector.post("/v1/stats", stats(**over))
    assert status == 422, body
    assert body["detail"][0]["loc"][:2] == ["body", field], body
    assert collector.metrics().count("driftline_predictions_total") == before.count(
        "driftline_predictions_total"
    )
    assert _predictions(collector.metrics()) == _predictions(before)


def _predictions(metrics: str) -> list[str]:
    return sorted(line for line in metrics.splitlines() if line.startswith("driftline_predictions_total"))


def test_an_sdk_sized_stats_batch_still_counts(collector: Collector) -> None:
    status, body = collector.post("/v1/stats", stats())
    assert (status, body["accepted"]) == (200, 1), body
    # a quiet interval joins the next batch (sdk/buffers.py): a long interval with few calls is fine
    status, body = collector.post("/v1/stats", stats(start=NOW - 3 * 86400, end=NOW - 10))
    assert status == 200, body


def test_a_record_with_more_features_than_the_limit_is_a_422_naming_the_record_and_the_limit(
    collector: Collector,
) -> None:
    limit = wire.MAX_FEATURES_PER_RECORD
    wide = record(1, GOOD_TS, features={f"f{j}": float(j) for j in range(10_000)})
    before = stored(collector)
    status, body = collector.post("/v1/records", batch([record(0, GOOD_TS), wide]))
    assert status == 422, body
    [entry] = body["detail"]
    assert entry["loc"] == ["body", "records", 1, "features"], entry
    assert f"at most {limit} items" in entry["msg"] and "MAX_FEATURES_PER_RECORD" in entry["msg"], entry
    assert stored(collector) == before
    at_limit = record(2, GOOD_TS, id="wide-ok", features={f"f{j}": float(j) for j in range(limit)})
    assert collector.post("/v1/records", batch([at_limit]))[0] == 200


def test_nan_and_infinite_scores_are_stored_as_null_not_refused(collector: Collector) -> None:
    raw = (
        b'{"batch_id": "%s", "model": "credit", "version": "v1", "records": ['
        b'{"id": "nan-1", "ts": %d, "score": NaN, "prediction": NaN, "features": {"income": NaN}},'
        b'{"id": "nan-2", "ts": %d, "score": Infinity, "prediction": -Infinity}]}'
    ) % (uuid.uuid4().hex.encode(), int(GOOD_TS), int(GOOD_TS))
    status, body = http("POST", collector.url + "/v1/records", raw=raw, token=collector.ingest)
    assert (status, body["accepted"]) == (200, 2), body
    status, rows = collector.get("/v1/models/credit/records?limit=1000")
    assert status == 200
    got = {r["id"]: (r["score"], r["prediction"]) for r in rows if r["id"].startswith("nan-")}
    assert got == {"nan-1": (None, None), "nan-2": (None, None)}, got


def test_a_nan_or_infinite_label_is_a_422_not_an_incorrect_prediction(collector: Collector) -> None:
    """NaN is no ground truth: it used to be stored as null and counted as a wrong prediction."""
    assert collector.post("/v1/records", batch([record(0, GOOD_TS, id="lab-1")]))[0] == 200
    before = [line for line in collector.metrics().splitlines() if line.startswith("driftline_labelled")]
    raw = (
        b'{"batch_id": "%s", "model": "credit", "labels": '
        b'[{"id": "lab-1", "label": NaN}, {"id": "lab-1", "label": -Infinity}]}' % uuid.uuid4().hex.encode()
    )
    status, body = http("POST", collector.url + "/v1/labels", raw=raw, token=collector.ingest)
    assert status == 422, body
    assert [e["loc"] for e in body["detail"]] == [
        ["body", "labels", 0, "label"],
        ["body", "labels", 1, "label"],
    ]
    assert all("NaN and infinity are no value here" in e["msg"] for e in body["detail"]), body
    assert [
        line for line in collector.metrics().splitlines() if line.startswith("driftline_labelled")
    ] == before
