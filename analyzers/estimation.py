"""Estimated accuracy of a binary classifier before its labels arrive: CBPE, as NannyML defines it.

Confidence-based performance estimation: calibrate the model's scores on labelled reference data, so
that p̂ = P(label is positive | score); a row predicted positive is then correct with probability p̂ and
one predicted negative with 1 - p̂, and the window's expected accuracy is the mean of those. It tracks
covariate shift (more rows near the decision boundary: lower estimate), not concept shift (the relation
between features and label changing), which only labels reveal; `reconcile` checks it once they come.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.stats import norm

from analyzers.performance import same_class

Method = Literal["isotonic", "histogram"]
METHODS: tuple[str, ...] = ("isotonic", "histogram")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Calibrator:
    """A monotone map from model score to P(positive), fitted on the reference; stored with it as JSON.

    isotonic: knots (x, y) of the isotonic regression, linear between them and clipped beyond them
    (scikit-learn's IsotonicRegression(out_of_bounds="clip")). histogram: x holds the inner edges of
    equal-frequency score bins (a bin is (x[i-1], x[i]]), y each bin's share of positives.
    """

    method: Method
    x: tuple[float, ...]
    y: tuple[float, ...]
    n: int  # reference rows it was fitted on
    positive_rate: float  # share of positives among them

    def calibrate(self, scores: Sequence[float] | np.ndarray) -> np.ndarray:
        """P(positive) for each score."""
        s = _finite(scores, "scores")
        x, y = np.asarray(self.x), np.asarray(self.y)
        if self.method == "isotonic":
            return np.interp(s, x, y)
        return y[np.searchsorted(x, s, side="left")]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; `from_dict` restores an equal calibrator."""
        return {"version": FORMAT_VERSION, "method": self.method, "x": list(self.x), "y": list(self.y),
                "n": self.n, "positive_rate": self.positive_rate}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        """The calibrator `to_dict` wrote; a malformed one raises ValueError naming the field."""
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"calibrator version: expected {FORMAT_VERSION}, got {data.get('version')!r}")
        method = data.get("method")
        if method not in METHODS:
            raise ValueError(f"calibrator method: {method!r} is not one of {', '.join(METHODS)}")
        try:
            x = tuple(float(v) for v in data["x"])
            y = tuple(float(v) for v in data["y"])
            n, rate = int(data["n"]), float(data["positive_rate"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"calibrator fields x, y, n, positive_rate: {e!r}") from None
        expected = len(x) if method == "isotonic" else len(x) + 1
        if not y or len(y) != expected or any(not 0.0 <= v <= 1.0 for v in y) or list(x) != sorted(x):
            raise ValueError(f"calibrator {method}: x must be sorted and y hold {expected} probabilities")
        return cls(method, x, y, n, rate)


@dataclass(frozen=True)
class Estimate:
    """Estimated metric of one window, with the interval of the value its labels will most likely show."""

    metric: str
    value: float | None  # None only for an empty window
    lower: float | None
    upper: float | None
    n: int  # rows (scores) the estimate is made from
    confidence: float
    status: Literal["ok", "insufficient_data"]
    method: str = "cbpe"


@dataclass(frozen=True)
class Reconciliation:
    """An estimate beside the realized figure its window's labels gave."""

    metric: str
    estimated: float | None
    realized: float | None
    error: float | None  # estimated - realized
    within_interval: bool | None  # realized inside the estimate's interval; None when either is missing
    intervals_overlap: bool | None  # the estimate's and the realized figure's intervals meet
    status: Literal["ok", "insufficient_data"]


def _finite(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers (the model's score for the positive class)") from None
    if a.ndim != 1:
        raise ValueError(f"{name} must be one score per row, got shape {a.shape}: pass the positive class's "
                         "column, e.g. predict_proba(X)[:, 1]")
    bad = int((~np.isfinite(a)).sum())
    if bad:
        raise ValueError(f"{name}: {bad} of {a.size} values are not finite numbers")
    return a


def _pool_adjacent_violators(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to y in weighted least squares (one pass, a stack of blocks)."""
    means: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for yi, wi in zip(y.tolist(), w.tolist(), strict=True):
        m, ww, size = yi, wi, 1
        while means and means[-1] > m:
            pm, pw, ps = means.pop(), weights.pop(), sizes.pop()
            m, ww, size = (pm * pw + m * ww) / (pw + ww), pw + ww, ps + size
        means.append(m)
        weights.append(ww)
        sizes.append(size)
    return np.repeat(means, sizes)


def _isotonic(s: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ux, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    fitted = _pool_adjacent_violators(np.bincount(inverse, weights=positive) / counts, counts.astype(float))
    keep = np.ones(len(ux), dtype=bool)  # a flat run needs only its two ends for the interpolation
    keep[1:-1] = (fitted[:-2] != fitted[1:-1]) | (fitted[1:-1] != fitted[2:])
    return ux[keep], fitted[keep]


def _histogram(s: np.ndarray, positive: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    inner = np.quantile(s, np.linspace(0.0, 1.0, n_bins + 1))[1:-1]
    ids = np.searchsorted(inner, s, side="left")
    total = np.bincount(ids, minlength=n_bins)
    share = np.bincount(ids, weights=positive, minlength=n_bins)
    full = np.flatnonzero(total)  # tied quantiles leave bins empty: merge each into its neighbour
    return inner[full[1:] - 1], share[full] / total[full]


def fit_calibration(
    scores: Sequence[float] | np.ndarray, labels: Sequence[Any] | np.ndarray,
    method: Method | str = "isotonic", *, positive_class: Any = 1, n_bins: int = 10,
) -> Calibrator:
    """Fit P(positive | score) once on labelled reference rows, so any window can be estimated unlabelled.

    Isotonic regression (pool-adjacent-violators, NannyML's default) or equal-frequency histogram binning
    (`n_bins`, for small references where isotonic steps overfit). Scores may be probabilities or any
    score that grows with the odds of the positive class.
    """
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; valid: {', '.join(METHODS)}")
    s = _finite(scores, "reference scores")
    label_list = [v.item() if isinstance(v, np.generic) else v for v in labels]  # np.True_ reads as True
    if len(label_list) != s.size:
        raise ValueError(f"reference has {s.size} scores but {len(label_list)} labels")
    if s.size == 0:
        raise ValueError("reference is empty: CBPE needs labelled reference rows to calibrate on")
    if any(v is None for v in label_list):
        raise ValueError("reference labels contain None: calibrate on labelled rows only")
    positive = np.array([same_class(v, positive_class) for v in label_list], dtype=np.float64)
    rate = float(positive.mean())
    if rate in (0.0, 1.0):
        which = "positive" if rate else "negative"
        raise ValueError(f"reference labels are all one class ({which}, positive_class={positive_class!r}): "
                         "CBPE needs both classes to calibrate")
    kind: Method = "isotonic" if method == "isotonic" else "histogram"
    if kind == "isotonic":
        x, y = _isotonic(s, positive)
    else:
        if n_bins < 1:
            raise ValueError(f"n_bins must be at least 1, got {n_bins}")
        x, y = _histogram(s, positive, n_bins)
    return Calibrator(kind, tuple(x.tolist()), tuple(y.tolist()), int(s.size), rate)


def correctness(
    calibrator: Calibrator, scores: Sequence[float] | np.ndarray, threshold: float = 0.5, *,
    predictions: Sequence[Any] | None = None, positive_class: Any = 1,
) -> np.ndarray:
    """Each row's probability of being right: p̂ where the row is predicted positive, else 1 - p̂.

    A row's predicted class is the model's own: `predictions[i]` (the stored prediction, compared with
    `positive_class` as realized accuracy compares it), and only where a row has no prediction (None, or
    no `predictions` at all) its score ≥ `threshold` (the spec's decision_threshold). Re-deriving the
    class from the score alone misjudges every row where the model used another cut-off or a rule of
    its own.
    """
    s = _finite(scores, "window scores")
    positive = s >= threshold
    if predictions is not None:
        if len(predictions) != s.size:
            raise ValueError(f"{len(predictions)} predictions for {s.size} scores: pass one per row, None where "
                             "absent")
        stated = [(i, v) for i, v in enumerate(predictions) if v is not None]
        if stated:
            rows, values = zip(*stated, strict=True)
            positive[list(rows)] = [same_class(v, positive_class) for v in values]
    p = calibrator.calibrate(s) if s.size else np.empty(0)
    return np.where(positive, p, 1.0 - p)


def estimate_from_sums(
    n: int, total: float, squares: float, confidence: float = 0.95, min_count: int = 30
) -> Estimate:
    """The accuracy estimate from the rows' correctness probabilities c summed (n, Σc, Σc²): the same
    numbers per-minute aggregates add up, so a window's estimate needs no rows.

    Given the scores, each row is correct independently with probability c, so the accuracy the labels
    will show is a Poisson-binomial mean: variance Σ c(1 - c) / n², interval by the normal approximation,
    clipped to [0, 1]. It holds sampling noise only, not the calibrator's own error, which shrinks with
    the reference size. Below `min_count` rows the status is "insufficient_data".
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if n == 0:
        return Estimate("accuracy", None, None, None, 0, confidence, "insufficient_data")
    value = total / n
    half = float(norm.ppf(0.5 + confidence / 2)) * math.sqrt(max(total - squares, 0.0)) / n
    status: Literal["ok", "insufficient_data"] = "ok" if n >= min_count else "insufficient_data"
    return Estimate("accuracy", value, max(0.0, value - half), min(1.0, value + half), n, confidence, status)


def estimate_accuracy(
    calibrator: Calibrator, scores: Sequence[float] | np.ndarray, threshold: float = 0.5,
    confidence: float = 0.95, *, predictions: Sequence[Any] | None = None, positive_class: Any = 1,
    min_count: int = 30,
) -> Estimate:
    """Expected accuracy of a window from its scores alone: the mean of each row's `correctness`, with the
    interval of `estimate_from_sums`."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    c = correctness(calibrator, scores, threshold, predictions=predictions, positive_class=positive_class)
    return estimate_from_sums(int(c.size), float(c.sum()), float((c * c).sum()), confidence, min_count)


def reconcile(
    estimate: Estimate, realized_value: float | None,
    realized_lower: float | None = None, realized_upper: float | None = None,
) -> Reconciliation:
    """An estimate beside the realized figure once labels came: the error, and whether it was in range."""
    if estimate.value is None or realized_value is None:
        return Reconciliation(estimate.metric, estimate.value, realized_value, None, None, None,
                              "insufficient_data")
    assert estimate.lower is not None and estimate.upper is not None
    within = estimate.lower <= realized_value <= estimate.upper
    overlap = None
    if realized_lower is not None and realized_upper is not None:
        overlap = realized_lower <= estimate.upper and estimate.lower <= realized_upper
    return Reconciliation(estimate.metric, estimate.value, realized_value, estimate.value - realized_value,
                          within, overlap, estimate.status)
