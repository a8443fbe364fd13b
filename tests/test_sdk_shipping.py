"""The background shipper: bounded queue, batches, retries with stable batch ids, flush, close, fork."""

from __future__ import annotations

import gc
import json
import logging
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sdk import MockTransport, Monitor, Request, Response, wire
from sdk.transport import accept

ROOT = Path(__file__).resolve().parent.parent
FAST = {"flush_interval": 0.05, "initial_backoff": 0.01, "max_backoff": 0.05}


@pytest.fixture
def make():
    """Build rate-1 monitors on the given transport and close them after the test."""
    made: list[Monitor] = []

    def build(transport: Any = None, **kw: Any) -> Monitor:
        opts: dict[str, Any] = {"sample_rate": 1.0, **FAST, **kw}
        mon = Monitor("credit", "v7", transport=transport or MockTransport(), **opts)
        made.append(mon)
        return mon

    yield build
    for mon in made:
        mon.close(1.0)


def stored(transport: MockTransport, path: str) -> list[dict[str, Any]]:
    """Bodies the collector would have stored: answered 2xx, each batch id once."""
    return list({b["batch_id"]: b for b in transport.bodies(path)}.values())


def stats_totals(transport: MockTransport) -> Counter[str]:
    out: Counter[str] = Counter()
    for b in stored(transport, wire.STATS_PATH):
        for key in ("ok", "error", "sampled", "dropped"):
            out[key] += b[key]
    return out


class Scripted:
    """A handler that answers each path from a script of statuses (or exceptions), then 200."""

    def __init__(self, script: dict[str, list[Any]]) -> None:
        self.script = {k: list(v) for k, v in script.items()}
        self.accepted: list[Request] = []

    def __call__(self, request: Request) -> Response:
        todo = self.script.get(request.path)
        step = todo.pop(0) if todo else 200
        if isinstance(step, BaseException):
            raise step
        if step == 200:
            self.accepted.append(request)
            return accept(request)
        return Response(
            step, json={"detail": [{"loc": ["body", "records", 0, "ts"], "msg": "must be unix seconds"}]}
        )


def test_a_full_queue_drops_the_oldest_samples_and_reports_them_as_dropped(make):
    t = MockTransport()
    mon = make(t, max_queue=10, batch_size=100, flush_interval=60.0)
    for i in range(25):
        with mon.observe(ids=[f"r{i}"], features={"i": i}) as obs:
            obs.predictions([1])
    assert mon.queued == 10 and mon.dropped_total == 15
    assert mon.flush(5.0)
    ids = [r["id"] for b in stored(t, wire.RECORDS_PATH) for r in b["records"]]
    assert ids == [f"r{i}" for i in range(15, 25)]
    totals = stats_totals(t)
    assert (totals["ok"], totals["sampled"], totals["dropped"]) == (25, 25, 15)


def test_labels_have_their_own_bounded_queue(make):
    t = MockTransport()
    mon = make(t, max_queue=5, batch_size=100, flush_interval=60.0)
    assert mon.log_labels(ids=[f"r{i}" for i in range(8)], labels=[1] * 8) == 8
    assert mon.flush(5.0)
    assert [lab["id"] for b in stored(t, wire.LABELS_PATH) for lab in b["labels"]] == [
        f"r{i}" for i in range(3, 8)
    ]
    assert stats_totals(t)["dropped"] == 3


def test_a_batch_keeps_its_id_and_body_across_503_retries_until_accepted(make):
    handler = Scripted(
        {wire.RECORDS_PATH: [503, 503], wire.STATS_PATH: [503, TimeoutError("read timed out")]}
    )
    t = MockTransport(handler)
    mon = make(t)
    with mon.observe(ids=["a", "b"], features={"x": [1, 2]}) as obs:
        obs.predictions([0, 1])
    assert mon.flush(5.0)
    for path in (wire.RECORDS_PATH, wire.STATS_PATH):
        attempts = [r for r in t.requests if r.path == path]
        assert len(attempts) == 3
        assert len({r.json()["batch_id"] for r in attempts}) == 1
        assert len({r.body for r in attempts}) == 1
    assert stats_totals(t)["ok"] == 2


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(make, status):
    t = MockTransport(Scripted({wire.RECORDS_PATH: [status]}))
    mon = make(t)
    with mon.observe(ids=["a"]):
        pass
    assert mon.flush(5.0)
    assert len([r for r in t.requests if r.path == wire.RECORDS_PATH]) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 409, 413, 422])  # 409: the batch id holds other content
def test_a_rejected_batch_is_dropped_counted_and_logged_with_the_collectors_message(make, caplog, status):
    handler = Scripted({wire.RECORDS_PATH: [status]})
    t = MockTransport(handler)
    mon = make(t)
    with caplog.at_level(logging.WARNING, logger="driftline.sdk"):
        with mon.observe(ids=["a", "b", "c"], features={"x": [1, 2, 3]}):
            pass
        assert mon.flush(5.0)
    assert len([r for r in t.requests if r.path == wire.RECORDS_PATH]) == 1
    assert mon.dropped_total == 3
    assert stats_totals(t)["dropped"] == 3
    [warning] = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert f"with {status}" in warning and "body.records.0.ts: must be unix seconds" in warning


def test_requests_are_gzip_json_with_the_bearer_token(make):
    t = MockTransport()
    mon = make(t, token="tok-123")
    with mon.observe(ids=["a"]):
        pass
    mon.log_labels(["a"], [1])
    assert mon.flush(5.0)
    assert {r.path for r in t.requests} == {wire.RECORDS_PATH, wire.LABELS_PATH, wire.STATS_PATH}
    for r in t.requests:
        assert r.method == "POST"
        assert r.header("authorization") == "Bearer tok-123"
        assert r.header("Content-Encoding") == "gzip" and r.body[:2] == b"\x1f\x8b"
        assert r.header("Content-Type") == "application/json"
        assert r.json()["model"] == "credit"


def test_records_are_shipped_in_batches_of_at_most_batch_size(make):
    t = MockTransport()
    mon = make(t, batch_size=500, max_queue=5000, flush_interval=60.0)
    with mon.observe(ids=[f"r{i}" for i in range(1200)]):
        pass
    assert mon.flush(5.0)
    sizes = [len(b["records"]) for b in stored(t, wire.RECORDS_PATH)]
    assert sizes == [500, 500, 200]


def test_a_full_batch_wakes_the_shipper_before_the_interval(make):
    t = MockTransport()
    mon = make(t, batch_size=50, flush_interval=60.0)
    for i in range(60):
        with mon.observe(ids=[f"r{i}"]):
            pass
    deadline = time.monotonic() + 5.0
    while not t.bodies(wire.RECORDS_PATH) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert t.bodies(wire.RECORDS_PATH)


def test_flush_returns_false_after_its_timeout_while_the_collector_is_down(make):
    up = threading.Event()

    def handler(request: Request) -> Response:
        if not up.is_set():
            raise ConnectionRefusedError("collector down")
        return accept(request)

    t = MockTransport(handler)
    mon = make(t)
    for i in range(30):
        with mon.observe(ids=[f"r{i}"]) as obs:
            obs.predictions([i])
    t0 = time.monotonic()
    assert mon.flush(0.3) is False
    assert 0.25 < time.monotonic() - t0 < 2.0
    up.set()
    assert mon.flush(5.0)
    assert len([r for b in stored(t, wire.RECORDS_PATH) for r in b["records"]]) == 30


def test_backoff_is_full_jitter_doubling_up_to_max_backoff(make):
    mon = make(initial_backoff=0.1, max_backoff=1.0)
    shipper = mon._shipper
    shipper._rng = random.Random(3)
    for failures, cap in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (40, 1.0)]:
        shipper._failures = failures
        delays = [shipper._backoff() for _ in range(300)]
        assert 0 <= min(delays) < cap * 0.1 and cap * 0.9 < max(delays) <= cap
    shipper._retry_after = 0.7
    shipper._failures = 1
    assert min(shipper._backoff() for _ in range(100)) == 0.7


def test_close_flushes_stops_the_thread_and_can_be_called_twice(make):
    t = MockTransport()
    mon = make(t, flush_interval=60.0)
    with mon.observe(ids=["a"]):
        pass
    assert mon.close(5.0)
    assert not mon._shipper.alive
    assert stats_totals(t)["ok"] == 1 and stored(t, wire.RECORDS_PATH)
    assert mon.close(5.0)


def test_a_monitor_dropped_without_close_stops_its_thread():
    mon = Monitor("credit", "v7", transport=MockTransport(), **FAST)
    with mon.observe(ids=["a"]):
        pass
    thread = mon._shipper._thread
    assert thread is not None and thread.is_alive()
    del mon
    gc.collect()
    thread.join(2.0)
    assert not thread.is_alive()


def test_a_pid_change_gives_the_child_fresh_counters_queues_and_thread(make):
    pid = {"now": 100}
    t = MockTransport()
    mon = make(t, flush_interval=60.0, pid_fn=lambda: pid["now"])
    for i in range(3):
        with mon.observe(ids=[f"parent-{i}"]):
            pass
    parent_thread = mon._shipper._thread
    pid["now"] = 200  # what os.fork() looks like to the monitor
    with mon.observe(ids=["child-0"]):
        pass
    assert mon._shipper._thread is not parent_thread and mon._shipper.alive
    assert parent_thread is not None
    parent_thread.join(2.0)
    assert not parent_thread.is_alive()
    assert mon.flush(5.0)
    assert stats_totals(t)["ok"] == 1
    assert [r["id"] for b in stored(t, wire.RECORDS_PATH) for r in b["records"]] == ["child-0"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_real_fork_gives_the_child_its_own_queue_and_thread_and_the_parent_keeps_its_own(make):
    t = MockTransport()
    mon = make(t, flush_interval=60.0)
    for i in range(3):
        with mon.observe(ids=[f"parent-{i}"]):
            pass
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(read_fd)
            with mon.observe(ids=["child-0"]):
                pass
            with mon.observe(ids=["child-1"]):
                pass
            ok = mon.flush(5.0)
            out = {
                "flushed": ok,
                "ok": stats_totals(t)["ok"],
                "records": [r["id"] for b in stored(t, wire.RECORDS_PATH) for r in b["records"]],
            }
            os.write(write_fd, json.dumps(out).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        got = json.loads(pipe.read() or "{}")
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert got == {"flushed": True, "ok": 2, "records": ["child-0", "child-1"]}
    assert mon.flush(5.0)
    assert stats_totals(t)["ok"] == 3
    assert [r["id"] for b in stored(t, wire.RECORDS_PATH) for r in b["records"]] == [
        f"parent-{i}" for i in range(3)
    ]


def test_samples_queued_at_interpreter_exit_are_flushed_by_the_atexit_handler(tmp_path):
    out = tmp_path / "sent.jsonl"
    script = textwrap.dedent(
        f"""
        import json
        from sdk import Monitor, MockTransport, Response

        def handler(request):
            with open({str(out)!r}, "a") as f:
                f.write(json.dumps({{"path": request.path, "body": request.json()}}) + "\\n")
            return Response(200, json={{"accepted": 1}})

        mon = Monitor("credit", "v7", transport=MockTransport(handler), sample_rate=1.0, flush_interval=3600)
        with mon.observe(ids=["last-words"], features={{"x": 1}}) as obs:
            obs.predictions([1])
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=30)
    sent = [json.loads(line) for line in out.read_text().splitlines()]
    assert {s["path"] for s in sent} == {wire.RECORDS_PATH, wire.STATS_PATH}
    assert [r["id"] for s in sent if s["path"] == wire.RECORDS_PATH for r in s["body"]["records"]] == [
        "last-words"
    ]


def test_an_embedding_feature_reaches_the_wire_as_a_list_of_numbers(make):
    np = pytest.importorskip("numpy")
    t = MockTransport()
    mon = make(t)
    rows = [{"emb": np.array([0.5, np.nan, 2.0], dtype=np.float32), "meta": {"k": (1, 2)}, "x": 1.0}]
    with mon.observe(ids=["e1"], features=rows) as obs:
        obs.predictions([1])
    assert mon.flush(5.0)
    (record,) = [r for b in stored(t, wire.RECORDS_PATH) for r in b["records"]]
    assert record["features"] == {"emb": [0.5, None, 2.0], "meta": {"k": [1, 2]}, "x": 1.0}
