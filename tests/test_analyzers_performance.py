"""Realized performance on joined rows equals a direct sklearn computation; intervals are Wilson's."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    precision_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from analyzers.performance import (
    BINARY_METRICS,
    LabelledRow,
    resample_indices,
    same_class,
    wilson_interval,
    window_performance,
)


def test_accuracy_per_slice_equals_sklearn_on_the_labelled_rows() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    region = rng.choice(["EU", "US"], n)
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < np.where(region == "EU", 0.9, 0.7), y, 1 - y)
    labelled = rng.random(n) < 0.8
    rows = [
        LabelledRow(int(p), int(t) if lab else None, {"region": str(r)})
        for p, t, lab, r in zip(pred, y, labelled, region, strict=True)
    ]
    got = {
        v.slice: v
        for v in window_performance(rows, prediction_type="binary", slice_columns=["region"])
        if v.metric == "accuracy"
    }
    for key, mask in (
        ("all", np.ones(n, bool)),
        ("region=EU", region == "EU"),
        ("region=US", region == "US"),
    ):
        m = mask & labelled
        assert got[key].value == pytest.approx(accuracy_score(y[m], pred[m]), abs=1e-12)
        assert (got[key].support, got[key].total) == (m.sum(), mask.sum())
        assert got[key].lower < got[key].value < got[key].upper
        assert got[key].status == "ok"


def test_mae_for_a_regressor_equals_sklearn() -> None:
    rng = np.random.default_rng(1)
    y, p = rng.normal(size=500), rng.normal(size=500)
    rows = [LabelledRow(float(a), float(b), {}) for a, b in zip(p, y, strict=True)]
    v = window_performance(rows, prediction_type="regression")[0]
    assert v.metric == "mae" and v.value == pytest.approx(mean_absolute_error(y, p), abs=1e-12)


def test_wilson_interval_matches_the_closed_form() -> None:
    k, n, z = 45, 50, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_interval(k, n) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_a_window_with_too_few_labels_is_immature_and_one_with_none_has_no_value() -> None:
    rows = [LabelledRow(1, 1 if i < 40 else None, {}) for i in range(100)]
    v = window_performance(rows, prediction_type="binary", min_coverage=0.5)[0]
    assert (v.metric, v.status, v.value, v.coverage) == ("accuracy", "immature", 1.0, 0.4)
    empty = window_performance([LabelledRow(1, None, {})], prediction_type="binary")[0]
    assert (empty.status, empty.value, empty.support) == ("insufficient_data", None, 0)


def test_slice_values_beyond_the_bound_fold_into_other() -> None:
    rows = [LabelledRow(1, 1, {"shop": f"s{i % 30}"}) for i in range(300)]
    keys = {
        v.slice
        for v in window_performance(
            rows, prediction_type="binary", slice_columns=["shop"], max_slice_values=5
        )
    }
    assert len(keys) == 1 + 5 + 1 and "shop=other" in keys


def test_numpy_scalars_are_the_same_class_as_python_ones() -> None:
    assert same_class(np.True_, 1) and same_class(np.int64(0), False) and same_class(np.float32(2.0), "2")
    assert not same_class(np.True_, 0)


@pytest.mark.parametrize(
    "a, b, same",
    [(1, 1.0, True), (1, "1", True), (True, 1, True), ("cat", "cat", True), (0, 1, False), ("a", "b", False)],
)
def test_classes_compare_across_wire_types(a: object, b: object, same: bool) -> None:
    assert same_class(a, b) is same


# --- every metric of the issue, per slice, against sklearn on the joined rows ---------------------------


def _ece_by_hand(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE from sklearn's calibration_curve (uniform bins) and the bins' counts."""
    prob_true, prob_pred = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, bins + 1)[1:-1], p), minlength=bins)
    counts = counts[counts > 0]
    return float(np.sum(counts / len(y) * np.abs(prob_true - prob_pred)))


def _binary_window(n: int = 3000, seed: int = 7) -> tuple[list[LabelledRow], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    region = rng.choice(["EU", "US", "APAC"], n, p=[0.5, 0.3, 0.2])
    y = rng.integers(0, 2, n)
    # scores informative but miscalibrated, with ties (rounded) so the AUC's tie rule is exercised
    score = np.round(np.clip(0.5 + (y - 0.5) * rng.uniform(0, 0.8, n) + rng.normal(0, 0.2, n), 0, 1), 2)
    pred = (score >= 0.5).astype(int)
    labelled = rng.random(n) < 0.9
    rows = [
        LabelledRow(int(pr), int(t) if lab else None, {"region": str(r)}, float(s))
        for pr, t, lab, r, s in zip(pred, y, labelled, region, score, strict=True)
    ]
    return rows, {"y": y, "pred": pred, "score": score, "labelled": labelled, "region": region}


def test_every_binary_metric_per_slice_equals_sklearn() -> None:
    rows, d = _binary_window()
    got = {
        (v.slice, v.metric): v
        for v in window_performance(rows, prediction_type="binary", slice_columns=["region"], resamples=0)
    }
    for key, mask in (
        ("all", np.ones(len(rows), bool)),
        *((f"region={r}", d["region"] == r) for r in ("EU", "US", "APAC")),
    ):
        m = mask & d["labelled"]
        y, pred, score = d["y"][m], d["pred"][m], d["score"][m]
        expected = {
            "accuracy": accuracy_score(y, pred),
            "precision": precision_score(y, pred),
            "recall": recall_score(y, pred),
            "f1": f1_score(y, pred),
            "roc_auc": roc_auc_score(y, score),
            "log_loss": log_loss(y, score),
            "ece": _ece_by_hand(y, score),
        }
        for metric, value in expected.items():
            v = got[(key, metric)]
            assert v.value == pytest.approx(value, abs=1e-9), (key, metric)
            assert v.status == "ok"
        assert got[(key, "precision")].support == (pred == 1).sum()
        assert got[(key, "recall")].support == (y == 1).sum()
        assert got[(key, "roc_auc")].support == m.sum() == got[(key, "f1")].support


def test_proportions_carry_wilson_intervals_equal_to_scipy() -> None:
    rows, d = _binary_window()
    got = {(v.slice, v.metric): v for v in window_performance(rows, prediction_type="binary", resamples=0)}
    y, pred = d["y"][d["labelled"]], d["pred"][d["labelled"]]
    for metric, k, n in (
        ("accuracy", (y == pred).sum(), len(y)),
        ("precision", ((pred == 1) & (y == 1)).sum(), (pred == 1).sum()),
        ("recall", ((pred == 1) & (y == 1)).sum(), (y == 1).sum()),
    ):
        ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
        v = got[("all", metric)]
        assert (v.lower, v.upper) == pytest.approx((ci.low, ci.high), abs=1e-12), metric


def _bootstrap_by_sklearn(
    fn: object, n: int, seed: str, metric: str, resamples: int, *arrays: np.ndarray
) -> tuple[float, float]:
    values = []
    for idx in resample_indices(n, resamples, zlib.crc32(f"{seed}/{metric}".encode())):
        for row in idx:
            try:
                values.append(fn(*(a[row] for a in arrays)))  # type: ignore[operator]
            except (
                ValueError
            ):  # e.g. roc_auc_score of a resample holding one class: left out, as the analyzer does
                continue
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def test_bootstrap_intervals_equal_sklearn_on_the_same_resamples() -> None:
    rows, d = _binary_window(n=400, seed=3)
    resamples = 200
    got = {
        (v.slice, v.metric): v
        for v in window_performance(rows, prediction_type="binary", resamples=resamples)
    }
    m = d["labelled"]
    y, pred, score = d["y"][m], d["pred"][m], d["score"][m]
    for metric, fn, arrays in (
        ("f1", f1_score, (y, pred)),
        ("roc_auc", roc_auc_score, (y, score)),
        ("log_loss", lambda a, b: log_loss(a, b, labels=[0, 1]), (y, score)),
        ("ece", _ece_by_hand, (y, score)),
    ):
        v = got[("all", metric)]
        rowset = "labelled" if metric == "f1" else "scored"
        expected = _bootstrap_by_sklearn(fn, len(y), "all", rowset, resamples, *arrays)
        assert (v.lower, v.upper) == pytest.approx(expected, abs=1e-9), metric
        assert v.lower < v.value < v.upper


def test_regression_metrics_and_their_intervals_equal_sklearn() -> None:
    rng = np.random.default_rng(11)
    n = 300
    y = rng.lognormal(3, 0.5, n)
    p = y * rng.normal(1, 0.1, n) + rng.normal(0, 2, n)
    rows = [LabelledRow(float(a), float(b), {}) for a, b in zip(p, y, strict=True)]
    got = {v.metric: v for v in window_performance(rows, prediction_type="regression", resamples=150)}
    for metric, fn in (
        ("mae", mean_absolute_error),
        ("rmse", root_mean_squared_error),
        ("mape", mean_absolute_percentage_error),
    ):
        v = got[metric]
        assert v.value == pytest.approx(fn(y, p), abs=1e-9), metric
        expected = _bootstrap_by_sklearn(lambda a, b, f=fn: f(a, b), n, "all", "labelled", 150, y, p)
        assert (v.lower, v.upper) == pytest.approx(expected, abs=1e-9), metric
        assert v.support == n and v.status == "ok"


def test_multiclass_macro_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(5)
    n = 600
    y = rng.choice(["cat", "dog", "eel"], n, p=[0.6, 0.3, 0.1])
    pred = np.where(rng.random(n) < 0.7, y, rng.choice(["cat", "dog", "eel", "fox"], n))
    rows = [LabelledRow(str(a), str(b), {}) for a, b in zip(pred, y, strict=True)]
    got = {v.metric: v for v in window_performance(rows, prediction_type="multiclass", resamples=100)}
    assert set(got) == {"accuracy", "precision", "recall", "f1"}
    for metric, fn in (
        ("precision", lambda a, b: precision_score(a, b, average="macro", zero_division=0)),
        ("recall", lambda a, b: recall_score(a, b, average="macro", zero_division=0)),
        ("f1", lambda a, b: f1_score(a, b, average="macro", zero_division=0)),
    ):
        assert got[metric].value == pytest.approx(fn(y, pred), abs=1e-12), metric
        expected = _bootstrap_by_sklearn(fn, n, "all", "labelled", 100, y, pred)
        assert (got[metric].lower, got[metric].upper) == pytest.approx(expected, abs=1e-9), metric
    assert got["accuracy"].value == pytest.approx(accuracy_score(y, pred), abs=1e-12)


def test_score_metrics_need_scores_and_report_no_value_without_them() -> None:
    rows = [LabelledRow(i % 2, (i // 2) % 2, {}) for i in range(200)]
    got = {v.metric: v for v in window_performance(rows, prediction_type="binary")}
    for metric in ("roc_auc", "log_loss", "ece"):
        assert (got[metric].value, got[metric].support, got[metric].status) == (None, 0, "insufficient_data")
    assert got["accuracy"].value == pytest.approx(0.5)


def test_intervals_are_reproducible_when_a_window_is_evaluated_again() -> None:
    rows, _ = _binary_window(n=500, seed=9)
    first = window_performance(rows, prediction_type="binary", resamples=100)
    assert first == window_performance(rows, prediction_type="binary", resamples=100)
    assert {v.metric for v in first if v.slice == "all" and v.lower is not None} == set(BINARY_METRICS)


def test_class_keys_follow_same_class_for_every_spelling_of_zero_and_one() -> None:
    """0, 0.0, -0.0, False and "0" are one class (as `same_class` says), whichever spelling a cached lookup
    saw first; unhashable values are keyed by their text, not refused."""
    from analyzers.performance import _class_keys, same_class

    for values in ([0, -0.0, 0.0, False, "0"], [-0.0, 0, "0.0"], [True, 1, 1.0, "1"]):
        keys = set(_class_keys(values).tolist())
        assert len(keys) == 1, (values, keys)
        assert all(same_class(values[0], v) for v in values)
    assert _class_keys([[1, 2], [1, 2]]).tolist() == ["s:[1, 2]"] * 2
