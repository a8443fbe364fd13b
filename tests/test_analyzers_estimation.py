"""CBPE: calibration equals scikit-learn's, the estimate tracks realized accuracy, bad input is named."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from analyzers.estimation import Calibrator, Estimate, estimate_accuracy, fit_calibration, reconcile
from analyzers.performance import wilson_interval

COEF = np.array([1.5, -1.0, 0.5])


def sample(
    rng: np.random.Generator, n: int, shift: float = 0.0, spread: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of a logistic problem; `spread` narrows or widens x0 around `shift`."""
    x = rng.normal(size=(n, 3))
    x[:, 0] = shift + spread * x[:, 0]
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ COEF)))).astype(int)
    return x, y


@pytest.fixture(scope="module")
def fitted() -> tuple[LogisticRegression, Calibrator]:
    """A model trained on one sample and calibrated on another, labelled, reference sample."""
    rng = np.random.default_rng(7)
    model = LogisticRegression().fit(*sample(rng, 5000))
    x_ref, y_ref = sample(rng, 10000)
    return model, fit_calibration(model.predict_proba(x_ref)[:, 1], y_ref)


def realized(model: LogisticRegression, x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    correct = int((model.predict(x) == y).sum())
    return (correct / len(y), *wilson_interval(correct, len(y)))


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_without_shift_the_estimate_falls_inside_the_realized_accuracys_wilson_interval(
    fitted: tuple[LogisticRegression, Calibrator], seed: int
) -> None:
    model, calibrator = fitted
    x, y = sample(np.random.default_rng(100 + seed), 2000)
    est = estimate_accuracy(calibrator, model.predict_proba(x)[:, 1])
    value, lower, upper = realized(model, x, y)
    assert est.status == "ok" and est.n == 2000 and est.method == "cbpe"
    assert est.value is not None and lower <= est.value <= upper
    assert reconcile(est, value, lower, upper).intervals_overlap


def test_the_estimates_interval_covers_the_realized_accuracy_at_about_its_confidence(
    fitted: tuple[LogisticRegression, Calibrator],
) -> None:
    model, calibrator = fitted
    rng = np.random.default_rng(11)
    hits: list[bool | None] = []
    for _ in range(200):
        x, y = sample(rng, 500)
        est = estimate_accuracy(calibrator, model.predict_proba(x)[:, 1])
        hits.append(reconcile(est, realized(model, x, y)[0]).within_interval)
    assert 0.90 <= hits.count(True) / len(hits) <= 0.99


@pytest.mark.parametrize(
    ("case", "shift", "spread"),
    [("rows crowd the decision boundary", 0.0, 0.2), ("rows move away from the boundary", 2.5, 1.0)],
)
def test_after_a_covariate_shift_the_estimate_moves_the_way_realized_accuracy_moves(
    fitted: tuple[LogisticRegression, Calibrator], case: str, shift: float, spread: float
) -> None:
    model, calibrator = fitted
    rng = np.random.default_rng(3)
    before, after = sample(rng, 4000), sample(rng, 4000, shift, spread)
    est = [estimate_accuracy(calibrator, model.predict_proba(x)[:, 1]).value for x, _ in (before, after)]
    real = [realized(model, x, y) for x, y in (before, after)]
    assert est[0] is not None and est[1] is not None
    moved = real[1][0] - real[0][0]
    assert real[1][2] < real[0][1] or real[1][1] > real[0][2], f"{case}: the test's shift must matter"
    assert np.sign(est[1] - est[0]) == np.sign(moved)
    assert abs((est[1] - est[0]) - moved) < 0.03


@settings(derandomize=True, deadline=None, max_examples=60)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.booleans()), min_size=2, max_size=200),
    st.lists(st.integers(-10, 50), min_size=1, max_size=30),
)
def test_isotonic_calibration_equals_scikit_learns_clipped_isotonic_regression(
    rows: list[tuple[int, bool]], queries: list[int]
) -> None:
    scores = np.array([s / 40 for s, _ in rows])
    labels = np.array([int(y) for _, y in rows])
    if labels.min() == labels.max():
        labels[0] = 1 - labels[0]
    calibrator = fit_calibration(scores, labels, "isotonic")
    expected = IsotonicRegression(out_of_bounds="clip").fit(scores, labels)
    q = np.array(queries) / 40
    assert calibrator.calibrate(q) == pytest.approx(expected.predict(q), abs=1e-12)
    assert np.all(np.diff(calibrator.calibrate(np.sort(q))) >= 0)


def test_histogram_calibration_equals_scikit_learns_quantile_calibration_curve() -> None:
    rng = np.random.default_rng(5)
    scores = np.round(rng.beta(2, 3, 3000), 1)  # rounded: tied quantiles leave some bins empty
    labels = (rng.random(3000) < scores).astype(int)
    calibrator = fit_calibration(scores, labels, "histogram", n_bins=40)
    prob_true, _ = calibration_curve(labels, scores, n_bins=40, strategy="quantile")
    assert calibrator.y == pytest.approx(tuple(prob_true), abs=1e-12)
    assert 1 < len(calibrator.y) < 40
    edges = np.percentile(scores, np.linspace(0, 100, 41))[1:-1]
    ids = np.searchsorted(edges, scores)
    for s in np.unique(scores):
        assert calibrator.calibrate([s])[0] == pytest.approx(labels[ids == ids[scores == s][0]].mean())


@pytest.mark.parametrize("method", ["isotonic", "histogram"])
def test_a_calibrator_round_trips_through_json(method: str) -> None:
    rng = np.random.default_rng(9)
    scores = rng.random(500)
    calibrator = fit_calibration(scores, rng.random(500) < scores, method)
    restored = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    assert restored == calibrator
    assert np.array_equal(restored.calibrate(scores), calibrator.calibrate(scores))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "version"),
        ({"method": "platt"}, "method"),
        ({"y": [0.2]}, "probabilities"),
        ({"x": [0.9, 0.1]}, "sorted"),
        ({"n": "many"}, "n, positive_rate"),
    ],
)
def test_a_malformed_stored_calibrator_is_rejected_naming_the_field(
    change: dict[str, object], message: str
) -> None:
    data = {**fit_calibration([0.1, 0.9], [0, 1]).to_dict(), **change}
    with pytest.raises(ValueError, match=message):
        Calibrator.from_dict(data)


def test_the_estimate_is_the_mean_chance_of_being_right_with_a_poisson_binomial_interval() -> None:
    calibrator = fit_calibration([0.0, 1.0], [0, 1])  # the identity on [0, 1]
    scores = np.array([0.9, 0.8, 0.3, 0.6, 0.1] * 8)
    correct = np.where(scores >= 0.5, scores, 1 - scores)
    est = estimate_accuracy(calibrator, scores, confidence=0.9)
    half = norm.ppf(0.95) * np.sqrt((correct * (1 - correct)).sum()) / len(scores)
    assert (est.value, est.lower, est.upper) == pytest.approx((correct.mean(), correct.mean() - half,
                                                              correct.mean() + half), abs=1e-12)
    assert (est.metric, est.n, est.confidence, est.status, est.method) == ("accuracy", 40, 0.9, "ok", "cbpe")
    flipped = estimate_accuracy(calibrator, scores, threshold=0.95)  # every row predicted negative
    assert flipped.value == pytest.approx((1 - scores).mean())


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([], [], "reference is empty"),
        ([0.2, 0.7, 0.9], [1, 1, 1], r"all one class \(positive"),
        ([0.2, 0.7], ["no", "no"], r"all one class \(negative"),
        ([0.2, 0.7], [0], "2 scores but 1 labels"),
        ([0.2, float("nan")], [0, 1], "1 of 2 values are not finite"),
        ([0.2, 0.7], [0, None], "labelled rows only"),
        ([[0.8, 0.2], [0.3, 0.7]], [0, 1], r"one score per row, got shape \(2, 2\)"),
        (["high", "low"], [0, 1], "must be numbers"),
    ],
)
def test_a_degenerate_reference_raises_a_value_error_naming_the_problem(
    scores: list[float], labels: list[object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fit_calibration(scores, labels)


def test_an_unknown_method_lists_the_valid_ones_and_string_labels_use_the_positive_class() -> None:
    with pytest.raises(ValueError, match="isotonic, histogram"):
        fit_calibration([0.1, 0.9], [0, 1], "platt")
    calibrator = fit_calibration([0.1, 0.2, 0.8, 0.9], ["ok", "ok", "fraud", "fraud"], positive_class="fraud")
    assert calibrator.calibrate([0.05, 0.95]).tolist() == [0.0, 1.0]


def test_an_empty_or_small_window_is_insufficient_data_and_reconciles_as_such() -> None:
    calibrator = fit_calibration([0.0, 1.0], [0, 1])
    empty = estimate_accuracy(calibrator, [])
    assert (empty.status, empty.value, empty.n) == ("insufficient_data", None, 0)
    small = estimate_accuracy(calibrator, [0.9] * 5)
    assert small.status == "insufficient_data" and small.value == pytest.approx(0.9)
    assert reconcile(empty, 0.8, 0.7, 0.9).status == "insufficient_data"
    assert reconcile(small, None).within_interval is None
    with pytest.raises(ValueError, match="confidence"):
        estimate_accuracy(calibrator, [0.5], confidence=1.0)


def test_reconcile_reports_the_error_and_whether_the_realized_figure_was_in_range() -> None:
    est = Estimate("accuracy", 0.85, 0.82, 0.88, 500, 0.95, "ok")
    hit = reconcile(est, 0.83, 0.80, 0.86)
    assert (hit.error, hit.within_interval, hit.intervals_overlap) == (pytest.approx(0.02), True, True)
    miss = reconcile(est, 0.70, 0.66, 0.74)
    assert (miss.error, miss.within_interval, miss.intervals_overlap) == (pytest.approx(0.15), False, False)
    assert reconcile(est, 0.80).intervals_overlap is None


@pytest.fixture(scope="module")
def tuned_threshold_model() -> dict[str, np.ndarray]:
    """scikit-learn's breast-cancer data and a classifier whose own cut-off is not 0.5 (sklearn's
    FixedThresholdClassifier): its predictions and `predict_proba >= 0.5` disagree on some rows, as they
    do for any model served with a tuned threshold."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import FixedThresholdClassifier, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.7, random_state=0, stratify=y)
    x_ref, x_win, y_ref, _ = train_test_split(x_rest, y_rest, test_size=0.5, random_state=0, stratify=y_rest)
    base = make_pipeline(StandardScaler(), LogisticRegression(C=0.01))
    model = FixedThresholdClassifier(base, threshold=0.8).fit(x_train, y_train)
    return {
        "ref_scores": model.predict_proba(x_ref)[:, 1], "ref_labels": y_ref,
        "scores": model.predict_proba(x_win)[:, 1], "predictions": model.predict(x_win),
    }


def test_cbpe_judges_each_row_by_the_models_stored_prediction_not_by_score_over_one_half(
    tuned_threshold_model: dict[str, np.ndarray],
) -> None:
    d = tuned_threshold_model
    scores, predictions = d["scores"], d["predictions"]
    assert (predictions != (scores >= 0.5)).sum() > 0  # the case the old estimate got wrong
    calibrator = fit_calibration(d["ref_scores"], d["ref_labels"])
    # CBPE by hand, on scikit-learn's isotonic calibration: P(correct) = p̂ where the model said 1, else 1 - p̂
    p_hat = IsotonicRegression(out_of_bounds="clip").fit(d["ref_scores"], d["ref_labels"]).predict(scores)
    expected = float(np.where(predictions == 1, p_hat, 1 - p_hat).mean())

    est = estimate_accuracy(calibrator, scores, predictions=predictions.tolist(), min_count=1)
    assert est.value == pytest.approx(expected, abs=1e-12)
    by_score = estimate_accuracy(calibrator, scores, min_count=1)  # what the estimate did before
    assert abs(by_score.value - expected) > 1e-3
    # without predictions, the model's own threshold (the spec's decision_threshold) gives the same answer
    assert estimate_accuracy(calibrator, scores, threshold=0.8, min_count=1).value == pytest.approx(expected)


def test_cbpe_uses_the_threshold_only_for_rows_without_a_prediction() -> None:
    calibrator = Calibrator("isotonic", (0.0, 1.0), (0.0, 1.0), 100, 0.5)  # p̂ = score
    scores = [0.7, 0.7, 0.2, 0.2]
    predictions = [0, None, 1, None]  # stated rows: wrong way round; the others follow score >= 0.5
    est = estimate_accuracy(calibrator, scores, predictions=predictions, positive_class=1, min_count=1)
    assert est.value == pytest.approx((0.3 + 0.7 + 0.2 + 0.8) / 4)
    labelled = estimate_accuracy(
        calibrator, scores, predictions=["yes", None, "no", None], positive_class="yes", min_count=1
    )
    assert labelled.value == pytest.approx((0.7 + 0.7 + 0.8 + 0.8) / 4)
    with pytest.raises(ValueError, match="one per row"):
        estimate_accuracy(calibrator, scores, predictions=[1])
