"""Every supported shape of features, predictions, scores and slices becomes the same plain record."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk import MockTransport, Monitor, stable_hash, wire
from sdk.convert import plain
from sdk.sampling import VECTOR_MIN, sampled_indices, threshold

torch = pytest.importorskip("torch")

FAST = {"flush_interval": 0.05, "initial_backoff": 0.01, "max_backoff": 0.05}
IDS = ["a", "b", "c"]
EXPECTED = {
    "a": {"income": 1.5, "region": "EU"},
    "b": {"income": 2.5, "region": "US"},
    "c": {"income": 3.5, "region": "EU"},
}


@pytest.fixture
def make():
    """Build monitors (rate 1 unless told) on a recording MockTransport and close them after the test."""
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


FEATURE_SHAPES = {
    "dict of lists": lambda: {"income": [1.5, 2.5, 3.5], "region": ["EU", "US", "EU"]},
    "dict of numpy columns": lambda: {
        "income": np.array([1.5, 2.5, 3.5]),
        "region": np.array(["EU", "US", "EU"]),
    },
    "dict of pandas columns": lambda: {
        "income": pd.Series([1.5, 2.5, 3.5], index=[7, 8, 9]),
        "region": pd.Series(["EU", "US", "EU"], index=[7, 8, 9]),
    },
    "list of dicts": lambda: [{"income": v, "region": r} for v, r in [(1.5, "EU"), (2.5, "US"), (3.5, "EU")]],
    "numpy structured array": lambda: np.array(
        [(1.5, "EU"), (2.5, "US"), (3.5, "EU")], dtype=[("income", "f8"), ("region", "U2")]
    ),
    "pandas DataFrame with a shuffled index": lambda: pd.DataFrame(
        {"income": [1.5, 2.5, 3.5], "region": ["EU", "US", "EU"]}, index=[30, 10, 20]
    ),
    "polars DataFrame": lambda: pl.DataFrame({"income": [1.5, 2.5, 3.5], "region": ["EU", "US", "EU"]}),
    "dict of polars Series": lambda: {
        "income": pl.Series("x", [1.5, 2.5, 3.5]),
        "region": pl.Series("y", ["EU", "US", "EU"], dtype=pl.Categorical),
    },
    "pyarrow Table": lambda: pa.table({"income": [1.5, 2.5, 3.5], "region": ["EU", "US", "EU"]}),
    "pyarrow RecordBatch": lambda: pa.record_batch({"income": [1.5, 2.5, 3.5], "region": ["EU", "US", "EU"]}),
    "dict of pyarrow arrays (one chunked, one dictionary-encoded)": lambda: {
        "income": pa.chunked_array([[1.5], [2.5, 3.5]]),
        "region": pa.array(["EU", "US", "EU"]).dictionary_encode(),
    },
}


@pytest.mark.parametrize("shape", list(FEATURE_SHAPES))
def test_named_feature_shapes_all_become_the_same_records(make, shape):
    mon = make()
    with mon.observe(ids=IDS, features=FEATURE_SHAPES[shape]()) as obs:
        obs.predictions([1, 0, 1])
    got = records(mon)
    assert {rid: r["features"] for rid, r in got.items()} == EXPECTED
    assert [got[i]["prediction"] for i in IDS] == [1, 0, 1]


PREDICTION_SHAPES = {
    "numpy": lambda: (np.array([1, 0, 1]), np.array([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]])),
    "pandas": lambda: (
        pd.Series([1, 0, 1], index=[5, 6, 7]),
        pd.DataFrame({"p0": [0.2, 0.9, 0.4], "p1": [0.8, 0.1, 0.6]}).to_numpy(),
    ),
    "polars": lambda: (pl.Series([1, 0, 1]), pl.Series([0.8, 0.1, 0.6])),
    "pyarrow": lambda: (pa.array([1, 0, 1]), pa.chunked_array([[0.8], [0.1, 0.6]])),
    "torch": lambda: (torch.tensor([1, 0, 1]), torch.tensor([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]])),
}


@pytest.mark.parametrize("shape", list(PREDICTION_SHAPES))
def test_predictions_and_scores_of_every_library_become_the_same_records(make, shape):
    mon = make()
    y, scores = PREDICTION_SHAPES[shape]()
    with mon.observe(
        ids=pa.array(IDS) if shape == "pyarrow" else IDS, slices={"shard": pl.Series([3, 4, 5])}
    ) as obs:
        obs.predictions(y, scores=scores)
    got = records(mon)
    assert [got[i]["prediction"] for i in IDS] == [1, 0, 1]
    assert [got[i]["score"] for i in IDS] == pytest.approx([0.8, 0.1, 0.6])
    assert [got[i]["slices"] for i in IDS] == [{"shard": 3}, {"shard": 4}, {"shard": 5}]


def test_a_polars_frame_and_an_arrow_table_give_each_sampled_row_its_own_values(make):
    n = 3000
    frame = {"row": list(range(n)), "half": [i / 2 for i in range(n)], "tag": [f"t{i % 5}" for i in range(n)]}
    ids = [f"r{i}" for i in range(n)]
    for features in (pl.DataFrame(frame), pa.table(frame)):
        mon = make(sample_rate=0.05)
        with mon.observe(ids=ids, features=features) as obs:
            obs.predictions(
                pl.Series(frame["row"]) % 2 if isinstance(features, pl.DataFrame) else pa.array(frame["row"])
            )
        got = records(mon)
        assert 75 < len(got) < 225 and set(got) == set(obs.sampled_ids)
        for rid, rec in got.items():
            i = int(rid[1:])
            assert rec["features"] == {"row": i, "half": i / 2, "tag": f"t{i % 5}"}
            assert rec["prediction"] == (i % 2 if isinstance(features, pl.DataFrame) else i)


def test_without_ids_a_polars_frame_and_an_arrow_table_count_their_rows(make):
    mon = make()
    with mon.observe(features=pl.DataFrame({"a": [1, 2, 3, 4]})):
        pass
    with mon.observe(features=pa.table({"a": [5, 6]})):
        pass
    got = records(mon)
    assert sorted(r["features"]["a"] for r in got.values()) == [1, 2, 3, 4, 5, 6]


def test_a_dict_of_scalars_is_one_row(make):
    mon = make()
    with mon.observe(
        ids="req-9", features={"income": np.float32(2.5), "region": "EU", "vip": np.bool_(True)}
    ) as obs:
        obs.predictions(np.int64(1))
    [rec] = records(mon).values()
    assert rec["features"] == {"income": 2.5, "region": "EU", "vip": True}
    assert rec["prediction"] == 1 and type(rec["prediction"]) is int


def test_a_numpy_matrix_uses_feature_names_from_the_monitor_or_the_call(make):
    x = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    mon = make(feature_names=["income", "age"])
    with mon.observe(ids=IDS, features=x) as obs:
        obs.predictions(np.array([1, 0, 1]))
    with mon.observe(ids=["d"], features=x[:1], feature_names=["p", "q"]):
        pass
    with mon.observe(ids=["e"], features=np.array([5.0, 6.0, 7.0])):  # 1-D: one row, extra column named f2
        pass
    got = records(mon)
    assert got["b"]["features"] == {"income": 2.0, "age": 20.0}
    assert got["d"]["features"] == {"p": 1.0, "q": 10.0}
    assert got["e"]["features"] == {"income": 5.0, "age": 6.0, "f2": 7.0}
    assert [got[i]["prediction"] for i in IDS] == [1, 0, 1]


def test_a_numpy_matrix_without_names_gets_positional_names(make):
    mon = make()
    with mon.observe(ids=["a"], features=np.array([[1, 2]])):
        pass
    assert records(mon)["a"]["features"] == {"f0": 1, "f1": 2}


def test_a_cpu_tensor_with_predictions_and_two_column_scores_becomes_plain_records(make):
    mon = make(feature_names=["income", "age"])
    x = torch.tensor([[1.5, 10.0], [2.5, 20.0], [3.5, 30.0]])
    with mon.observe(ids=torch.tensor([101, 102, 103]), features=x) as obs:
        probs = torch.tensor([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]])
        obs.predictions(probs.argmax(dim=1), scores=probs)
    got = records(mon)
    assert got["102"]["features"] == {"income": 2.5, "age": 20.0}
    assert [got[i]["prediction"] for i in ("101", "102", "103")] == [1, 0, 1]
    assert [got[i]["score"] for i in ("101", "102", "103")] == pytest.approx([0.8, 0.1, 0.6])


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device here: the CPU tensor test covers the logic"
)
def test_a_cuda_tensor_is_indexed_on_the_device_and_only_sampled_rows_are_copied(make):
    mon = make(sample_rate=0.5, feature_names=["x", "y"])
    x = torch.arange(2000, dtype=torch.float32, device="cuda").reshape(1000, 2)
    ids = [f"r{i}" for i in range(1000)]
    with mon.observe(ids=ids, features=x) as obs:
        obs.predictions(torch.ones(1000, device="cuda"), scores=torch.full((1000,), 0.25, device="cuda"))
    got = records(mon)
    assert 400 < len(got) < 600
    for rid, rec in got.items():
        i = int(rid[1:])
        assert rec["features"] == {"x": 2.0 * i, "y": 2.0 * i + 1} and rec["score"] == 0.25


class FakeTensor:
    """Looks like a torch tensor to the SDK and records which rows were copied to the CPU."""

    __module__ = "torch"
    copied: list[int] = []

    def __init__(self, rows: list[list[float]], device: str = "cuda:0") -> None:
        self.rows = rows
        self.device = device

    def dim(self) -> int:
        return 2

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), len(self.rows[0]))

    dtype = None

    def __getitem__(self, idx: list[int]) -> FakeTensor:
        return FakeTensor([self.rows[i] for i in idx], self.device)

    def detach(self) -> FakeTensor:
        return self

    def cpu(self) -> FakeTensor:
        FakeTensor.copied.append(len(self.rows))
        return FakeTensor(self.rows, "cpu")

    def reshape(self, *shape: int) -> FakeTensor:
        return self

    def tolist(self) -> list[list[float]]:
        assert self.device == "cpu", "tolist() before .cpu() would copy from the device"
        return self.rows


def test_a_device_tensor_is_indexed_before_anything_is_copied_off_the_device(make):
    FakeTensor.copied = []
    mon = make(sample_rate=0.01)
    ids = [f"r{i}" for i in range(5000)]
    with mon.observe(ids=ids, features=FakeTensor([[float(i)] for i in range(5000)])):
        pass
    got = records(mon)
    assert FakeTensor.copied == [len(got)]
    assert all(rec["features"] == {"f0": float(rid[1:])} for rid, rec in got.items())


def test_only_sampled_rows_are_shipped_and_each_keeps_its_own_row(make):
    mon = make(sample_rate=0.05, feature_names=["row"])
    n = 4000
    ids = [f"r{i}" for i in range(n)]
    with mon.observe(
        ids=ids, features=np.arange(n).reshape(n, 1), slices={"shard": np.arange(n) % 7, "dc": "eu-1"}
    ) as obs:
        obs.predictions(np.arange(n) % 2, scores=np.linspace(0, 1, n))
    got = records(mon)
    assert 150 < len(got) < 250
    assert set(got) == set(obs.sampled_ids)
    for rid, rec in got.items():
        i = int(rid[1:])
        assert rec["features"] == {"row": i}
        assert rec["prediction"] == i % 2
        assert rec["score"] == pytest.approx(i / (n - 1))
        assert rec["slices"] == {"shard": i % 7, "dc": "eu-1"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), None),
        (np.float64("nan"), None),
        (float("inf"), None),
        (np.int16(7), 7),
        (np.str_("EU"), "EU"),
        (np.bool_(False), False),
        (torch.tensor(2.5), 2.5),
        (pd.NA, None),
        (pd.NaT, None),
        (dt.datetime(2024, 1, 15, 10, 30), "2024-01-15T10:30:00"),
        ([1, 2.5, "x"], '[1,2.5,"x"]'),
        (b"raw\x00bytes", "rawbytes"),
        ("nul\x00char", "nulchar"),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_values_become_json_scalars(value, expected):
    assert plain(value) == expected


def test_a_timestamp_override_sets_the_event_time_of_every_row(make):
    mon = make(clock=lambda: 1_700_000_000.0)
    with mon.observe(ids=["a"], timestamp=1_600_000_000.5):
        pass
    with mon.observe(ids=["b"], timestamp=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)):
        pass
    with mon.observe(ids=["c"]):
        pass
    got = records(mon)
    assert (got["a"]["ts"], got["b"]["ts"], got["c"]["ts"]) == (
        1_600_000_000.5,
        1_704_067_200.0,
        1_700_000_000.0,
    )


def test_a_record_with_an_id_or_timestamp_the_collector_would_refuse_is_dropped_alone(make):
    mon = make()
    with mon.observe(ids=["x" * 300, "ok"], features={"v": [1, 2]}):
        pass
    with mon.observe(ids=["ms"], timestamp=1_700_000_000_000):  # milliseconds by mistake
        pass
    got = records(mon)
    assert list(got) == ["ok"]
    assert mon.dropped_total == 2


def test_scalar_and_missing_predictions_and_scores(make):
    mon = make()
    with mon.observe(ids=["a", "b"]) as obs:
        obs.predictions("approve", scores=np.array([[0.3, 0.7], [0.6, 0.4]]))
    with mon.observe(ids=["c"]):
        pass
    with mon.observe(ids=["d"]) as obs:
        obs.predictions([np.nan], scores=[math.inf])
    got = records(mon)
    assert (got["a"]["prediction"], got["b"]["prediction"]) == ("approve", "approve")
    assert (got["a"]["score"], got["b"]["score"]) == (0.7, 0.4)
    assert got["c"]["prediction"] is None and "score" not in got["c"]
    assert got["d"]["prediction"] is None and "score" not in got["d"]


def test_a_mixed_pandas_frame_keeps_each_columns_own_type(make):
    frame = pd.DataFrame(
        {
            "count": [1, 2, 3],
            "amount": [0.5, 1.5, 2.5],
            "code": pd.array([7, None, 9], dtype="Int64"),
            "tier": pd.Categorical(["gold", "silver", "gold"]),
            "seen": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        }
    )
    mon = make()
    with mon.observe(ids=IDS, features=frame, slices={"tier": frame["tier"], "count": frame["count"]}):
        pass
    got = records(mon)
    assert got["b"]["features"] == {
        "count": 2,
        "amount": 1.5,
        "code": None,
        "tier": "silver",
        "seen": "2024-01-02T00:00:00",
    }
    assert type(got["a"]["features"]["count"]) is int and got["a"]["features"]["code"] == 7
    assert got["c"]["slices"] == {"tier": "gold", "count": 3}


@settings(max_examples=40, deadline=None)
@given(
    ids=st.lists(st.text(min_size=1, max_size=12), min_size=VECTOR_MIN, max_size=VECTOR_MIN + 300),
    rate=st.floats(0.0, 1.0),
)
def test_large_batches_are_sampled_by_the_same_per_id_rule(ids, rate):
    # numpy is loaded here, so batches of VECTOR_MIN ids or more take the vectorised path
    limit = threshold(rate)
    assert sampled_indices(ids, limit) == [i for i, rid in enumerate(ids) if stable_hash(rid) < limit]
