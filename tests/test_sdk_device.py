"""Device tensors and DLPack producers: only sampled rows leave the device, and never on the serving thread.

This machine has no GPU, so the CUDA path is exercised three ways: a real CUDA test that runs where
``torch.cuda.is_available()`` (with torch's sync debug mode set to raise on any synchronising call),
a CPU tensor that reports ``is_cuda`` with torch's pinned-memory and event calls recorded by a stand-in,
and stand-in device arrays that record every method the SDK calls on them.
"""

from __future__ import annotations

import json
import sys
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sdk.device
from sdk import MockTransport, Monitor, is_sampled, wire
from sdk.convert import feature_rows, plain, plain_feature, prediction_values, score_values

torch = pytest.importorskip("torch")

FAST = {"flush_interval": 0.05, "initial_backoff": 0.01, "max_backoff": 0.05}
SERVING = threading.current_thread().name
SHIPPER = "driftline-sdk-shipper"


@pytest.fixture
def make():
    """Build monitors on a recording MockTransport and close them after the test."""
    made: list[Monitor] = []

    def build(**kw: Any) -> Monitor:
        opts: dict[str, Any] = {"sample_rate": 1.0, **FAST, **kw}
        mon = Monitor("credit", "v7", transport=MockTransport(), **opts)
        made.append(mon)
        return mon

    yield build
    for mon in made:
        mon.close(1.0)


def records(mon: Monitor) -> dict[str, dict[str, Any]]:
    """The shipped records by id, after a flush."""
    assert mon.flush(5.0)
    transport = mon._transport
    assert isinstance(transport, MockTransport)
    return {r["id"]: r for b in transport.bodies(wire.RECORDS_PATH) for r in b["records"]}


class Producer:
    """A DLPack producer and nothing else (no array namespace): what a library's tensor exports."""

    __module__ = "someaccel"

    def __init__(self, a: np.ndarray) -> None:
        self._a = a
        self.shape = a.shape
        self.ndim = a.ndim
        self.exported = 0

    def __len__(self) -> int:
        return len(self._a)

    def __dlpack__(self, **kw: Any) -> Any:
        self.exported += 1
        return self._a.__dlpack__(**kw)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._a.__dlpack_device__()


def test_a_dlpack_producer_is_read_through_torch_from_dlpack(make):
    x = np.arange(40.0).reshape(20, 2)
    features, probs = Producer(x), Producer(np.stack([1 - x[:, 0] / 40, x[:, 0] / 40], axis=1))
    mon = make(sample_rate=0.5, feature_names=["a", "b"])
    ids = [f"r{i}" for i in range(20)]
    with mon.observe(ids=ids, features=features) as obs:
        obs.predictions(Producer(np.arange(20) % 3), scores=probs)
    got = records(mon)
    assert got and set(got) == set(obs.sampled_ids)
    assert features.exported >= 1 and probs.exported >= 1  # torch may retry without max_version
    for rid, rec in got.items():
        i = int(rid[1:])
        assert rec["features"] == {"a": 2.0 * i, "b": 2.0 * i + 1}
        assert rec["prediction"] == i % 3 and rec["score"] == pytest.approx(2 * i / 40)


def test_without_torch_loaded_a_host_dlpack_producer_is_read_through_numpy(make, monkeypatch):
    monkeypatch.delitem(sys.modules, "torch")  # a numpy-only server: the SDK must not need torch
    mon = make(feature_names=["a", "b"])
    producer = Producer(np.array([[1, 2], [3, 4]]))
    with mon.observe(ids=["x", "y"], features=producer) as obs:
        obs.predictions(Producer(np.array([0, 1])))
    got = records(mon)
    assert got["y"]["features"] == {"a": 3, "b": 4} and got["y"]["prediction"] == 1
    assert producer.exported >= 1


class Log:
    """What the stand-ins were asked to do: (method, rows it touched, thread)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str]] = []

    def add(self, name: str, rows: int) -> None:
        self.calls.append((name, rows, threading.current_thread().name))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


class DeviceArray:
    """A JAX/CuPy-like array on "device 2" (CUDA): it has an array namespace and records every call."""

    __module__ = "fakeaccel"

    def __init__(self, a: np.ndarray, log: Log) -> None:
        self._a, self._log = a, log
        self.shape, self.ndim, self.device = a.shape, a.ndim, "gpu:0"

    def __len__(self) -> int:
        return len(self._a)

    def __array_namespace__(self) -> Any:
        log = self._log

        def asarray(obj: Any, device: Any = None) -> DeviceArray:
            log.add("asarray", len(obj))
            return DeviceArray(np.asarray(obj), log)

        def take(x: DeviceArray, idx: DeviceArray, axis: int) -> DeviceArray:
            log.add("take", len(idx._a))
            return DeviceArray(np.take(x._a, idx._a, axis=axis), log)

        return SimpleNamespace(asarray=asarray, take=take)

    def reshape(self, shape: tuple[int, ...]) -> DeviceArray:
        return DeviceArray(self._a.reshape(shape), self._log)

    def copy_to_host_async(self) -> None:
        self._log.add("copy_to_host_async", len(self._a))

    def _sync(self, name: str) -> Any:
        self._log.add(name, len(self._a))
        return self._a

    def tolist(self) -> Any:
        return self._sync("tolist").tolist()

    def __getitem__(self, idx: Any) -> Any:
        return self._sync("__getitem__")[idx]

    def __array__(self, *a: Any, **kw: Any) -> np.ndarray:
        return self._sync("__array__")

    def __float__(self) -> float:
        return float(self._sync("__float__"))

    def __dlpack__(self, **kw: Any) -> Any:
        return self._sync("__dlpack__").__dlpack__(**kw)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (2, 0)


def test_an_array_namespace_producer_is_indexed_on_its_device_and_read_on_the_shipping_thread(make):
    log = Log()
    n = 600
    x = DeviceArray(np.arange(3.0 * n).reshape(n, 3), log)
    y, scores = DeviceArray(np.arange(n) % 2, log), DeviceArray(np.linspace(0, 1, n), log)
    mon = make(sample_rate=0.1, feature_names=["a", "b", "c"])
    ids = [f"r{i}" for i in range(n)]
    with mon.observe(ids=ids, features=x) as obs:
        obs.predictions(y, scores=scores)
    m = len(obs.sampled_ids)
    assert 20 < m < 110
    on_serving = [c for c in log.calls if c[2] == SERVING]
    assert sorted(c[0] for c in on_serving) == ["asarray"] * 3 + ["copy_to_host_async"] * 3 + ["take"] * 3
    assert all(rows == m for _, rows, _ in on_serving)  # only the picked rows are selected and copied
    got = records(mon)
    assert [(c[0], c[1], c[2]) for c in log.calls if c[2] != SERVING] == [("tolist", m, SHIPPER)] * 3
    for rid, rec in got.items():
        i = int(rid[1:])
        assert rec["features"] == {"a": 3.0 * i, "b": 3.0 * i + 1, "c": 3.0 * i + 2}
        assert rec["prediction"] == i % 2 and rec["score"] == pytest.approx(i / (n - 1))


def _recorded(name: str) -> Any:
    def method(self: CudaTensor, *a: Any, **kw: Any) -> Any:
        self._log.add(name, self.shape[0])
        return self

    return method


class CudaTensor:
    """Looks like a torch CUDA tensor to the SDK; records every call that could read or copy it."""

    __module__ = "torch"
    is_cuda = True
    device = "cuda:0"

    def __init__(self, shape: tuple[int, ...], log: Log) -> None:
        self.shape, self.ndim, self._log = shape, len(shape), log

    def dim(self) -> int:
        return self.ndim

    def __len__(self) -> int:
        return self.shape[0]

    cpu = _recorded("cpu")
    numpy = _recorded("numpy")
    tolist = _recorded("tolist")
    item = _recorded("item")
    detach = _recorded("detach")
    index_select = _recorded("index_select")
    to = _recorded("to")
    reshape = _recorded("reshape")
    __getitem__ = _recorded("__getitem__")
    __dlpack__ = _recorded("__dlpack__")


def _unsampled(ids: list[str], rate: float = 0.01) -> list[str]:
    return [i for i in ids if not is_sampled(i, rate)]


@pytest.mark.parametrize("kind", ["torch CUDA tensor", "array-namespace device array"])
def test_an_unsampled_call_on_device_tensors_never_reads_or_copies_them(make, kind):
    log = Log()

    def tensor(*shape: int) -> Any:
        if kind == "torch CUDA tensor":
            return CudaTensor(shape, log)
        return DeviceArray(np.zeros(shape), log)

    mon = make(sample_rate=0.01)
    ids = _unsampled([f"q{i}" for i in range(300)])[:256]
    with mon.observe(ids=ids, features=tensor(256, 16), slices={"shard": tensor(256)}) as obs:
        obs.predictions(tensor(256), scores=tensor(256, 2))
    with mon.observe(ids=ids[:1], features=tensor(16)) as obs:  # one row, its features a 1-D tensor
        obs.predictions(tensor(1))
    with mon.observe(ids=ids, features={"a": tensor(256), "b": tensor(256)}) as obs:
        obs.predictions(tensor(256, 3))
    assert log.calls == []
    assert mon.internal_errors == 0 and obs.sampled_ids == []
    sampled = next(i for i in (f"s{k}" for k in range(10_000)) if is_sampled(i, 0.01))
    with mon.observe(ids=[sampled], features=tensor(1, 16)):  # control: a sampled row is read
        pass
    assert log.calls


class SpyTorch:
    """torch, with pinned allocations and CUDA events recorded instead of needing a GPU."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.int64 = torch.int64
        spy = self

        class Event:
            def __init__(self) -> None:
                self.recorded = self.waited = False

            def record(self, stream: Any) -> None:
                spy.log.add(f"record {stream}", 0)
                self.recorded = True

            def synchronize(self) -> None:
                assert self.recorded
                spy.log.add("synchronize", 0)

        self.cuda = SimpleNamespace(Event=Event, current_stream=lambda device: f"stream of {device}")

    def tensor(self, data: list[int], *, dtype: Any, pin_memory: bool) -> Any:
        self.log.add(f"pinned index {pin_memory}", len(data))
        return torch.tensor(data, dtype=dtype)

    def empty(self, shape: tuple[int, ...], *, dtype: Any, pin_memory: bool) -> Any:
        self.log.add(f"pinned buffer {pin_memory}", shape[0])
        log = self.log

        class Host(OnCuda):  # a subclass of the source, so copy_ dispatches
            def tolist(self) -> Any:
                log.add("tolist", self.shape[0])
                return torch.Tensor.tolist(self.as_subclass(torch.Tensor))

        return torch.empty(shape, dtype=dtype).as_subclass(Host)


class OnCuda(torch.Tensor):
    """A CPU tensor that says it is on CUDA, so the SDK takes its CUDA path."""

    __module__ = "torch"
    is_cuda = True


def test_the_cuda_path_copies_picked_rows_into_pinned_memory_and_the_shipper_waits_on_the_event(
    make, monkeypatch
):
    log = Log()
    monkeypatch.setattr(sdk.device, "_torch", lambda: SpyTorch(log))
    n = 1000
    x = torch.arange(2.0 * n).reshape(n, 2).as_subclass(OnCuda)
    probs = torch.stack([torch.zeros(n), torch.linspace(0, 1, n)], dim=1).as_subclass(OnCuda)
    mon = make(sample_rate=0.05, feature_names=["x", "y"])
    ids = [f"r{i}" for i in range(n)]
    with mon.observe(ids=ids, features=x) as obs:
        obs.predictions((torch.arange(n) % 2).as_subclass(OnCuda), scores=probs)
    m = len(obs.sampled_ids)
    assert 20 < m < 90 and mon.internal_errors == 0
    serving = [(name, rows) for name, rows, thread in log.calls if thread == SERVING]
    assert sorted(serving) == sorted(
        [("pinned index True", m), ("pinned buffer True", m), ("record stream of cpu", 0)] * 3
    )
    got = records(mon)
    shipper = [(name, rows, thread) for name, rows, thread in log.calls[len(serving) :]]
    assert shipper == [("synchronize", 0, SHIPPER), ("tolist", m, SHIPPER)] * 3  # waits, then reads
    for rid, rec in got.items():
        i = int(rid[1:])
        assert rec["features"] == {"x": 2.0 * i, "y": 2.0 * i + 1}
        assert rec["prediction"] == i % 2 and rec["score"] == pytest.approx(i / (n - 1))


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device here (torch.cuda.is_available() is False)"
)
def test_a_real_cuda_batch_is_observed_without_any_synchronising_call(make):
    # the shipper stays asleep until the flush below, after sync debug mode is off again
    mon = make(sample_rate=0.1, feature_names=["x", "y"], flush_interval=3600.0, batch_size=5000)
    n = 4096
    ids = [f"r{i}" for i in range(n)]
    w = torch.randn(2048, 2048, device="cuda")
    for _ in range(20):  # keep the stream busy, so a synchronising call would have something to wait for
        w = torch.tanh(w @ w)
    x = torch.arange(2.0 * n, device="cuda").reshape(n, 2) + 0 * w[0, 0]
    probs = torch.stack([torch.zeros(n, device="cuda"), torch.linspace(0, 1, n, device="cuda")], dim=1)
    torch.cuda.set_sync_debug_mode("error")  # any synchronising call in the SDK raises (and is counted)
    try:
        with mon.observe(ids=ids, features=x) as obs:
            obs.predictions(probs.argmax(dim=1), scores=probs)
        with mon.observe(ids=_unsampled(ids, 0.1)[:512], features=x[:512]) as unsampled:
            unsampled.predictions(probs[:512].argmax(dim=1))
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert mon.internal_errors == 0 and unsampled.sampled_ids == []
    got = records(mon)
    assert len(got) == len(obs.sampled_ids) > 300
    for rid, rec in got.items():
        i = int(rid[1:])
        assert rec["features"] == {"x": 2.0 * i, "y": 2.0 * i + 1}
        assert rec["score"] == pytest.approx(i / (n - 1), abs=1e-6)
        assert rec["prediction"] == (1 if i > 0 else 0)


def _frame_inputs(rows: list[list[float]]) -> dict[str, Any]:
    cols = {f"c{j}": [r[j] for r in rows] for j in range(len(rows[0]))}
    matrix = np.array(rows, dtype=np.float64)
    return {
        "numpy": matrix,
        "pandas": pd.DataFrame(cols),
        "polars": pl.DataFrame(cols),
        "pyarrow Table": pa.table(cols),
        "pyarrow RecordBatch": pa.record_batch(cols),
        "dict of polars Series": {k: pl.Series(v) for k, v in cols.items()},
        "dict of pyarrow arrays": {k: pa.array(v) for k, v in cols.items()},
        "torch": torch.tensor(rows, dtype=torch.float64),
        "DLPack producer": Producer(matrix),
    }


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None)
@given(
    data=st.integers(1, 6).flatmap(
        lambda k: st.lists(st.lists(finite, min_size=k, max_size=k), min_size=1, max_size=12)
    ),
    seed=st.randoms(use_true_random=False),
)
def test_every_input_library_gives_the_rows_of_the_equivalent_lists(data, seed):
    n, k = len(data), len(data[0])
    names = [f"c{j}" for j in range(k)]
    picked = sorted(seed.sample(range(n), seed.randint(1, n)))
    want = [{names[j]: data[i][j] for j in range(k)} for i in picked]
    labels = [int(seed.random() < 0.5) for _ in range(n)]
    for kind, features in _frame_inputs(data).items():
        got = feature_rows(features, picked, n, names)
        assert [{key: plain_feature(v) for key, v in row.items()} for row in got] == want, kind
    want_y = [labels[i] for i in picked]
    want_score = [data[i][0] for i in picked]
    for y, s in [
        (np.array(labels), np.array([r[0] for r in data])),
        (pl.Series(labels), pl.Series([r[0] for r in data])),
        (pa.array(labels), pa.array([r[0] for r in data])),
        (torch.tensor(labels), torch.tensor([[1 - r[0], r[0]] for r in data], dtype=torch.float64)),
        (Producer(np.array(labels)), Producer(np.array([r[0] for r in data]))),
    ]:
        assert [plain(v) for v in prediction_values(y, picked)] == want_y, type(y)
        assert [plain(v) for v in score_values(s, picked)] == pytest.approx(want_score), type(s)


def test_every_input_library_is_stored_by_a_real_collector_as_the_equivalent_lists(collector):
    from sqlalchemy import create_engine, text

    rng = np.random.default_rng(17)
    n = 40
    data = rng.normal(50, 10, size=(n, 3)).round(6)
    labels = (data[:, 0] > 50).astype(np.int64)
    cols = {name: data[:, j] for j, name in enumerate(["income", "age", "debt_ratio"])}
    inputs: dict[str, tuple[Any, Any]] = {
        "lists": (data.tolist(), labels.tolist()),
        "numpy": (data, labels),
        "pandas": (pd.DataFrame(cols), pd.Series(labels)),
        "polars": (pl.DataFrame(cols), pl.Series(labels)),
        "pyarrow": (pa.table(cols), pa.chunked_array([labels[:15], labels[15:]])),
        "torch": (torch.from_numpy(data), torch.from_numpy(labels)),
        "dlpack": (Producer(data), Producer(labels)),
    }
    mon = Monitor(
        "credit", "v1", collector=collector.url, token=collector.ingest, sample_rate=1.0,
        feature_names=list(cols), flush_interval=0.1,
    )  # fmt: skip
    try:
        for kind, (features, y) in inputs.items():
            with mon.observe(ids=[f"{kind}-{i}" for i in range(n)], features=features) as obs:
                obs.predictions(y)
        assert mon.flush(timeout=30) and mon.internal_errors == 0 and mon.dropped_total == 0
    finally:
        mon.close(timeout=1)
    engine = create_engine(collector.database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT record_id, features, prediction FROM records")).all()
    engine.dispose()
    by_kind: dict[str, dict[int, tuple[Any, Any]]] = {}
    for rid, features, prediction in rows:  # SQLite hands JSON columns back as text
        kind, _, i = rid.rpartition("-")
        by_kind.setdefault(kind, {})[int(i)] = tuple(
            json.loads(v) if isinstance(v, str) else v for v in (features, prediction)
        )
    assert set(by_kind) == set(inputs) and len(by_kind["lists"]) == n
    assert by_kind["lists"][3] == (dict(zip(cols, data[3].tolist(), strict=True)), int(labels[3]))
    for kind, got in by_kind.items():
        assert got == by_kind["lists"], kind
