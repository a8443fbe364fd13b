"""Multivariate and embedding drift in a real collector (alibi-detect MMD): a correlation flip that leaves
every marginal as it was, and an embedding whose cluster mix changed, each caught by its own test."""

from __future__ import annotations

import importlib.util
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import Collector, missing, start_collector
from tests.test_collector_api import sample

SPEC = """
models:
  - name: vision
    features:
      - {name: x0, type: numeric}
      - {name: x1, type: numeric}
      - {name: x2, type: numeric}
      - {name: kind, type: categorical}
      - {name: emb, type: embedding}
    prediction: {type: binary}
    drift:
      window: 1h
      metrics: [psi]
      multivariate: {method: mmd, max_samples: 300, n_permutations: 100, p_value: 0.01}
"""
CENTERS = np.random.default_rng(99).normal(0, 3, size=(3, 16))


def rows(
    n: int, rng: np.random.Generator, *, rho: float = 0.8, mix: tuple[float, ...] = (0.6, 0.3, 0.1)
) -> list[dict[str, Any]]:
    x01 = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    cluster = rng.choice(3, n, p=mix)
    emb = CENTERS[cluster] + rng.normal(0, 1, size=(n, 16))
    return [
        {
            "x0": float(a),
            "x1": float(b),
            "x2": float(rng.normal()),
            "kind": str(rng.choice(["a", "b"])),
            "emb": [round(float(v), 4) for v in e],
        }
        for (a, b), e in zip(x01, emb, strict=True)
    ]


@pytest.fixture
def vision(db_url: str, tmp_path: Path) -> Iterator[Collector]:
    if importlib.util.find_spec("alibi_detect") is None:
        missing("alibi-detect", "pip install 'driftline[multivariate]'")
    (tmp_path / "vision.yaml").write_text(SPEC)
    c = start_collector(db_url, tmp_path, config=tmp_path / "vision.yaml")
    yield c
    c.stop()


def _send(c: Collector, feats: list[dict[str, Any]], start: float, tag: str) -> None:
    recs = [{"id": f"{tag}{i}", "ts": start + i, "features": f, "prediction": 1} for i, f in enumerate(feats)]
    body = {"batch_id": uuid.uuid4().hex, "model": "vision", "version": "v1", "records": recs}
    assert c.post("/v1/records", body)[0] == 200


def test_the_joint_test_catches_a_correlation_flip_and_the_embedding_test_a_new_cluster_mix(
    vision: Collector,
) -> None:
    rng = np.random.default_rng(5)
    ref = rows(2000, rng)
    cols = {k: [r[k] for r in ref] for k in ref[0]}
    status, out = vision.post("/v1/references", {"model": "vision", "columns": cols}, token=vision.admin)
    assert status == 200 and out["warnings"] == [], out

    hour = (time.time() // 3600 - 4) * 3600
    _send(vision, rows(600, rng), hour, "same")
    _send(vision, rows(600, rng, rho=-0.8), hour + 3600, "flip")
    _send(vision, rows(600, rng, mix=(0.2, 0.3, 0.5)), hour + 7200, "mix")
    vision.evaluate()

    status, points = vision.get("/v1/models/vision/drift?limit=1000")
    assert status == 200
    starts = sorted({p["window_start"] for p in points})
    assert len(starts) == 3
    got = {(starts.index(p["window_start"]), p["feature"], p["metric"]): p for p in points}
    for w in range(3):
        joint, emb = got[(w, "*", "mmd")], got[(w, "emb", "mmd")]
        assert joint["n_current"] == 300 and joint["n_reference"] == 300 and joint["p_value"] is not None
        assert emb["value"] is not None
    assert got[(0, "*", "mmd")]["status"] == "ok" and got[(0, "emb", "mmd")]["status"] == "ok"
    assert got[(1, "*", "mmd")]["status"] == "alert"  # the correlation flipped...
    assert (
        got[(1, "x0", "psi")]["status"] == "ok" and got[(1, "x1", "psi")]["status"] == "ok"
    )  # ...marginals did not
    assert got[(1, "emb", "mmd")]["status"] == "ok"
    assert got[(2, "emb", "mmd")]["status"] == "alert" and got[(2, "*", "mmd")]["status"] == "ok"
    # the newest window's p-values are exported for the DriftlineMultivariateDrift alert
    m = vision.metrics()
    assert (
        sample(
            m,
            "driftline_feature_drift",
            'feature="emb",metric="mmd_p_value",model="vision",version="v1",window="1h"',
        )
        < 0.01
    )
    assert (
        sample(
            m,
            "driftline_feature_drift",
            'feature="*",metric="mmd_p_value",model="vision",version="v1",window="1h"',
        )
        > 0.01
    )
    # re-evaluating a window reproduces its p-values (seeded permutations)
    before = {k: v["p_value"] for k, v in got.items() if k[2] == "mmd"}
    _send(vision, rows(1, rng), hour + 30, "late")  # touches the first window only
    vision.evaluate()
    again = {
        (starts.index(p["window_start"]), p["feature"], p["metric"]): p["p_value"]
        for p in vision.get("/v1/models/vision/drift?limit=1000")[1]
        if p["metric"] == "mmd"
    }
    assert again[(1, "*", "mmd")] == before[(1, "*", "mmd")]
