"""Batches, the predict decorator, `Monitor.wrap` and asyncio, against a real collector process over HTTP.

What a call counts is read back from the collector's /metrics (the availability and latency SLIs'
inputs) and what it sampled from its records read, so each test judges what an operator would see.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk import Monitor, ObservedModel, request_id, request_scope
from sdk.asgi import flush_async
from tests.conftest import Collector, start_collector

_names = itertools.count()


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    """One real collector on SQLite for the module; each test registers a model of its own."""
    d = tmp_path_factory.mktemp("collector")
    c = start_collector(f"sqlite:///{d / 'driftline.db'}", d, config=None)
    yield c
    c.stop()


def new_model(c: Collector) -> str:
    """Register a fresh model name, so each test reads counts that only it made."""
    name = f"hooks{next(_names)}"
    assert c.post("/v1/models", {"name": name}, token=c.admin)[0] == 200
    return name


def monitor(c: Collector, model: str, **kw: Any) -> Monitor:
    opts: dict[str, Any] = {"sample_rate": 1.0, "flush_interval": 0.1, "initial_backoff": 0.05, **kw}
    return Monitor(model, "v1", collector=c.url, token=c.ingest, **opts)


def metric(c: Collector, name: str, model: str, **labels: str) -> float:
    """One sample of the collector's /metrics for ``model`` (0 when the series does not exist yet)."""
    want = {"model": model, "version": "v1", **labels}
    for line in c.metrics().splitlines():
        m = re.fullmatch(rf"{re.escape(name)}\{{(.*)\}} (\S+)", line)
        if m and dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))) == want:
            return float(m.group(2))
    return 0.0


def records(c: Collector, model: str) -> list[dict[str, Any]]:
    status, body = c.get(f"/v1/models/{model}/records?limit=1000", c.read)
    assert status == 200, body
    return list(body)


def test_a_batch_call_counts_its_rows_once_each_with_the_calls_latency_and_logs_n_rows_with_n_ids(
    collector: Collector,
) -> None:
    model = new_model(collector)
    mon = monitor(collector, model)
    ids = [f"b-{i}" for i in range(64)]
    X = np.arange(64 * 3, dtype=float).reshape(64, 3)
    with mon.observe(ids=ids, features=X, feature_names=["a", "b", "c"]) as obs:
        time.sleep(0.03)  # the call takes 30-50 ms: every row's latency lands above 25 ms, below 100 ms
        obs.predictions(np.arange(64) % 2, scores=np.linspace(0, 1, 64))
    with pytest.raises(ValueError), mon.observe(features=np.zeros((10, 3))):
        raise ValueError("model failed")  # 10 rows, generated ids, counted as errors, nothing sampled
    assert mon.flush(30)
    mon.close()

    assert metric(collector, "driftline_predictions_total", model, outcome="ok") == 64
    assert metric(collector, "driftline_predictions_total", model, outcome="error") == 10
    assert metric(collector, "driftline_prediction_latency_seconds_count", model) == 74
    assert metric(collector, "driftline_prediction_latency_seconds_bucket", model, le="0.025") == 10
    assert metric(collector, "driftline_prediction_latency_seconds_bucket", model, le="0.1") == 74
    got = {r["id"]: r for r in records(collector, model)}
    assert sorted(got) == sorted(ids)
    assert got["b-3"]["prediction"] == 1 and got["b-63"]["score"] == pytest.approx(1.0)


def test_request_scope_gives_observe_calls_the_request_id_as_record_ids(collector: Collector) -> None:
    model = new_model(collector)
    mon = monitor(collector, model)
    with request_scope("req-7") as rid:
        assert rid == request_id() == "req-7"
        with mon.observe(features={"x": 1.0}) as obs:
            obs.predictions(1)
        with mon.observe(features=np.ones((2, 1))) as obs:
            obs.predictions([0, 1])
    with request_scope("bad id with spaces") as generated:
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert request_id() is None
    assert mon.flush(30)
    mon.close()
    assert sorted(r["id"] for r in records(collector, model)) == ["req-7", "req-7-1", "req-7-2"]
    assert metric(collector, "driftline_predictions_total", model, outcome="ok") == 3


@pytest.fixture(scope="module")
def classifier() -> Any:
    """A scikit-learn classifier on the breast-cancer data, with its features as a DataFrame."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer(as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(data.data, data.target)
    return model, data.data


def test_wrap_observes_predict_and_predict_proba_and_otherwise_is_the_model(
    collector: Collector, classifier: Any
) -> None:
    model, X = classifier
    name = new_model(collector)
    mon = monitor(collector, name)
    wrapped = mon.wrap(model)
    assert isinstance(wrapped, ObservedModel) and wrapped.wrapped is model
    assert wrapped.classes_.tolist() == [0, 1] and wrapped.steps is model.steps  # attributes pass through
    assert not hasattr(wrapped, "transform_nonexistent")
    assert wrapped.score(X, model.predict(X)) == 1.0  # a method the proxy does not observe

    with request_scope("pp"):
        proba = wrapped.predict_proba(X.iloc[:20])
    y = wrapped.predict(X.to_numpy()[:5])  # numpy: names from the model's feature_names_in_
    np.testing.assert_array_equal(proba, model.predict_proba(X.iloc[:20]))
    np.testing.assert_array_equal(y, model.predict(X.to_numpy()[:5]))
    with pytest.raises(ValueError):
        wrapped.predict(np.zeros((3, 2)))  # the model's own error, unchanged, counted against availability
    assert mon.flush(30)
    mon.close()

    assert metric(collector, "driftline_predictions_total", name, outcome="ok") == 25
    assert metric(collector, "driftline_predictions_total", name, outcome="error") == 3
    recs = {r["id"]: r for r in records(collector, name)}
    assert len(recs) == 25
    for k in range(20):
        r = recs[f"pp-{k}"]
        assert r["score"] == pytest.approx(proba[k, 1])
        assert r["prediction"] == int(proba[k].argmax())


def test_the_decorator_observes_sync_and_async_predict_functions_with_scores(
    collector: Collector, classifier: Any
) -> None:
    model, X = classifier
    name = new_model(collector)
    mon = monitor(collector, name)

    @mon.observed(scores=True)
    def predict(features: Any) -> Any:
        return model.predict_proba(features)

    @mon.observed
    async def apredict(features: Any) -> Any:
        await asyncio.sleep(0.03)
        return model.predict(features)

    class Service:
        @mon.observed
        def predict(self, features: Any) -> Any:
            return model.predict(features)

    assert predict.__name__ == "predict"
    p = predict(X.iloc[:8])
    with request_scope("async-1"):
        y = asyncio.run(apredict(features=X.iloc[8:12]))
    Service().predict(X.iloc[12:14])
    assert mon.flush(30)
    mon.close()

    assert metric(collector, "driftline_predictions_total", name, outcome="ok") == 14
    assert metric(collector, "driftline_prediction_latency_seconds_bucket", name, le="0.025") == 10
    recs = records(collector, name)
    assert len(recs) == 14
    scored = [r for r in recs if r["score"] is not None]
    assert sorted(r["score"] for r in scored) == pytest.approx(sorted(p[:, 1]))
    by_id = {r["id"]: r for r in recs}
    assert [by_id[f"async-1-{k}"]["prediction"] for k in range(4)] == y.tolist()


class _SlowCollector(BaseHTTPRequestHandler):
    """A collector that takes 0.4 s to answer each request: shipping is slow, serving must not be."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(0.4)
        self.server.posts += 1  # type: ignore[attr-defined]
        body = b'{"accepted": 1, "duplicate": false}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_observing_inside_async_code_never_blocks_the_event_loop_while_shipping_is_slow(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowCollector)
    server.posts = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mon = Monitor(
        "credit", "v1", collector=f"http://127.0.0.1:{server.server_port}", token="t", sample_rate=1.0,
        batch_size=200, flush_interval=0.01,
    )

    async def main() -> tuple[float, float, bool]:
        gaps: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        slowest = 0.0
        for i in range(1500):
            t0 = time.perf_counter()
            with mon.observe(ids=[f"a-{i}"], features={"x": float(i), "y": "z" * 50}) as obs:
                obs.predictions(i % 2)
            slowest = max(slowest, time.perf_counter() - t0)
            await asyncio.sleep(0.001)  # ~2 s of serving: batches are in flight meanwhile
        flushed = await flush_async(mon, 60)  # waiting for delivery happens off the loop
        stop.set()
        await tick
        return max(gaps), slowest, flushed

    try:
        worst_gap, slowest_call, flushed = asyncio.run(main())
    finally:
        mon.close(1)
        server.shutdown()
    posts: int = server.posts  # type: ignore[attr-defined]
    assert flushed and posts >= 2  # the collector really was slow while the loop ran
    assert slowest_call < 0.1, slowest_call  # one HTTP round trip is 0.4 s: no call waited on one
    assert worst_gap < 0.2, worst_gap
