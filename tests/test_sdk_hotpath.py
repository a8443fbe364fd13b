"""The per-call path of sdk.Monitor: exact counters, the latency histogram, and never raising."""

from __future__ import annotations

import itertools
import logging
import random
import threading
from collections import Counter
from typing import Any

import pytest

from sdk import MockTransport, Monitor, Request, Response, wire

FAST = {"flush_interval": 0.05, "initial_backoff": 0.01, "max_backoff": 0.05}


@pytest.fixture
def make():
    """Build monitors on a recording MockTransport and close them after the test."""
    made: list[Monitor] = []

    def build(transport: Any = None, **kw: Any) -> Monitor:
        opts: dict[str, Any] = {"sample_rate": 1.0, **FAST, **kw}
        mon = Monitor("credit", "v7", transport=transport or MockTransport(), **opts)
        made.append(mon)
        return mon

    yield build
    for mon in made:
        mon.close(1.0)


def stats_totals(transport: MockTransport) -> Counter[str]:
    """Sum the stats deltas, counting each batch id once (as the collector stores them)."""
    batches = {b["batch_id"]: b for b in transport.bodies(wire.STATS_PATH)}
    out: Counter[str] = Counter()
    for b in batches.values():
        for key in ("ok", "error", "sampled", "dropped"):
            out[key] += b[key]
    return out


class FakeTimer:
    """A perf_counter stand-in: 0 when a with-block starts, the next duration when it ends."""

    def __init__(self, durations: list[float]) -> None:
        self.durations = list(durations)
        self.calls = 0

    def __call__(self) -> float:
        k, self.calls = self.calls, self.calls + 1
        return self.durations[k // 2] if k % 2 else 0.0


def test_every_row_is_counted_as_ok_or_error_and_the_callers_exception_is_reraised_unchanged(make):
    t = MockTransport()
    mon = make(t, sample_rate=0.0)
    rng = random.Random(7)
    expected = Counter()
    for i in range(300):
        rows = rng.randint(1, 5)
        ids = [f"req-{i}-{j}" for j in range(rows)]
        if rng.random() < 0.2:
            err = ValueError(f"model failed on call {i}")
            with pytest.raises(ValueError) as caught, mon.observe(ids=ids, features={"x": [1.0] * rows}):
                raise err
            assert caught.value is err
            expected["error"] += rows
        else:
            with mon.observe(ids=ids, features={"x": [1.0] * rows}) as obs:
                obs.predictions([0] * rows)
            expected["ok"] += rows
    assert mon.flush(5.0)
    got = stats_totals(t)
    assert (got["ok"], got["error"]) == (expected["ok"], expected["error"])
    assert expected["error"] > 0


def test_a_call_that_raises_is_counted_as_errors_but_ships_no_sample(make):
    t = MockTransport()
    mon = make(t, sample_rate=1.0)
    with pytest.raises(RuntimeError), mon.observe(ids=["a", "b"], features={"x": [1, 2]}) as obs:
        obs.predictions([1, 0])
        raise RuntimeError("after predicting, before returning")
    assert mon.flush(5.0)
    assert t.bodies(wire.RECORDS_PATH) == []
    assert (stats_totals(t)["error"], stats_totals(t)["sampled"]) == (2, 0)


def test_rows_default_to_the_feature_rows_and_then_to_one(make):
    t = MockTransport()
    mon = make(t, sample_rate=0.0)
    with mon.observe(features=[{"x": 1}, {"x": 2}, {"x": 3}]):
        pass
    with mon.observe(features={"x": [1, 2]}):
        pass
    with mon.observe():
        pass
    assert mon.flush(5.0)
    assert stats_totals(t)["ok"] == 3 + 2 + 1


def test_latency_histogram_buckets_each_row_by_its_calls_with_block_duration(make):
    durations = [0.0004, 0.001, 0.03, 0.1, 0.1000001, 20.0]
    rows = [1, 2, 3, 1, 1, 4]
    t = MockTransport()
    mon = make(t, sample_rate=0.0, timer=FakeTimer(durations))
    for i, n in enumerate(rows):
        with mon.observe(ids=[f"r{i}-{j}" for j in range(n)]):
            pass
    assert mon.flush(5.0)
    [stats] = t.bodies(wire.STATS_PATH)
    bounds = list(wire.DEFAULT_LATENCY_BOUNDS)
    assert stats["latency_bounds"] == bounds
    expected = [0] * (len(bounds) + 1)
    expected[0] = 1 + 2  # 0.4 ms and exactly 1 ms: le="0.001"
    expected[bounds.index(0.05)] = 3  # 30 ms
    expected[bounds.index(0.1)] = 1  # exactly 100 ms stays in le="0.1"
    expected[bounds.index(0.15)] = 1  # just above 100 ms
    expected[-1] = 4  # 20 s: +Inf
    assert stats["latency_counts"] == expected
    assert sum(stats["latency_counts"]) == stats["ok"] + stats["error"]
    assert stats["latency_sum"] == pytest.approx(sum(d * n for d, n in zip(durations, rows, strict=True)))


def test_custom_latency_bounds_are_used_and_validated(make):
    t = MockTransport()
    mon = make(t, sample_rate=0.0, latency_bounds=[0.5, 1.0], timer=FakeTimer([0.7]))
    with mon.observe(ids=["a"]):
        pass
    assert mon.flush(5.0)
    [stats] = t.bodies(wire.STATS_PATH)
    assert (stats["latency_bounds"], stats["latency_counts"]) == ([0.5, 1.0], [0, 1, 0])
    with pytest.raises(ValueError, match="strictly increasing"):
        make(latency_bounds=[1.0, 0.5])


def test_stats_batches_are_deltas_with_their_own_ids_that_add_up_to_the_totals(make):
    t = MockTransport()
    mon = make(t, sample_rate=0.0)
    for round_ in range(4):
        for i in range(25):
            with mon.observe(ids=[f"{round_}-{i}"]):
                pass
        assert mon.flush(5.0)
    batches = t.bodies(wire.STATS_PATH)
    assert len({b["batch_id"] for b in batches}) == len(batches) >= 4
    assert sum(b["ok"] for b in batches) == 100
    for prev, nxt in itertools.pairwise(batches):
        assert nxt["start"] == prev["end"]


def test_calls_from_eight_threads_are_counted_exactly(make):
    t = MockTransport()
    mon = make(t, sample_rate=0.1)

    def serve(worker: int) -> None:
        for i in range(500):
            with mon.observe(ids=[f"w{worker}-{i}"], features={"x": i}) as obs:
                obs.predictions([1])

    threads = [threading.Thread(target=serve, args=(w,)) for w in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert mon.flush(10.0)
    totals = stats_totals(t)
    assert totals["ok"] == 4000
    records = [r for b in t.bodies(wire.RECORDS_PATH) for r in b["records"]]
    assert totals["sampled"] == len(records) == len({r["id"] for r in records})


class Exploding:
    """A features object that raises on every access."""

    def __len__(self) -> int:
        raise RuntimeError("len exploded")

    def __getitem__(self, key: Any) -> Any:
        raise RuntimeError("getitem exploded")


@pytest.mark.parametrize(
    "features",
    [Exploding(), object(), {"x": Exploding()}, [Exploding()], 42],
    ids=["raises on access", "plain object", "column raises", "row raises", "a bare number"],
)
def test_a_bad_features_object_is_counted_as_an_internal_error_never_raised(make, features):
    t = MockTransport()
    mon = make(t)
    with mon.observe(ids=["a"], features=features) as obs:
        obs.predictions([1])
    assert mon.flush(5.0)
    assert stats_totals(t)["ok"] == 1
    assert mon.internal_errors == 1
    assert t.bodies(wire.RECORDS_PATH) == []


def test_bad_ids_predictions_and_labels_do_not_raise(make):
    t = MockTransport()
    mon = make(t)
    with mon.observe(ids=Exploding()) as obs:
        obs.predictions(Exploding())
    with mon.observe(ids=["a", "b"], features={"x": [1, 2]}) as obs:
        obs.predictions([1])  # one prediction for two rows
    with mon.observe(ids=["c"], features={"x": 1}) as obs:
        obs.predictions(Exploding(), scores=Exploding())
    assert mon.log_labels(ids=Exploding(), labels=[1]) == 0
    assert mon.log_labels(ids=["a", "b"], labels=Exploding()) == 0
    assert mon.flush(5.0)
    assert mon.internal_errors >= 4
    assert stats_totals(t)["ok"] == 1 + 2 + 1


def test_an_sdk_failure_while_the_caller_raises_still_propagates_the_callers_exception(make):
    mon = make()
    buffers = mon._buffers
    err = KeyError("the caller's own error")
    with pytest.raises(KeyError) as caught, mon.observe(ids=["a"]):
        mon._buffers = None  # type: ignore[assignment]  # an SDK bug inside __exit__
        raise err
    assert caught.value is err
    mon._buffers = buffers


def test_a_transport_that_raises_never_reaches_the_serving_loop(make):
    def broken(request: Request) -> Response:
        raise RuntimeError("transport bug")

    mon = make(MockTransport(broken))
    for i in range(200):
        with mon.observe(ids=[f"r{i}"], features={"x": i}) as obs:
            obs.predictions([i % 2])
    assert mon.log_labels(ids=["r1"], labels=[1]) == 1
    assert mon.flush(0.2) is False


def test_internal_errors_are_logged_at_most_once_per_interval(make, caplog):
    mon = make()
    with caplog.at_level(logging.WARNING, logger="driftline.sdk"):
        for _ in range(50):
            with mon.observe(ids=["a"], features=Exploding()):
                pass
    assert mon.internal_errors == 50
    assert len([r for r in caplog.records if "internal error" in r.getMessage()]) == 1


def test_a_disabled_monitor_counts_nothing_sends_nothing_and_starts_no_thread(make):
    t = MockTransport()
    mon = make(t, enabled=False)
    with pytest.raises(ZeroDivisionError), mon.observe(ids=["a"], features={"x": 1}):
        1 / 0  # noqa: B018
    with mon.observe(ids=["a"]) as obs:
        obs.predictions([1])
    assert mon.log_labels(["a"], [1]) == 0
    assert mon.flush(1.0)
    assert t.requests == []
    assert not mon._shipper.alive


def test_calls_after_close_are_no_ops_and_still_let_the_callers_exception_through(make):
    t = MockTransport()
    mon = make(t)
    with mon.observe(ids=["a"]) as obs:
        obs.predictions([1])
    assert mon.close(5.0)
    sent = len(t.requests)
    with pytest.raises(ZeroDivisionError), mon.observe(ids=["b"]):
        1 / 0  # noqa: B018
    with mon.observe(ids=["c"]) as obs:
        obs.predictions([1])
    assert mon.log_labels(["a"], [1]) == 0
    assert mon.flush(1.0) and mon.close(1.0)
    assert len(t.requests) == sent
    assert stats_totals(t)["ok"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "1credit"}, "model must match"),
        ({"model": "credit", "version": ""}, "version must be"),
        ({"model": "credit", "sample_rate": 1.5}, "sample_rate"),
        ({"model": "credit", "pii": "blur"}, "pii must be"),
        ({"model": "credit", "batch_size": 0}, "must be positive"),
        ({"model": "credit", "collector": "ftp://x"}, "collector URL"),
    ],
    ids=["model name", "empty version", "rate above one", "unknown pii mode", "zero batch", "bad url"],
)
def test_bad_settings_are_refused_at_setup_with_a_message_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Monitor(**kwargs)
