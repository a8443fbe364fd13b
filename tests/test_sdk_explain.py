"""``Monitor(explainer=...)``: attributions computed on the shipper thread and sent with sampled records."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
import shap
from sklearn.ensemble import RandomForestClassifier

from sdk import MockTransport, Monitor, wire
from sdk.explain import checked_attributions, shap_explainer
from sdk.shipper import EXPLAIN_RETRY_CALLS

ROOT = Path(__file__).resolve().parent.parent
FAST = {"flush_interval": 0.05, "initial_backoff": 0.01, "max_backoff": 0.05}
NAMES = ["income", "age", "debt"]


@pytest.fixture
def make():
    """Build rate-1 monitors on a mock transport and close them after the test."""
    made: list[Monitor] = []

    def build(transport: Any = None, **kw: Any) -> Monitor:
        mon = Monitor("credit", "v7", transport=transport or MockTransport(), **{"sample_rate": 1.0, **FAST, **kw})
        made.append(mon)
        return mon

    yield build
    for mon in made:
        mon.close(1.0)


def shipped(t: MockTransport) -> dict[str, dict[str, Any]]:
    """Records the collector would have stored, by id."""
    bodies = {b["batch_id"]: b for b in t.bodies(wire.RECORDS_PATH)}.values()
    return {r["id"]: r for b in bodies for r in b["records"]}


@pytest.fixture(scope="module")
def credit() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(800, 3)) * [20_000, 10, 5_000] + [50_000, 40, 10_000]
    y = (rng.random(800) < 1 / (1 + np.exp(-(X[:, 0] - 50_000) / 10_000 + (X[:, 2] - 10_000) / 5_000))).astype(int)
    return X, y


def test_shipped_records_carry_the_shap_values_of_a_lightgbm_model(make, credit):
    X, y = credit
    model = lgb.LGBMClassifier(n_estimators=30, verbose=-1).fit(X, y)
    tree = shap.TreeExplainer(model)
    t = MockTransport()
    mon = make(t, explainer=shap_explainer(tree, NAMES), feature_names=NAMES)
    rows = X[:40]
    ids = [f"r{i}" for i in range(40)]
    with mon.observe(ids=ids, features=rows) as obs:
        obs.predictions(model.predict(rows))
    assert mon.flush(10.0)
    records = shipped(t)
    expected = tree(rows).values
    margin = model.predict(rows, raw_score=True)
    for i, rid in enumerate(ids):
        att = records[rid]["attributions"]
        assert list(att["values"]) == NAMES
        assert [att["values"][n] for n in NAMES] == pytest.approx(expected[i].tolist(), abs=1e-12)
        assert att["base"] + sum(att["values"].values()) == pytest.approx(margin[i], abs=1e-6)
    assert mon.explain_errors == 0


def test_a_forest_is_explained_for_its_positive_class_on_the_features_before_redaction(make, credit):
    X, y = credit
    model = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0).fit(X, y)
    t = MockTransport()
    mon = make(t, explainer=shap_explainer(shap.TreeExplainer(model), NAMES), redact=["income"])
    features = [dict(zip(NAMES, row, strict=True)) for row in X[:10].tolist()]
    with mon.observe(ids=[f"r{i}" for i in range(10)], features=features) as obs:
        obs.predictions(model.predict(X[:10]))
    assert mon.flush(10.0)
    records = shipped(t)
    proba = model.predict_proba(X[:10])[:, 1]
    for i in range(10):
        rec = records[f"r{i}"]
        assert str(rec["features"]["income"]).startswith("sha256:")  # the value never left the process...
        att = rec["attributions"]  # ...but the model's view of it was explained
        assert att["base"] + sum(att["values"].values()) == pytest.approx(proba[i], abs=1e-9)
        assert att["values"]["income"] != 0.0


def test_a_raising_explainer_ships_the_records_without_attributions_counts_and_warns_once(make, caplog):
    def broken(rows: list[dict[str, Any]]) -> list[Any]:
        raise RuntimeError("CUDA out of memory")

    t = MockTransport()
    mon = make(t, explainer=broken, batch_size=5, flush_interval=60.0)
    with caplog.at_level(logging.WARNING, logger="driftline.sdk"):
        with mon.observe(ids=[f"r{i}" for i in range(10)], features={"income": list(range(10))}) as obs:
            obs.predictions([1] * 10)
        assert mon.flush(5.0)
    records = shipped(t)
    assert len(records) == 10 and not any("attributions" in r for r in records.values())
    assert mon.explain_errors == 2  # one per batch
    assert mon.internal_errors == 0 and mon.dropped_total == 0
    warnings = [r.getMessage() for r in caplog.records if "explainer" in r.getMessage()]
    assert len(warnings) == 1 and "RuntimeError: CUDA out of memory" in warnings[0]


def test_one_unparsable_row_costs_its_own_attributions_not_the_batchs(make, credit):
    """A real explainer (SHAP's, over float features) refuses a batch holding one "n/a": the batch is split
    until only that row goes without attributions, and the warning and counter say so once."""
    X, y = credit
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    t = MockTransport()
    mon = make(t, explainer=shap_explainer(shap.TreeExplainer(model), NAMES), batch_size=64, flush_interval=60.0)
    features = [dict(zip(NAMES, row, strict=True)) for row in X[:64].tolist()]
    features[37]["age"] = "n/a"
    with mon.observe(ids=[f"r{i}" for i in range(64)], features=features) as obs:
        obs.predictions([1] * 64)
    assert mon.flush(10.0)
    records = shipped(t)
    assert [i for i in range(64) if "attributions" not in records[f"r{i}"]] == [37]
    assert mon.explain_errors == 1


def test_an_explainer_that_always_raises_is_called_a_bounded_number_of_times(make):
    calls: list[int] = []

    def broken(rows: list[dict[str, Any]]) -> list[Any]:
        calls.append(len(rows))
        raise RuntimeError("CUDA out of memory")

    t = MockTransport()
    mon = make(t, explainer=broken, batch_size=1000, flush_interval=60.0)
    with mon.observe(ids=[f"r{i}" for i in range(1000)], features={"income": list(range(1000))}) as obs:
        obs.predictions([1] * 1000)
    assert mon.flush(10.0)
    assert len(shipped(t)) == 1000
    assert len(calls) == 1 + EXPLAIN_RETRY_CALLS and calls[0] == 1000
    assert mon.explain_errors == 1


@pytest.mark.parametrize(
    "result",
    [
        pytest.param([{"base": 0.1, "values": {"income": 0.2}}] * 2, id="two attributions for three records"),
        pytest.param({"base": 0.1, "values": {"income": 0.2}}, id="a dict instead of a list"),
        pytest.param([{"base": 0.1, "values": {"income": "high"}}] * 3, id="a string value"),
        pytest.param([{"base": 0.1, "values": [0.2]}] * 3, id="values not a dict"),
        pytest.param([{"base": 0.1, "values": {}, "extra": 1}] * 3, id="an unknown key"),
        pytest.param(np.zeros((3, 1)), id="a bare array"),
    ],
)
def test_a_wrong_shaped_result_ships_the_batch_without_attributions_and_counts_it(make, result):
    t = MockTransport()
    mon = make(t, explainer=lambda rows: result)
    with mon.observe(ids=["a", "b", "c"], features={"income": [1, 2, 3]}) as obs:
        obs.predictions([1, 0, 1])
    assert mon.flush(5.0)
    records = shipped(t)
    assert sorted(records) == ["a", "b", "c"] and not any("attributions" in r for r in records.values())
    assert mon.explain_errors == 1


def test_missing_entries_nan_values_and_numpy_numbers_are_sent_as_json_can_carry_them(make):
    result = [
        {"values": {"income": np.float32(0.5), "age": float("nan")}, "base": np.float64(0.1)},
        None,
        {"base": float("inf"), "values": {"income": -1}},
    ]
    t = MockTransport()
    mon = make(t, explainer=lambda rows: result)
    with mon.observe(ids=["a", "b", "c"], features={"income": [1, 2, 3]}) as obs:
        obs.predictions([1, 0, 1])
    assert mon.flush(5.0)
    records = shipped(t)
    assert records["a"]["attributions"] == {"base": pytest.approx(0.1), "values": {"income": 0.5}}
    assert "attributions" not in records["b"]
    assert records["c"]["attributions"] == {"base": None, "values": {"income": -1.0}}
    assert mon.explain_errors == 0


def test_serving_calls_return_while_the_explainer_is_blocked(make):
    entered, release = threading.Event(), threading.Event()

    def slow(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        entered.set()
        if not release.wait(10):  # a hook that blocked serving would keep the test from releasing it
            raise TimeoutError("never released")
        return [{"base": 0.0, "values": {"income": float(r["income"])}} for r in rows]

    t = MockTransport()
    mon = make(t, explainer=slow)
    with mon.observe(ids=["first"], features={"income": 1.0}) as obs:
        obs.predictions([1])
    assert entered.wait(10), "the shipper never called the explainer"
    for i in range(50):  # each call returns although the shipper is stuck inside the explainer
        with mon.observe(ids=[f"r{i}"], features={"income": float(i)}) as obs:
            obs.predictions([0])
    assert not release.is_set() and mon.queued == 50
    release.set()
    assert mon.flush(10.0)
    records = shipped(t)
    assert len(records) == 51
    assert all(r["attributions"]["values"]["income"] == r["features"]["income"] for r in records.values())


def test_each_record_is_explained_once_in_its_batch(make):
    seen: list[int] = []

    def count(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen.append(len(rows))
        return [{"base": None, "values": {"x": r["x"]}} for r in rows]

    t = MockTransport()
    mon = make(t, explainer=count, batch_size=10, flush_interval=60.0)
    with mon.observe(ids=[f"r{i}" for i in range(25)], features={"x": [float(i) for i in range(25)]}):
        pass
    assert mon.flush(5.0)
    assert seen == [10, 10, 5]
    assert {r["attributions"]["values"]["x"] for r in shipped(t).values()} == {float(i) for i in range(25)}


def test_shap_explainer_reads_explanations_tuples_and_arrays_in_chunks():
    calls: list[int] = []

    def array_model(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x * 2

    explain = shap_explainer(array_model, ["a", "b"], chunk_rows=4)
    out = explain([{"a": i, "b": None} for i in range(10)])
    assert calls == [4, 4, 2]
    assert out[3]["values"]["a"] == 6.0 and math.isnan(out[3]["values"]["b"]) and math.isnan(out[3]["base"])
    assert checked_attributions(out, 10)[3] == {"base": None, "values": {"a": 6.0}}

    three_class = shap_explainer(lambda x: (np.ones((len(x), 2, 3)), np.array([0.1, 0.2, 0.7])), ["a", "b"])
    with pytest.raises(ValueError, match="3 outputs; pass class_index"):
        three_class([{"a": 1, "b": 2}])
    pick = shap_explainer(lambda x: (np.ones((len(x), 2, 3)), np.array([0.1, 0.2, 0.7])), ["a", "b"], class_index=2)
    assert pick([{"a": 1, "b": 2}]) == [{"base": 0.7, "values": {"a": 1.0, "b": 1.0}}]

    encoded = shap_explainer(lambda x: x, ["is_eu"], encode=lambda rows: [[r["region"] == "EU"] for r in rows])
    assert [o["values"]["is_eu"] for o in encoded([{"region": "EU"}, {"region": "US"}])] == [1.0, 0.0]
    with pytest.raises(ValueError, match=r"shape \(2, 1\); expected \(2, 2\)"):
        shap_explainer(lambda x: x, ["a", "b"], encode=lambda rows: [[1.0]] * len(rows))([{}, {}])


def test_a_non_callable_explainer_is_refused_at_setup():
    with pytest.raises(TypeError, match="explainer must be callable"):
        Monitor("credit", transport=MockTransport(), explainer="shap")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="shap explainer or a callable"):
        shap_explainer(object(), ["a"])


def test_the_explain_module_imports_with_the_standard_library_alone():
    code = """
import sys
for name in ("numpy", "pandas", "torch", "shap"):
    sys.modules[name] = None  # any import of these now fails
from sdk import Monitor, MockTransport
from sdk.explain import shap_explainer, checked_attributions
t = MockTransport()
mon = Monitor("credit", "v7", transport=t, sample_rate=1.0,
              explainer=lambda rows: [{"base": 0.5, "values": {"x": r["x"] / 2}} for r in rows])
with mon.observe(ids=["a"], features={"x": 1.5}) as obs:
    obs.predictions([1])
assert mon.flush(5.0)
print(t.bodies("/v1/records")[0]["records"][0]["attributions"])
"""
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True, timeout=30,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.stdout.strip() == "{'base': 0.5, 'values': {'x': 0.75}}"
