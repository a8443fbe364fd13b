"""Real model servers report to a real collector (issue 17 item 5): an MLServer serving a scikit-learn model
through `sdk.integrations.mlserver.DriftlineRuntime`, and a KServe Python model server through
`sdk.integrations.kserve.monitored`, each answering v2 (and KServe v1) requests; the same request and
response posted to POST /v1/inference/{model} store the same records as the integration did.

MLServer 1.7 and KServe 0.16 pin FastAPI 0.115 and Starlette 0.46 (the collector runs newer ones), so they
live in their own virtual environment, `.venv/model-servers`, that `make model-servers` builds from the
`model-servers` list in pyproject.toml; the SDK reaches them through PYTHONPATH (it needs only the standard
library). Without that environment these tests skip locally and fail in CI.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Collector, free_port, http, start_collector

SERVERS_PY = ROOT / ".venv" / "model-servers" / "bin" / "python"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SPEC = "version: 1\nmodels:\n" + "".join(
    f"""  - name: {name}
    features:
{"".join(f"      - {{name: {f}, type: numeric}}{chr(10)}" for f in FEATURES)}    prediction: {{type: multiclass}}
"""
    for name in ("iris_mlserver", "iris_kserve", "iris_v2", "iris_kserve_v2")
)
TRAIN = """
import sys, joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=500).fit(X, y), sys.argv[1])
"""
KSERVE_SERVER = """
import os, sys, joblib, kserve
from kserve import InferOutput, InferResponse
from sdk import Monitor
from sdk.integrations.kserve import monitored

class Iris(kserve.Model):
    def __init__(self, name, path):
        super().__init__(name)
        self.path = path
        self.load()

    def load(self):
        self.clf = joblib.load(self.path)
        self.ready = True
        return True

    def predict(self, payload, headers=None):
        if isinstance(payload, dict):
            return {"predictions": self.clf.predict(payload["instances"]).tolist()}
        x = payload.inputs[0].as_numpy()
        y = self.clf.predict(x).tolist()
        out = InferOutput(name="predict", shape=[len(y)], datatype="INT64", data=y)
        return InferResponse(response_id=payload.id, model_name=self.name, infer_outputs=[out])

mon = Monitor("iris_kserve", "v1", collector=os.environ["DRIFTLINE_COLLECTOR"], token=os.environ["DRIFTLINE_TOKEN"],
              sample_rate=1.0, flush_interval=0.2)
model = monitored(Iris("iris", sys.argv[1]), mon, feature_names=FEATURE_NAMES)
kserve.ModelServer(http_port=int(sys.argv[2]), grpc_port=int(sys.argv[3]), enable_grpc=False).start([model])
""".replace("FEATURE_NAMES", repr(FEATURES))


def _servers_python() -> Path:
    if not SERVERS_PY.exists():
        msg = f"{SERVERS_PY} is missing: run `make model-servers` (MLServer and KServe in their own venv)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return SERVERS_PY


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    d = tmp_path_factory.mktemp("servers-collector")
    (d / "spec.yaml").write_text(SPEC)
    c = start_collector(f"sqlite:///{d / 'driftline.db'}", d, config=d / "spec.yaml")
    yield c
    c.stop()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scikit-learn model trained in the servers' own environment (their scikit-learn loads it)."""
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    subprocess.run([str(_servers_python()), "-c", TRAIN, str(path)], check=True, timeout=120)
    return path


def _env(c: Collector) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),  # the SDK, standard library only, straight from the checkout
        "DRIFTLINE_COLLECTOR": c.url,
        "DRIFTLINE_TOKEN": c.ingest,
    }


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"model server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if http("GET", url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"model server not ready after {timeout} s:\n{log.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="module")
def mlserver(
    collector: Collector, model_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    py = _servers_python()
    d = tmp_path_factory.mktemp("mlserver")
    port = free_port()
    (d / "settings.json").write_text(
        json.dumps(
            {"http_port": port, "grpc_port": free_port(), "metrics_port": free_port(), "parallel_workers": 0}
        )
    )
    (d / "iris").mkdir()
    (d / "iris" / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "iris",
                "implementation": "sdk.integrations.mlserver.DriftlineRuntime",
                "parameters": {
                    "uri": str(model_file),
                    "version": "v1",
                    "extra": {
                        "driftline": {
                            "runtime": "mlserver_sklearn.SKLearnModel",
                            "model": "iris_mlserver",
                            "feature_names": FEATURES,
                            "sample_rate": 1.0,
                            "flush_interval": 0.2,
                        }
                    },
                },
            }
        )
    )
    log = d / "mlserver.log"
    proc = subprocess.Popen(
        [str(py.parent / "mlserver"), "start", str(d)],
        cwd=d,
        env=_env(collector),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/v2/models/iris/ready", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def kserve_server(
    collector: Collector, model_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    py = _servers_python()
    d = tmp_path_factory.mktemp("kserve")
    (d / "server.py").write_text(KSERVE_SERVER)
    port = free_port()
    log = d / "kserve.log"
    proc = subprocess.Popen(
        [str(py), str(d / "server.py"), str(model_file), str(port), str(free_port())],
        cwd=d,
        env=_env(collector),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/v1/models/iris", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


def stored(c: Collector, model: str, ids: list[str], timeout: float = 30) -> dict[str, dict[str, Any]]:
    """The records stored for `ids` of `model` (waiting for the SDK's background shipping)."""
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(c.database_url.removeprefix("sqlite:///")) as db:
            rows = db.execute(
                "SELECT record_id, features, prediction FROM records WHERE model = ?", (model,)
            ).fetchall()
        got = {
            r[0]: {
                "features": json.loads(r[1]),
                "prediction": json.loads(r[2]) if isinstance(r[2], str) else r[2],
            }
            for r in rows
        }
        if set(ids) <= set(got) or time.monotonic() > deadline:
            return {i: got[i] for i in ids if i in got}
        time.sleep(0.2)


def _predictions_total(c: Collector, model: str) -> float:
    for line in c.metrics().splitlines():
        ours = line.startswith("driftline_predictions_total{") and f'model="{model}"' in line
        if ours and 'outcome="ok"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _v2_request(rid: str, X: list[list[float]]) -> dict[str, Any]:
    return {
        "id": rid,
        "inputs": [
            {"name": "predict", "shape": [len(X), 4], "datatype": "FP64", "data": [v for r in X for v in r]}
        ],
    }


@pytest.fixture(scope="module")
def iris_rows() -> list[list[float]]:
    from sklearn.datasets import load_iris

    X, _ = load_iris(return_X_y=True)
    return X[::15].tolist()  # 10 rows of all three classes


def test_mlserver_reports_through_the_runtime_and_its_v2_payloads_store_the_same_records(
    collector: Collector, mlserver: str, iris_rows: list[list[float]]
) -> None:
    rid = uuid.uuid4().hex
    request = _v2_request(rid, iris_rows)
    status, response = http("POST", f"{mlserver}/v2/models/iris/infer", request)
    assert status == 200, response
    preds = response["outputs"][0]["data"]
    ids = [f"{rid}-{i}" for i in range(len(iris_rows))]
    via_runtime = stored(collector, "iris_mlserver", ids)
    assert sorted(via_runtime) == sorted(ids)
    for i, x in zip(ids, iris_rows, strict=True):
        assert via_runtime[i]["features"] == dict(zip(FEATURES, x, strict=True))
    assert [via_runtime[i]["prediction"] for i in ids] == preds
    assert sorted(set(preds)) == [0, 1, 2]  # a real model answered
    # the same request and MLServer's own response through the v2 endpoint: the same records
    status, answer = collector.post("/v1/inference/iris_v2", {"request": request, "response": response})
    assert (status, answer["accepted"]) == (200, len(ids)), answer
    via_v2 = stored(collector, "iris_v2", ids)
    assert via_v2 == via_runtime
    deadline = time.monotonic() + 30
    while _predictions_total(collector, "iris_mlserver") < len(ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _predictions_total(collector, "iris_mlserver") == len(ids)  # counted once per row, exactly


def test_a_kserve_model_server_reports_v1_and_v2_predictions_through_the_wrapper(
    collector: Collector, kserve_server: str, iris_rows: list[list[float]]
) -> None:
    status, v1 = http("POST", f"{kserve_server}/v1/models/iris:predict", {"instances": iris_rows})
    assert status == 200, v1
    rid = uuid.uuid4().hex
    request = _v2_request(rid, iris_rows)
    status, v2 = http("POST", f"{kserve_server}/v2/models/iris/infer", request)
    assert status == 200, v2
    assert v2["outputs"][0]["data"] == v1["predictions"]
    ids = [f"{rid}-{i}" for i in range(len(iris_rows))]
    got = stored(collector, "iris_kserve", ids)
    assert [got[i]["prediction"] for i in ids] == v1["predictions"]
    assert [got[i]["features"] for i in ids] == [dict(zip(FEATURES, x, strict=True)) for x in iris_rows]
    status, answer = collector.post("/v1/inference/iris_kserve_v2", {"request": request, "response": v2})
    assert (status, answer["accepted"]) == (200, len(ids)), answer
    assert stored(collector, "iris_kserve_v2", ids) == got
    deadline = time.monotonic() + 30
    while _predictions_total(collector, "iris_kserve") < 2 * len(ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _predictions_total(collector, "iris_kserve") == 2 * len(ids)  # v1 and v2 calls, each row once
