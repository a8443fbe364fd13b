"""Realized performance on joined rows equals a direct sklearn computation; intervals are Wilson's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, mean_absolute_error

from analyzers.performance import LabelledRow, same_class, wilson_interval, window_performance


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
    got = {v.slice: v for v in window_performance(rows, prediction_type="binary", slice_columns=["region"])}
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
    (v,) = window_performance(rows, prediction_type="regression")
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
    (v,) = window_performance(rows, prediction_type="binary", min_coverage=0.5)
    assert (v.status, v.value, v.coverage) == ("immature", 1.0, 0.4)
    (empty,) = window_performance([LabelledRow(1, None, {})], prediction_type="binary")
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
