"""SHAP in a real collector: a registered tree model's reference and window attributions, their drift,
and the top features of each sampled record (issue 3, item 7)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from spec import sha256_of
from tests.conftest import Collector, start_collector
from tests.test_collector_api import sample

FEATURES = ("x0", "x1", "x2")
SPEC = """
models:
  - name: churn
    features:
      - {name: x0, type: numeric}
      - {name: x1, type: numeric}
      - {name: x2, type: numeric}
    prediction: {type: binary, positive_class: 1}
    drift: {window: 1h}
    explain: {model: churn.joblib, sha256: SHA256}
"""


def _data(
    n: int, rng: np.random.Generator, *, flip_x1: bool = False, shift_x0: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 3))
    x[:, 0] += shift_x0
    signal = (x[:, 0] - shift_x0) + (-1.5 if flip_x1 else 1.5) * x[:, 1]
    return x, (signal + rng.normal(0, 0.5, n) > 0).astype(int)


@pytest.fixture
def churn(db_url: str, tmp_path: Path) -> Iterator[tuple[Collector, GradientBoostingClassifier]]:
    x, y = _data(3000, np.random.default_rng(0))
    model = GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0).fit(x, y)
    joblib.dump(model, tmp_path / "churn.joblib")
    (tmp_path / "churn.yaml").write_text(SPEC.replace("SHA256", sha256_of(tmp_path / "churn.joblib")))
    c = start_collector(db_url, tmp_path, config=tmp_path / "churn.yaml")
    yield c, model
    c.stop()


def _send(
    c: Collector, model: GradientBoostingClassifier, x: np.ndarray, y: np.ndarray, start: float, tag: str
) -> None:
    proba = model.predict_proba(x)[:, 1]
    recs: list[dict[str, Any]] = [
        {
            "id": f"{tag}-{i}",
            "ts": start + i,
            "features": dict(zip(FEATURES, map(float, row), strict=True)),
            "prediction": int(p >= 0.5),
            "score": float(p),
        }
        for i, (row, p) in enumerate(zip(x, proba, strict=True))
    ]
    body = {"batch_id": uuid.uuid4().hex, "model": "churn", "version": "v1", "records": recs}
    assert c.post("/v1/records", body)[0] == 200
    labels = [{"id": r["id"], "label": int(t)} for r, t in zip(recs, y, strict=True)]
    assert c.post("/v1/labels", {"batch_id": uuid.uuid4().hex, "model": "churn", "labels": labels})[0] == 200


def _reference(c: Collector, x: np.ndarray, y: np.ndarray) -> None:
    """A labelled reference: the collector explains its rows (prediction and loss) and keeps them."""
    ref = {
        "model": "churn",
        "columns": {f: x[:, j].tolist() for j, f in enumerate(FEATURES)},
        "labels": y.tolist(),
    }
    status, out = c.post("/v1/references", ref, token=c.admin)
    assert status == 200 and out["warnings"] == [], out


def test_loss_attributions_flag_the_feature_whose_relation_changed_and_prediction_ones_the_shifted_one(
    churn: tuple[Collector, GradientBoostingClassifier],
) -> None:
    c, model = churn
    rng = np.random.default_rng(1)
    _reference(c, *_data(1500, rng))

    hour = (time.time() // 3600 - 4) * 3600
    windows = {"same": hour, "flipped": hour + 3600, "shifted": hour + 7200}
    _send(c, model, *_data(800, rng), windows["same"], "same")
    _send(c, model, *_data(800, rng, flip_x1=True), windows["flipped"], "flip")
    _send(c, model, *_data(800, rng, shift_x0=1.5), windows["shifted"], "shift")
    c.evaluate()

    status, points = c.get("/v1/models/churn/attributions")
    assert status == 200
    start_of = {p["window_start"]: p for p in points}
    by_start = sorted(start_of)
    assert len(by_start) == 3
    drifted = {
        (name, kind): sorted(
            p["feature"]
            for p in points
            if p["window_start"] == w and p["kind"] == kind and p["status"] == "drift"
        )
        for name, w in zip(("same", "flipped", "shifted"), by_start, strict=True)
        for kind in ("prediction", "loss")
    }
    assert drifted[("same", "prediction")] == [] and drifted[("same", "loss")] == []
    assert drifted[("flipped", "loss")] == ["x1"]  # the relation to the target changed, not the inputs
    assert drifted[("flipped", "prediction")] == []
    assert "x0" in drifted[("shifted", "prediction")] and "x1" not in drifted[("shifted", "prediction")]
    same_x1 = next(
        p
        for p in points
        if p["window_start"] == by_start[0] and p["feature"] == "x1" and p["kind"] == "prediction"
    )
    assert same_x1["mean_abs"] > 0.1 and same_x1["n"] == 800 and same_x1["n_reference"] == 1500

    m = c.metrics()
    assert (
        sample(
            m,
            "driftline_attribution_drift",
            'feature="x0",kind="prediction",model="churn",version="v1",window="1h"',
        )
        == 1
    )
    assert (
        sample(
            m,
            "driftline_feature_attribution",
            'feature="x1",kind="loss",model="churn",version="v1",window="1h"',
        )
        > 0
    )


def test_each_sampled_record_carries_attributions_that_add_up_to_the_model_output(
    churn: tuple[Collector, GradientBoostingClassifier],
) -> None:
    c, model = churn
    rng = np.random.default_rng(2)
    _reference(c, *_data(500, rng))
    x, y = _data(50, rng)
    _send(c, model, x, y, (time.time() // 3600 - 2) * 3600, "r")
    c.evaluate()
    status, recs = c.get("/v1/models/churn/records?limit=50&top=3")
    assert status == 200 and len(recs) == 50
    margin = model.decision_function(x)
    for r in recs:
        i = int(r["id"].split("-")[1])
        tops = r["top_features"]
        assert len(tops) == 3 and [abs(t["value"]) for t in tops] == sorted(
            (abs(t["value"]) for t in tops), reverse=True
        )
        assert sum(t["value"] for t in tops) + r["base"] == pytest.approx(
            margin[i], abs=1e-6
        )  # all 3 features
        assert r["label"] == int(y[i])


def test_a_missing_model_file_is_named_and_the_reference_and_records_are_kept(
    db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "churn.yaml").write_text(SPEC.replace("SHA256", "ab" * 32))  # names churn.joblib, not there
    c = start_collector(db_url, tmp_path, config=tmp_path / "churn.yaml")
    try:
        rng = np.random.default_rng(3)
        x, y = _data(300, rng)
        ref = {
            "model": "churn",
            "columns": {f: x[:, j].tolist() for j, f in enumerate(FEATURES)},
            "labels": y.tolist(),
        }
        status, out = c.post("/v1/references", ref, token=c.admin)
        assert status == 200 and set(out["features"]) == set(FEATURES)
        (warning,) = out["warnings"]
        assert "churn.joblib" in warning and "no attributions" in warning, warning
        recs = [
            {
                "id": f"m{i}",
                "ts": (time.time() // 3600 - 2) * 3600 + i,
                "features": dict(zip(FEATURES, map(float, row), strict=True)),
            }
            for i, row in enumerate(x)
        ]
        body = {"batch_id": "missing-model", "model": "churn", "version": "v1", "records": recs}
        assert c.post("/v1/records", body)[1]["accepted"] == 300
        c.evaluate()
        drift = c.get("/v1/models/churn/drift")[1]
        assert {p["feature"] for p in drift} == set(FEATURES)  # drift goes on without the explainer
        assert c.get("/v1/models/churn/attributions")[1] == []
    finally:
        c.stop()


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


@pytest.mark.parametrize("how", ["terminate", "kill"])
def test_the_explainer_worker_ends_with_the_collector(
    churn: tuple[Collector, GradientBoostingClassifier], how: str
) -> None:
    """Stopped or killed, the collector leaves no worker behind holding the model's memory."""
    c, _ = churn
    _reference(c, *_data(200, np.random.default_rng(4)))  # starts the worker
    workers = {p for p in _children(c.proc.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()}
    assert workers, "the reference upload should have started an explainer worker"
    getattr(c.proc, how)()
    c.proc.wait(15)
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers), workers
