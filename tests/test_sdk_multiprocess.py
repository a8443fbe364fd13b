"""Multi-process servers: gunicorn with 2 uvicorn workers, the monitor made before the fork (``--preload``).

Each worker must get its own queue and counters after the fork and deliver them, while it serves and
when it is stopped, so the collector's counts equal the requests sent exactly: none lost, none doubled.
The app also counts its requests with prometheus_client in multiprocess mode, which the SDK must leave
working (the SDK writes no Prometheus files; its own counts reach Prometheus through the collector).
"""

from __future__ import annotations

import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import Collector, free_port
from tests.test_sdk_hooks import metric, new_model
from tests.test_sdk_hooks_asgi import collector, serve, stop

__all__ = ["collector"]  # the module's collector fixture, shared with the middleware tests

pytest.importorskip("gunicorn", reason="gunicorn is in the test extra: pip install -e '.[test]'")


def _send(base: str, n: int, start: int) -> tuple[int, int, set[int]]:
    """Send n requests from 16 threads: 1 in 10 answered 503, 1 in 10 crashing, 1 in 20 of 3 rows.

    Returns the ok and error predictions the collector must count, and the worker pids that answered.
    """

    def one(i: int) -> tuple[int, int, int | None]:
        body: dict[str, object] = {}
        if i % 10 == 0:
            body = {"status": 503}
        elif i % 10 == 1:
            body = {"crash": True}
        elif i % 20 == 5:
            body = {"rows": [{"x": 1.0}, {"x": 2.0}, {"x": 3.0}]}
        with httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as http:
            r = http.post(f"{base}/predict", json=body, headers={"x-request-id": f"mp-{i}"})
        if i % 10 in (0, 1):
            assert r.status_code in (500, 503), r.text
            return 0, 1, None
        assert r.status_code == 200, r.text
        return len(body.get("rows", [0])), 0, int(r.json()["pid"])  # type: ignore[arg-type]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(start, start + n)))
    return sum(r[0] for r in results), sum(r[1] for r in results), {r[2] for r in results if r[2]}


def _counts(c: Collector, model: str) -> tuple[float, float, float]:
    return (
        metric(c, "driftline_predictions_total", model, outcome="ok"),
        metric(c, "driftline_predictions_total", model, outcome="error"),
        metric(c, "driftline_prediction_latency_seconds_count", model),
    )


def test_gunicorn_with_two_uvicorn_workers_delivers_exactly_the_requests_sent(
    collector: Collector, tmp_path: Path
) -> None:
    model = new_model(collector)
    port = free_port()
    prom = tmp_path / "prometheus"
    prom.mkdir()
    env = {
        "DL_MODEL": model, "DL_URL": collector.url, "DL_TOKEN": collector.ingest, "DL_FLUSH": "0.2",
        "DL_WARMUP": "1", "PROMETHEUS_MULTIPROC_DIR": str(prom),
    }
    args = [
        sys.executable, "-m", "gunicorn", "dl_app:app", "--workers", "2", "--worker-class",
        "uvicorn.workers.UvicornWorker", "--bind", f"127.0.0.1:{port}", "--preload", "--graceful-timeout", "30",
    ]
    proc = serve(args, tmp_path, env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        ok, error, pids = _send(base, 400, 0)
        ok += 1  # the master's warm-up, counted by the master alone: a worker that kept a copy doubles it
        assert len(pids) == 2, pids  # both workers served, each from its own forked copy of the monitor
        deadline = time.monotonic() + 30  # while serving, each worker ships on its own thread
        while _counts(collector, model) != (ok, error, ok + error) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _counts(collector, model) == (ok, error, ok + error)
        scraped = httpx.get(f"{base}/metrics", timeout=10).text  # whichever worker answers sums both
        m = re.search(r"^app_predict_requests_total (\S+)$", scraped, re.M)
        assert m and float(m.group(1)) == 400, scraped

        more_ok, more_error, _ = _send(base, 200, 400)
    finally:
        stop(proc, tmp_path)  # at once: the workers' last counts must arrive through their shutdown
    ok, error = ok + more_ok, error + more_error
    assert (ok, error) == (1 + 400 - 80 + 20 * 2 + (200 - 40 + 10 * 2), 80 + 40)
    assert _counts(collector, model) == (ok, error, ok + error)
    status, models = collector.get("/v1/models", collector.read)
    assert status == 200
    assert next(m["records"] for m in models if m["name"] == model) == ok  # sample rate 1: one record a row
