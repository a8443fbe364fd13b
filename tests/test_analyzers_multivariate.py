"""Multivariate and embedding drift: encoding with a frozen VectorSchema, MMD and LSDD verdicts, determinism."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from scipy.stats import ks_2samp

from analyzers.correction import adjust_p_values
from analyzers.multivariate import (
    EXTRA,
    DetectorCache,
    MultivariateDetector,
    VectorFeature,
    VectorSchema,
    encode,
    fit_schema,
    subsample,
)
from tests.conftest import ROOT, missing

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

N_NUMERIC = 20
LEVEL = 0.05


@pytest.fixture(scope="module")
def extra() -> Iterator[None]:
    """alibi-detect and torch, the multivariate extra: skipped without them locally, a failure in CI."""
    absent = [m for m in ("alibi_detect", "torch") if importlib.util.find_spec(m) is None]
    if absent:
        missing(f"{' and '.join(absent)} (the multivariate extra)", EXTRA)
    yield


def tabular(n: int, seed: int, rho: float = 0.8) -> dict[str, Any]:
    """20 standard-normal features, x0 and x1 correlated by `rho`, and two categorical features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_NUMERIC))
    x[:, 1] = rho * x[:, 0] + np.sqrt(1 - rho**2) * x[:, 1]  # still N(0, 1): only the pair's correlation moves
    columns: dict[str, Any] = {f"x{j}": x[:, j] for j in range(N_NUMERIC)}
    columns["region"] = rng.choice(["EU", "US", "APAC"], size=n, p=[0.5, 0.3, 0.2]).tolist()
    columns["tier"] = rng.choice(["free", "pro"], size=n, p=[0.7, 0.3]).tolist()
    return columns


CENTERS = np.random.default_rng(42).normal(size=(4, 32))


def embeddings(n: int, seed: int, mix: tuple[float, ...]) -> list[list[float]]:
    """32-dim embeddings from four clusters drawn in the proportions `mix`."""
    rng = np.random.default_rng(seed)
    cluster = rng.choice(len(CENTERS), size=n, p=mix)
    return (CENTERS[cluster] + rng.normal(size=(n, CENTERS.shape[1]))).tolist()


@pytest.fixture(scope="module")
def reference() -> tuple[VectorSchema, np.ndarray]:
    columns = tabular(2000, seed=0)
    schema = fit_schema(columns)
    return schema, encode(columns, schema)


@pytest.fixture(scope="module")
def mmd(extra: None, reference: tuple[VectorSchema, np.ndarray]) -> MultivariateDetector:
    return MultivariateDetector(reference[1], "mmd", p_val=LEVEL, device="cpu")


@pytest.fixture(scope="module")
def lsdd(extra: None, reference: tuple[VectorSchema, np.ndarray]) -> MultivariateDetector:
    return MultivariateDetector(reference[1], "lsdd", p_val=LEVEL, device="cpu")


# --- encoding -------------------------------------------------------------------------------------------


def test_numeric_features_are_standardised_with_the_reference_mean_and_sd_not_the_window_s():
    schema = fit_schema({"x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    sd = float(np.std([1, 2, 3, 4, 5], ddof=1))
    assert schema.features[0] == VectorFeature("x", "numeric", mean=3.0, std=sd)
    window = encode({"x": [3.0, 3.0 + sd, 100.0]}, schema)
    assert window.dtype == np.float32
    np.testing.assert_allclose(window[:, 0], [0.0, 1.0, 97.0 / sd], rtol=1e-6)


def test_missing_values_become_the_reference_mean_or_an_all_zero_one_hot():
    reference = {"x": [0.0, 10.0, 20.0], "c": ["a", "b", "a"], "e": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]}
    schema = fit_schema(reference)
    assert [f.kind for f in schema.features] == ["numeric", "categorical", "embedding"]
    assert schema.column_names() == ("x", "c=a", "c=b", "c=<unseen>", "e[0]", "e[1]")
    window = [{"x": None, "c": None, "e": None}, {"x": float("nan"), "c": float("nan"), "e": [1.0, 2.0, 3.0]},
              {"x": "ten", "e": [float("inf"), 0.0]}, {}]
    out = encode(window, schema)
    # every row: x at the reference mean (0 once standardised), no category column set, e at the center (3, 4)
    np.testing.assert_array_equal(out, np.tile([0, 0, 0, 0, 3, 4], (4, 1)).astype(np.float32))


def test_unseen_categories_fill_the_trailing_column_and_known_ones_their_own():
    schema = fit_schema({"c": ["b", "a", "a", "c", "a", "b"]})
    assert schema.features[0].categories == ("a", "b", "c")  # most frequent first, then by name
    out = encode({"c": ["a", "c", "zzz", "b", 7]}, schema)
    np.testing.assert_array_equal(out, [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 1]])


def test_rows_columns_and_a_dataframe_encode_alike_and_extra_features_are_ignored():
    pd = pytest.importorskip("pandas")
    columns: dict[str, list[Any]] = {"x": [1.0, 2.0, 4.0], "c": ["a", "b", "a"]}
    schema = fit_schema(columns)
    rows = [{"x": x, "c": c, "ignored": "yes"} for x, c in zip(columns["x"], columns["c"], strict=True)]
    by_columns = encode(columns, schema)
    np.testing.assert_array_equal(encode(rows, schema), by_columns)
    np.testing.assert_array_equal(encode(pd.DataFrame(columns), schema), by_columns)
    np.testing.assert_array_equal(schema.encode(columns), by_columns)


def test_kinds_pick_and_type_the_features_to_encode():
    reference = {"code": [1, 2, 1, 3], "income": [10.0, 20.0, 30.0, 40.0], "email": ["a@x", "b@x", "c@x", "d@x"]}
    schema = fit_schema(reference, kinds={"code": "categorical", "income": "numeric"})
    assert [(f.name, f.kind) for f in schema.features] == [("code", "categorical"), ("income", "numeric")]
    assert schema.features[0].categories == ("1", "2", "3")
    assert schema.dim == 5


def test_vector_schema_survives_a_json_round_trip_and_encodes_identically():
    columns = tabular(300, seed=3)
    columns["emb"] = embeddings(300, seed=3, mix=(0.25,) * 4)
    schema = fit_schema(columns, max_categories=2)
    stored = json.loads(json.dumps(schema.to_dict()))
    assert stored["version"] == 1
    assert stored["features"][0] == {"name": "x0", "kind": "numeric", "mean": schema.features[0].mean,
                                     "std": schema.features[0].std}
    assert stored["features"][N_NUMERIC] == {"name": "region", "kind": "categorical", "categories": ["EU", "US"]}
    assert stored["features"][-1]["kind"] == "embedding" and len(stored["features"][-1]["center"]) == 32
    again = VectorSchema.from_dict(stored)
    assert again == schema
    assert again.dim == N_NUMERIC + 3 + 3 + 32
    np.testing.assert_array_equal(encode(tabular(50, seed=4), again), encode(tabular(50, seed=4), schema))


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: encode(np.zeros((3, 3)), s), "records must be columns"),
    (lambda s: encode("x", s), "records must be columns"),
    (lambda s: encode([{"x": 1.0}, [1.0]], s), "row 1 is a list, not a mapping"),
    (lambda s: encode({"x": [1.0, 2.0], "c": ["a"]}, s), "same length"),
    (lambda s: encode({"x": 1.0}, s), "column 'x' must be a sequence"),
    (lambda s: fit_schema({"t": ["hi", "yo"]}, kinds={"t": "text"}), "text features are not encoded"),
    (lambda s: fit_schema({"x": [1.0]}, kinds={"y": "numeric"}), "no column for 'y'"),
    (lambda s: fit_schema({"e": [[1.0, 2.0], [1.0]]}), "share one length"),
    (lambda s: fit_schema([]), "no records"),
    (lambda s: VectorSchema.from_dict({"version": 9, "features": s.to_dict()["features"]}), "version 9"),
])
def test_wrong_input_raises_a_value_error_that_names_the_problem(call: Any, message: str) -> None:
    schema = fit_schema({"x": [1.0, 2.0], "c": ["a", "b"]})
    with pytest.raises(ValueError, match=message):
        call(schema)


def test_subsampling_is_systematic_and_spans_the_whole_array():
    x = np.arange(1000, dtype=np.float32).reshape(-1, 1)
    picked = subsample(x, 10)[:, 0]
    np.testing.assert_array_equal(picked, np.arange(0, 1000, 100))
    assert subsample(x, 5000) is x


# --- the extra ------------------------------------------------------------------------------------------


def test_importing_analyzers_loads_neither_torch_nor_alibi_detect():
    code = ("import sys, analyzers, analyzers.multivariate; "
            "print(sorted(m for m in ('torch', 'alibi_detect') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


def test_without_the_extra_building_a_detector_names_the_install_command(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "alibi_detect", None)  # makes `import alibi_detect` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'driftline\[multivariate\]'"):
        MultivariateDetector(np.zeros((50, 3), dtype=np.float32))


# --- verdicts -------------------------------------------------------------------------------------------


def test_windows_from_the_reference_distribution_are_not_flagged(
    reference: tuple[VectorSchema, np.ndarray], mmd: MultivariateDetector, lsdd: MultivariateDetector
):
    schema = reference[0]
    results = [det.test(encode(tabular(500, seed), schema)) for seed in range(1, 6) for det in (mmd, lsdd)]
    assert [r.status for r in results] == ["ok"] * len(results), [r.p_value for r in results]
    assert all(r.p_value is not None and r.p_value >= LEVEL and r.drift is False for r in results)
    assert {(r.n_reference, r.n_current) for r in results} == {(500, 500)}  # 2,000 reference rows subsampled


def test_a_correlation_flip_that_leaves_every_marginal_alone_is_caught_by_mmd_not_by_per_feature_ks(
    reference: tuple[VectorSchema, np.ndarray], mmd: MultivariateDetector
):
    """The reason multivariate drift exists: x0 and x1 go from +0.8 to -0.8 correlated, each still N(0, 1)."""
    ref, window = tabular(2000, seed=0), tabular(500, seed=1, rho=-0.8)
    assert np.corrcoef(window["x0"], window["x1"])[0, 1] < -0.7
    p = [ks_2samp(ref[f"x{j}"], window[f"x{j}"]).pvalue for j in range(N_NUMERIC)]
    assert min(adjust_p_values(p, "benjamini-hochberg")) > LEVEL  # univariate KS, corrected as the product does
    assert min(p[0], p[1]) > LEVEL  # not even the raw p-values of the two features whose correlation flipped
    result = mmd.test(encode(window, reference[0]))
    assert result.status == "drift" and result.drift is True
    assert result.p_value is not None and result.p_value < LEVEL
    assert result.threshold is not None and result.distance > result.threshold


@pytest.mark.parametrize("method", ["mmd", "lsdd"])
def test_a_change_in_the_cluster_mix_of_embeddings_is_flagged(extra: None, method: str) -> None:
    reference = {"emb": embeddings(1500, seed=0, mix=(0.25, 0.25, 0.25, 0.25))}
    schema = fit_schema(reference)
    assert schema.dim == 32
    detector = MultivariateDetector(encode(reference, schema), method, device="cpu")  # type: ignore[arg-type]
    same = detector.test(encode({"emb": embeddings(400, seed=1, mix=(0.25, 0.25, 0.25, 0.25))}, schema))
    moved = detector.test(encode({"emb": embeddings(400, seed=1, mix=(0.55, 0.15, 0.15, 0.15))}, schema))
    assert same.status == "ok", same
    assert moved.status == "drift", moved
    assert moved.p_value is not None and moved.p_value < 0.01


def test_many_unseen_categories_are_drift(reference: tuple[VectorSchema, np.ndarray], mmd: MultivariateDetector):
    window = tabular(500, seed=7)
    window["region"] = ["LATAM" if i % 4 == 0 else r for i, r in enumerate(window["region"])]
    vectors = encode(window, reference[0])
    unseen = reference[0].column_names().index("region=<unseen>")
    assert vectors[:, unseen].sum() == 125
    assert mmd.test(vectors).status == "drift"


@pytest.mark.parametrize("method", ["mmd", "lsdd"])
def test_the_same_seed_gives_the_same_p_value_and_leaves_global_generators_alone(
    reference: tuple[VectorSchema, np.ndarray], method: str, extra: None
) -> None:
    import torch

    window = encode(tabular(400, seed=11, rho=0.5), reference[0])
    first = MultivariateDetector(reference[1], method, seed=3, device="cpu")  # type: ignore[arg-type]
    torch.manual_seed(99)
    np.random.seed(99)
    a = first.test(window)
    after = (torch.rand(3), np.random.rand(3))
    torch.manual_seed(99)
    np.random.seed(99)
    assert torch.equal(torch.rand(3), after[0]) and np.array_equal(np.random.rand(3), after[1])
    assert first.test(window) == a
    assert MultivariateDetector(reference[1], method, seed=3, device="cpu").test(window) == a  # type: ignore[arg-type]
    assert a.p_value is not None and 0 < a.p_value < 1  # a p-value the permutations decide, not a degenerate 0 or 1


def test_too_few_window_rows_are_insufficient_data_without_running_the_test(
    reference: tuple[VectorSchema, np.ndarray], mmd: MultivariateDetector, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(mmd._detector, "predict", lambda *a, **k: pytest.fail("alibi-detect was called"))
    result = mmd.test(encode(tabular(29, seed=5), reference[0]))
    assert (result.status, result.drift, result.p_value, result.threshold) == ("insufficient_data", None, None, None)
    assert result.n_current == 29 and result.method == "mmd" and result.backend == "pytorch"
    assert result.device == "cpu"
    assert json.loads(json.dumps(result.to_dict()))["distance"] is None


def test_detector_input_errors_are_clear(reference: tuple[VectorSchema, np.ndarray], mmd: MultivariateDetector):
    assert reference[0].dim == 27
    with pytest.raises(ValueError, match="26 columns, the reference 27"):
        mmd.test(np.zeros((100, 26), dtype=np.float32))
    with pytest.raises(ValueError, match="2-D array"):
        mmd.test(np.zeros(100))
    with pytest.raises(ValueError, match="NaN or infinite"):
        mmd.test(np.full((100, 27), np.nan))
    with pytest.raises(ValueError, match="method must be one of mmd, lsdd"):
        MultivariateDetector(reference[1], "energy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fewer than min_count"):
        MultivariateDetector(reference[1][:10], "mmd")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            MultivariateDetector(reference[1], "mmd", device="cuda")


def test_auto_device_is_cuda_exactly_when_torch_sees_one(reference: tuple[VectorSchema, np.ndarray], extra: None):
    import torch

    detector = MultivariateDetector(reference[1][:100], "lsdd", device="auto")
    assert detector.device.startswith("cuda" if torch.cuda.is_available() else "cpu")
    assert detector.test(reference[1][100:200]).device == detector.device


def test_the_cache_fits_once_per_key_and_drops_the_least_recently_used():
    fits: list[str] = []

    def fit(key: str) -> Any:
        fits.append(key)
        return object()

    cache = DetectorCache(max_size=2)
    a = cache.get("a", lambda: fit("a"))
    assert cache.get("a", lambda: fit("a")) is a
    cache.get("b", lambda: fit("b"))
    cache.get("a", lambda: fit("a"))  # a is now the most recently used
    cache.get("c", lambda: fit("c"))  # evicts b
    assert fits == ["a", "b", "c"] and "b" not in cache and "a" in cache and len(cache) == 2
    cache.discard("a")
    assert "a" not in cache
