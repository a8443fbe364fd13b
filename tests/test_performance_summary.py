"""Performance from mergeable summaries (issue 16): equal to the raw rows' metrics however the rows are split,
and intervals from the counts that cover the truth as often as they claim.

Data nobody here wrote: scikit-learn's breast-cancer, iris and diabetes sets with models fitted on them;
hostile values from hypothesis.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score

from analyzers.performance import LabelledRow, PerformanceValue, window_performance
from analyzers.performance_summary import (
    Summary,
    merged,
    performance_from_summary,
    slice_totals,
    summarize,
    summarize_many,
)

SLICES = ("site",)


def split_and_merge(rows: Sequence[LabelledRow], kind: str, rng: random.Random, min_support: int = 30) -> tuple[
    PerformanceValue, ...
]:
    """Summaries of random chunks of `rows`, merged in random order, turned into metrics."""
    order = list(rows)
    rng.shuffle(order)
    chunks, i = [], 0
    while i < len(order):
        n = rng.randint(1, 40)
        chunks.append(order[i : i + n])
        i += n
    parts = [summarize(c, prediction_type=kind, slice_columns=SLICES) for c in chunks]
    rng.shuffle(parts)
    totals = slice_totals([r.slices for r in rows], SLICES)
    return performance_from_summary(
        merged(parts), totals, prediction_type=kind, slice_columns=SLICES, max_slice_values=3, resamples=0,
        min_support=min_support,
    )


def assert_same(raw: Sequence[PerformanceValue], got: Sequence[PerformanceValue], auc_tolerance: float) -> None:
    assert [(v.slice, v.metric, v.support, v.total, v.status) for v in got] == [
        (v.slice, v.metric, v.support, v.total, v.status) for v in raw
    ]
    for a, b in zip(raw, got, strict=True):
        if a.value is None or b.value is None:
            assert a.value is None and b.value is None, (a, b)
        elif a.metric == "roc_auc":
            assert b.value == pytest.approx(a.value, abs=auc_tolerance), (a, b)
        else:
            assert b.value == pytest.approx(a.value, rel=1e-9, abs=1e-12), (a, b)


def sites(n: int, rng: random.Random) -> list[dict[str, Any]]:
    names = ["north", "south", "east", "west", "x" * 300, 7, None]
    return [{"site": rng.choice(names)} for _ in range(n)]


def test_binary_metrics_from_summaries_equal_the_raw_rows_on_breast_cancer() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    score = LogisticRegression(max_iter=5000).fit(x[:250], y[:250]).predict_proba(x)[:, 1]
    rng = random.Random(1)
    sl = sites(len(y), rng)
    rows = [
        LabelledRow(int(score[i] >= 0.5), int(y[i]) if rng.random() < 0.8 else None, sl[i], float(score[i]))
        for i in range(len(y))
    ]
    raw = window_performance(rows, prediction_type="binary", slice_columns=SLICES, max_slice_values=3, resamples=0)
    assert_same(raw, split_and_merge(rows, "binary", rng), auc_tolerance=1e-3)
    assert {v.slice for v in raw} >= {"all", "site=other"} and any(len(v.slice) == 200 for v in raw)


def test_multiclass_and_regression_metrics_equal_the_raw_rows_on_iris_and_diabetes() -> None:
    rng = random.Random(2)
    xi, yi = load_iris(return_X_y=True)
    predicted = LogisticRegression(max_iter=1000).fit(xi[::3], yi[::3]).predict(xi)
    names = np.array(["setosa", "versicolor", "virginica"])
    sl = sites(len(yi), rng)
    rows = [LabelledRow(names[predicted[i]], str(names[yi[i]]), sl[i]) for i in range(len(yi))]
    raw = window_performance(rows, prediction_type="multiclass", slice_columns=SLICES, max_slice_values=3,
                             resamples=0)
    assert_same(raw, split_and_merge(rows, "multiclass", rng), auc_tolerance=0)

    xd, yd = load_diabetes(return_X_y=True)
    pd_ = LinearRegression().fit(xd[:200], yd[:200]).predict(xd)
    sl = sites(len(yd), rng)
    rows = [LabelledRow(float(pd_[i]), float(yd[i]) if i % 4 else None, sl[i]) for i in range(len(yd))]
    raw = window_performance(rows, prediction_type="regression", slice_columns=SLICES, max_slice_values=3,
                             resamples=0)
    assert_same(raw, split_and_merge(rows, "regression", rng), auc_tolerance=0)


cls = st.one_of(st.sampled_from([0, 1, 1.0, "1", "0", True, "yes", "n/a", None]), st.text(max_size=5))
number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9), st.none(),
                   st.text(max_size=4))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    # scores on a grid coarser than the logit cells (so ROC AUC is exact), and ones that are no probability
    st.lists(st.tuples(cls, cls, st.sampled_from([None, 0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, -0.5, 1.5, "0.5",
                                                  float("nan"), True]),
                       st.sampled_from(["a", "b", "c", "d", None])), max_size=80),
    st.randoms(use_true_random=False),
)
def test_hostile_classes_and_scores_give_the_raw_rows_metrics(rows: list[Any], rng: random.Random) -> None:
    labelled = [LabelledRow(p, y, {"site": s}, sc) for p, y, sc, s in rows]
    for kind in ("binary", "multiclass"):
        raw = window_performance(labelled, prediction_type=kind, slice_columns=SLICES, max_slice_values=3,
                                 resamples=0, min_support=1)
        assert_same(raw, split_and_merge(labelled, kind, rng, min_support=1), auc_tolerance=1e-9)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(number, number, st.sampled_from(["a", "b", None])), max_size=60),
       st.randoms(use_true_random=False))
def test_hostile_regression_values_give_the_raw_rows_metrics(rows: list[Any], rng: random.Random) -> None:
    labelled = [LabelledRow(p, y, {"site": s}) for p, y, s in rows]
    raw = window_performance(labelled, prediction_type="regression", slice_columns=SLICES, max_slice_values=3,
                             resamples=0, min_support=1)
    got = split_and_merge(labelled, "regression", rng, min_support=1)
    assert [(v.slice, v.metric, v.support, v.total, v.status) for v in got] == [
        (v.slice, v.metric, v.support, v.total, v.status) for v in raw
    ]
    for a, b in zip(raw, got, strict=True):
        if a.value is None or b.value is None or not math.isfinite(a.value):
            assert (a.value is None) == (b.value is None), (a, b)
        else:
            assert b.value == pytest.approx(a.value, rel=1e-6), (a, b)


def test_roc_auc_on_the_logit_grid_is_within_a_few_thousandths_of_sklearns() -> None:
    rng = np.random.default_rng(3)
    for shape in (0.3, 1.0, 4.0):  # scores piled at the ends, spread, piled in the middle
        y = rng.random(5000) < 0.3
        score = rng.beta(shape + y * 2, shape + (~y) * 2)
        rows = [LabelledRow(int(s > 0.5), int(t), {}, float(s)) for s, t in zip(score, y, strict=True)]
        got = {v.metric: v for v in performance_from_summary(
            summarize(rows, prediction_type="binary"), {"all": len(rows)}, prediction_type="binary", resamples=0)}
        assert got["roc_auc"].value == pytest.approx(roc_auc_score(y, score), abs=2e-3)


# -- intervals: coverage by simulation --------------------------------------------------------------------


def covered(kind: str, truth: dict[str, float], draw: Any, trials: int, n: int) -> dict[str, float]:
    """Share of `trials` windows of `n` rows whose 95% interval holds the population value."""
    hits = dict.fromkeys(truth, 0)
    for t in range(trials):
        rows = draw(np.random.default_rng(1000 + t), n)
        values = performance_from_summary(summarize(rows, prediction_type=kind), {"all": n}, prediction_type=kind,
                                          resamples=400)
        for v in values:
            if v.metric in truth:
                assert v.lower is not None and v.upper is not None, v
                hits[v.metric] += v.lower <= truth[v.metric] <= v.upper
    return {m: h / trials for m, h in hits.items()}


def binary_rows(rng: np.random.Generator, n: int) -> list[LabelledRow]:
    y = rng.random(n) < 0.4
    score = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * (2 * y - 1))))
    return [LabelledRow(int(s > 0.5), int(t), {}, float(s)) for s, t in zip(score, y, strict=True)]


def regression_rows(rng: np.random.Generator, n: int) -> list[LabelledRow]:
    truth = rng.uniform(5, 15, n)
    return [LabelledRow(float(t + e), float(t), {}) for t, e in zip(truth, rng.laplace(0, 1, n), strict=True)]


def test_intervals_from_counts_cover_the_population_value_about_95_percent_of_the_time() -> None:
    """The population values come from one very large sample; 200 windows of 400 rows each: a 95% interval
    that covers between 89% and 99.5% of the time passes (binomial noise at 200 trials is +-3%)."""
    big = binary_rows(np.random.default_rng(0), 400_000)
    population = {v.metric: v.value for v in performance_from_summary(
        summarize(big, prediction_type="binary"), {"all": len(big)}, prediction_type="binary", resamples=0)}
    truth = {m: float(population[m] or 0) for m in ("f1", "roc_auc", "log_loss", "ece")}
    for metric, share in covered("binary", truth, binary_rows, 200, 400).items():
        assert 0.89 <= share <= 0.995, (metric, share)

    big_r = regression_rows(np.random.default_rng(0), 400_000)
    population = {v.metric: v.value for v in performance_from_summary(
        summarize(big_r, prediction_type="regression"), {"all": len(big_r)}, prediction_type="regression",
        resamples=0)}
    truth = {m: float(population[m] or 0) for m in ("mae", "rmse", "mape")}
    for metric, share in covered("regression", truth, regression_rows, 200, 400).items():
        assert 0.89 <= share <= 0.995, (metric, share)


def test_the_roc_auc_interval_is_delongs_on_the_grid() -> None:
    """The closed form from the cells equals DeLong computed row by row (placements by midranks, Sun and
    Xu's fast form) on the rows' grid cells, so a window's interval needs no resampling of its cells."""
    from scipy.stats import norm, rankdata

    from analyzers.performance_summary import _logit_cell

    rows = binary_rows(np.random.default_rng(3), 3000)
    got = {v.metric: v for v in performance_from_summary(summarize(rows, prediction_type="binary"), {"all": 3000},
                                                         prediction_type="binary")}["roc_auc"]  # fmt: skip
    cell = _logit_cell(np.array([r.score for r in rows], dtype=np.float64)).astype(np.float64)
    y = np.array([r.label for r in rows]) == 1
    x, z = cell[y], cell[~y]
    m, n = len(x), len(z)
    ranks_all = rankdata(np.concatenate([x, z]))
    v10 = (ranks_all[:m] - rankdata(x)) / n  # negatives below each positive, ties half
    v01 = 1 - (ranks_all[m:] - rankdata(z)) / m  # positives above each negative, ties half
    auc = v10.mean()
    se = np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n)
    logit, half = np.log(auc / (1 - auc)), norm.ppf(0.975) * se / (auc * (1 - auc))
    assert got.value == pytest.approx(auc, abs=1e-12)
    expected = (1 / (1 + np.exp(-(logit - half))), 1 / (1 + np.exp(-(logit + half))))
    assert (got.lower, got.upper) == pytest.approx(expected)


def same_summaries(a: Summary, b: Summary) -> bool:
    """Equal items and counts; sums equal up to float summation order (inf and NaN where the other has them)."""
    if {k: set(v) for k, v in a.items()} != {k: set(v) for k, v in b.items()}:
        return False
    return all(
        x.n == y.n and np.allclose([x.total, x.squares], [y.total, y.squares], rtol=1e-12, atol=0, equal_nan=True)
        for key in a
        for x, y in ((a[key][i], b[key][i]) for i in a[key])
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.one_of(cls, number), st.one_of(cls, number),
                       st.one_of(st.none(), st.floats(0, 1), st.floats(), st.sampled_from([True, "0.5", -1])),
                       st.sampled_from(["a", "b", None, "x" * 300]), st.integers(0, 3)), max_size=80),
    st.sampled_from(["binary", "multiclass", "regression"]),
    st.sampled_from([1, "yes", True]),
)
def test_summarising_many_buckets_at_once_equals_summarising_each(rows: list[Any], kind: str, positive: Any) -> None:
    """The tick's one vectorised pass over every changed minute gives each minute's `summarize`, on hostile
    classes, numbers, scores and slice values."""
    labelled = [LabelledRow(p, y, {"site": s}, sc) for p, y, sc, s, _ in rows]
    buckets = [b for *_, b in rows]
    many = summarize_many(labelled, buckets, prediction_type=kind, positive_class=positive, slice_columns=SLICES)
    each = {
        b: summarize([r for r, rb in zip(labelled, buckets, strict=True) if rb == b], prediction_type=kind,
                     positive_class=positive, slice_columns=SLICES)
        for b in set(buckets)
    }  # fmt: skip
    assert set(many) == {b for b, s in each.items() if s}
    assert all(same_summaries(many[b], each[b]) for b in many), (many, each)
