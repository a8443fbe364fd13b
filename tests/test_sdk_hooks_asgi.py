"""`DriftlineMiddleware` in a real FastAPI app served by a real uvicorn process, reporting to a real collector.

Each request's outcome (5xx and exceptions as errors), latency and request id are judged by what the
collector stores and exposes, after the server was stopped with SIGTERM as a deploy would stop it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, Collector, free_port, start_collector
from tests.test_sdk_hooks import metric, new_model, records

#: The app under test; written to a file and served by uvicorn or gunicorn in their own processes.
APP_SOURCE = '''
import asyncio
import os

from fastapi import FastAPI, HTTPException
from fastapi.responses import PlainTextResponse

from sdk import Monitor, request_id
from sdk.asgi import DriftlineMiddleware

mon = Monitor(
    os.environ["DL_MODEL"], "v1", collector=os.environ["DL_URL"], token=os.environ["DL_TOKEN"],
    sample_rate=1.0, flush_interval=float(os.environ.get("DL_FLUSH", "30")), max_queue=100_000,
)
if os.environ.get("DL_WARMUP"):  # one prediction at import: under --preload, in gunicorn's master, pre-fork
    with mon.observe(ids=["warmup"], features={"x": 0.0}) as obs:
        obs.predictions(0)
app = FastAPI()
app.add_middleware(DriftlineMiddleware, monitor=mon, exclude_paths=("/metrics", "/healthz"))
REQUESTS = None
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the app's own metrics, in prometheus_client multiprocess mode
    from prometheus_client import CollectorRegistry, Counter, generate_latest, multiprocess

    REQUESTS = Counter("app_predict_requests", "Requests /predict received")

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return PlainTextResponse(generate_latest(registry).decode())


@app.get("/healthz")
async def healthz() -> dict:
    return {"pid": os.getpid()}


@app.post("/predict")
async def predict(body: dict) -> dict:
    if REQUESTS is not None:
        REQUESTS.inc()
    rows = body.get("rows", [{"x": 1.0}])
    if body.get("sleep"):
        await asyncio.sleep(body["sleep"])
    if body.get("status"):
        raise HTTPException(body["status"], "asked to fail")
    if body.get("crash"):
        raise RuntimeError("the handler crashed")
    with mon.observe(features=rows) as obs:
        obs.predictions([1] * len(rows))
    return {"id": request_id(), "pid": os.getpid()}


@app.post("/predict_sync")
def predict_sync(body: dict) -> dict:
    with mon.observe(features=body["rows"]) as obs:
        obs.predictions([0] * len(body["rows"]))
    return {"id": request_id()}


@app.post("/fallback")
async def fallback() -> dict:
    try:
        with mon.observe(features={"x": 0.0}):
            raise ValueError("the model failed")
    except ValueError:
        return {"id": request_id(), "fallback": True}
'''


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    d = tmp_path_factory.mktemp("collector")
    c = start_collector(f"sqlite:///{d / 'driftline.db'}", d, config=None)
    yield c
    c.stop()


def serve(args: list[str], workdir: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """Start a server process on the app (``dl_app:app`` in ``workdir``) and wait until it answers."""
    (workdir / "dl_app.py").write_text(APP_SOURCE)
    full_env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{workdir}", **env}
    log = workdir / "server.log"
    proc = subprocess.Popen(args, cwd=workdir, env=full_env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes], workdir: Path) -> None:
    """SIGTERM, as a deploy or ``docker stop`` sends it, and wait for a graceful exit.

    uvicorn re-raises the signal once it has shut down, so its exit status is -15 and the process
    ends without running atexit handlers: only the lifespan shutdown can deliver the last counts.
    """
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(60)
        assert code in (0, -signal.SIGTERM), f"exit {code}: " + (workdir / "server.log").read_text()[-3000:]
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_the_middleware_counts_each_request_once_by_outcome_with_its_latency_and_request_id(
    collector: Collector, tmp_path: Path
) -> None:
    model = new_model(collector)
    port = free_port()
    env = {"DL_MODEL": model, "DL_URL": collector.url, "DL_TOKEN": collector.ingest}
    proc = serve(
        [sys.executable, "-m", "uvicorn", "dl_app:app", "--port", str(port), "--log-level", "warning"],
        tmp_path, env, port,
    )
    url = f"http://127.0.0.1:{port}"
    generated: list[str] = []
    try:
        # a connection per request: a server may close a keep-alive connection after an unhandled exception
        with httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as http:

            def post(path: str, body: Any = None, rid: str | None = None) -> httpx.Response:
                return http.post(path, json=body or {}, headers={"x-request-id": rid} if rid else {})

            for i in range(5):
                r = post("/predict", {}, rid=f"client-{i}")
                assert r.status_code == 200 and r.headers["x-request-id"] == r.json()["id"] == f"client-{i}"
            for _ in range(3):
                r = post("/predict", {}, rid="not a valid id")
                assert r.headers["x-request-id"] == r.json()["id"] and re.fullmatch(r"[0-9a-f]{32}", r.json()["id"])
                generated.append(r.json()["id"])
            assert post("/predict", {"rows": [{"x": float(k)} for k in range(4)]}, rid="batch-1").status_code == 200
            assert post("/predict", {"status": 503}).status_code == 503
            assert post("/predict", {"status": 500}).status_code == 500
            assert post("/predict", {"status": 404}).status_code == 404  # the client's mistake: available
            assert post("/predict", {"crash": True}).status_code == 500
            assert post("/predict", {"crash": True}).status_code == 500
            assert post("/fallback").json()["fallback"] is True  # 200, but the model call failed
            for k in range(2):  # a sync endpoint runs on a worker thread with a copy of the context
                assert post("/predict_sync", {"rows": [{"x": 1.0}]}, rid=f"sync-{k}").status_code == 200
            assert post("/predict", {"sleep": 0.3}, rid="slow").status_code == 200
            for _ in range(5):
                assert http.get("/healthz").status_code == 200  # excluded: not model traffic
    finally:
        stop(proc, tmp_path)  # nothing was shipped yet (flush_interval 30 s): the shutdown delivers it

    ok, error = 5 + 3 + 4 + 1 + 2 + 1, 2 + 2 + 1
    assert metric(collector, "driftline_predictions_total", model, outcome="ok") == ok
    assert metric(collector, "driftline_predictions_total", model, outcome="error") == error
    assert metric(collector, "driftline_prediction_latency_seconds_count", model) == ok + error
    assert metric(collector, "driftline_prediction_latency_seconds_bucket", model, le="0.25") == ok + error - 1
    ids = sorted(r["id"] for r in records(collector, model))
    want = [f"client-{i}" for i in range(5)] + [f"batch-1-{k}" for k in range(4)] + ["sync-0", "sync-1", "slow"]
    assert ids == sorted(want + generated)
