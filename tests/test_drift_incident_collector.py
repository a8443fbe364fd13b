"""A real collector (SQLite and PostgreSQL) finds what the drift incident alert shows: each drift point's
minimum detectable effect (stored, served and exported), "insufficient_data" for a window too small to
tell, and the slice whose removal shrinks the top drifted feature's drift most (issue 19 items 2 and 4)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import start_collector

SPEC = """\
version: 1
models:
  - name: credit
    features:
      - {name: income, type: numeric}
      - {name: region, type: categorical}
    prediction: {type: binary, positive_class: 1}
    slices: [region]
    drift: {window: 1h, metrics: [psi], warn: 0.1, alert: 0.25, min_count: 5}
"""
HOUR = 3600


def _window_ago(hours: int) -> float:
    now = int(time.time())
    return float(now - now % HOUR - hours * HOUR)


def _records(rng: np.random.Generator, n: int, ts: float, shift_eu: float) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        region = str(rng.choice(["EU", "US", "APAC"]))
        income = float(rng.normal(50, 10)) + (shift_eu if region == "EU" else 0.0)
        out.append({"id": uuid.uuid4().hex, "ts": ts + 60 + i % 3000, "features": {"income": income, "region": region},
                    "prediction": int(rng.integers(0, 2)), "score": float(rng.random())})  # fmt: skip
    return out


def _gauges(text: str, name: str) -> dict[str, float]:
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line.startswith(name + "{")}


def test_the_collector_exports_the_mde_and_the_slice_behind_a_drift(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "credit.yaml"
    config.write_text(SPEC)
    c = start_collector(db_url, tmp_path, config=config)
    try:
        rng = np.random.default_rng(5)
        regions = rng.choice(["EU", "US", "APAC"], 3000).tolist()
        reference = {"income": rng.normal(50, 10, 3000).tolist(), "region": regions}
        assert c.post("/v1/references", {"model": "credit", "columns": reference})[0] == 200
        drifted, small = _window_ago(3), _window_ago(2)
        for start, n, shift in ((drifted, 1500, 30.0), (small, 12, 0.0)):
            body = {"batch_id": uuid.uuid4().hex, "model": "credit", "version": "v1",
                    "records": _records(rng, n, start, shift)}  # fmt: skip
            assert c.post("/v1/records", body)[0] == 200
        assert c.evaluate() >= 2
        status, points = c.get("/v1/models/credit/drift?feature=income")
        assert status == 200, points
        by_start = {time.mktime(time.strptime(p["window_start"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone: p
                    for p in points}  # fmt: skip
        big, tiny = by_start[drifted], by_start[small]
        assert big["status"] == "alert" and 0 < big["mde"] < 0.05, big  # 1,500 rows tell a small drift
        assert tiny["status"] == "insufficient_data" and tiny["mde"] > 0.25, tiny  # 12 rows cannot tell
        metrics = c.metrics()
        mde = _gauges(metrics, "driftline_feature_drift_mde")
        assert [v for k, v in mde.items() if 'feature="income"' in k] == [big["mde"]], mde
        slices = _gauges(metrics, "driftline_drift_slice")
        assert list(slices) == [
            'driftline_drift_slice{feature="income",model="credit",slice="region=EU",version="v1",window="1h"}'
        ], slices
        assert next(iter(slices.values())) > 0.8  # removing EU takes most of the drift away
    finally:
        c.stop()
