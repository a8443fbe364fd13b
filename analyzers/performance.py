"""Realized model performance of one window on delayed labels, overall and per slice.

Pure: the collector hands in the window's joined (prediction, label, slices) rows. A window whose
label coverage is below `min_coverage` is "immature": its figures are shown but do not alert.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.stats import norm

Status = Literal["ok", "immature", "insufficient_data"]
ALL = "all"
OTHER = "other"


@dataclass(frozen=True)
class PerformanceValue:
    """One metric of one slice in one window, with its 95% interval and the counts behind it."""

    slice: str  # "all", or "column=value"
    metric: str
    value: float | None
    lower: float | None
    upper: float | None
    support: int  # labelled records the value is computed from
    total: int  # records in the slice, labelled or not
    status: Status

    @property
    def coverage(self) -> float:
        return self.support / self.total if self.total else 0.0


@dataclass(frozen=True)
class LabelledRow:
    prediction: Any
    label: Any  # None when no label has arrived yet
    slices: Mapping[str, Any]
    score: float | None = None  # probability of the positive class, when the SDK sent one


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion: well-behaved at small n and near 0 or 1, unlike Wald."""
    if n == 0:
        return (0.0, 1.0)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _number(v: Any) -> float | None:
    if isinstance(v, bool | np.bool_):
        return float(v)
    if isinstance(v, np.integer | np.floating):
        v = v.item()
    if isinstance(v, int | float) and math.isfinite(v):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def same_class(prediction: Any, label: Any) -> bool:
    """Class equality across wire types: 1, 1.0, "1" and True are one class; other strings compare as text."""
    a, b = _number(prediction), _number(label)
    if a is not None and b is not None:
        return a == b
    return str(prediction) == str(label)


#: Resamples behind each bootstrap interval; 1,000 puts the 2.5th and 97.5th percentiles on 25 draws each.
DEFAULT_RESAMPLES = 1000
#: Equal-width score bins of the expected calibration error, as sklearn.calibration.calibration_curve bins.
ECE_BINS = 10
BINARY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "ece")
#: Multiclass precision, recall and F1 are macro averages over the classes present, as sklearn's "macro".
MULTICLASS_METRICS = ("accuracy", "precision", "recall", "f1")
REGRESSION_METRICS = ("mae", "rmse", "mape")

#: (b, n) float64 array: how many times each row appears in each of b resamples; ones(1, n) is the sample.
Weights = np.ndarray
_Fn = Callable[[Weights], np.ndarray]


def metrics_for(prediction_type: str) -> tuple[str, ...]:
    """The metrics computed for a model of `prediction_type` (binary, multiclass or regression)."""
    if prediction_type == "regression":
        return REGRESSION_METRICS
    return MULTICLASS_METRICS if prediction_type == "multiclass" else BINARY_METRICS


def resample_indices(n: int, resamples: int, seed: int, max_cells: int = 2_000_000) -> Iterator[np.ndarray]:
    """Bootstrap resamples of `n` rows as (b, n) index arrays, in chunks of at most `max_cells` indices.

    Public so a test can recompute each resample with sklearn and compare intervals."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, max_cells // max(n, 1)))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        yield rng.integers(0, n, size=(b, n))
        done += b


def _weights(idx: np.ndarray) -> Weights:
    b, n = idx.shape
    flat = (idx + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def bootstrap_interval(
    fn: _Fn, n: int, *, resamples: int, seed: int, confidence: float = 0.95
) -> tuple[float, float] | None:
    """Percentile interval of `fn` over `resamples` bootstrap resamples; resamples where it is undefined
    (NaN, e.g. ROC AUC of a resample holding one class) are left out. None when no resample is defined."""
    values = np.concatenate([fn(_weights(idx)) for idx in resample_indices(n, resamples, seed)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _binary_f1(pred_pos: np.ndarray, label_pos: np.ndarray) -> _Fn:
    v = np.stack([pred_pos & label_pos, pred_pos & ~label_pos, ~pred_pos & label_pos], axis=1).astype(float)
    return lambda w: _f1(*(w @ v).T)


def _roc_auc(score: np.ndarray, positive: np.ndarray) -> _Fn:
    """Mann-Whitney AUC with ties counted half, for integer row weights: equals roc_auc_score on the
    resample. Rows are sorted by score once; each resample only sums its weights per distinct score."""
    order = np.argsort(score, kind="stable")
    s, pos = score[order], positive[order].astype(float)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])

    def fn(w: Weights) -> np.ndarray:
        ws = w[:, order]
        p = np.add.reduceat(ws * pos, starts, axis=1)
        q = np.add.reduceat(ws * (1 - pos), starts, axis=1)
        below = np.cumsum(q, axis=1) - q
        return _ratio((p * (below + 0.5 * q)).sum(1), p.sum(1) * q.sum(1))

    return fn


def _log_loss(score: np.ndarray, positive: np.ndarray) -> _Fn:
    eps = np.finfo(np.float64).eps  # sklearn's clipping, so a score of exactly 0 or 1 stays finite
    p = np.clip(score, eps, 1 - eps)
    loss = -np.where(positive, np.log(p), np.log1p(-p))
    return lambda w: _ratio(w @ loss, w.sum(1))


def _ece(score: np.ndarray, positive: np.ndarray, bins: int = ECE_BINS) -> _Fn:
    """Expected calibration error: the count-weighted mean |observed positive rate - mean score| over equal-width
    score bins, the bins of sklearn's calibration_curve(strategy="uniform")."""
    which = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], score)
    onehot = np.eye(bins)[which]
    v = np.concatenate([onehot * positive[:, None], onehot * score[:, None]], axis=1)

    def fn(w: Weights) -> np.ndarray:
        sums = w @ v
        return _ratio(np.abs(sums[:, :bins] - sums[:, bins:]).sum(1), w.sum(1))

    return fn


def _macro(pred: np.ndarray, label: np.ndarray, which: str) -> _Fn:
    """Macro-averaged precision, recall or F1 over the classes present in the (re)sample, a class with an
    empty denominator counting 0: sklearn's average="macro" with its default zero_division."""
    classes = np.unique(np.concatenate([pred, label]))
    p, y = pred[:, None] == classes, label[:, None] == classes
    v = np.concatenate([p & y, p & ~y, ~p & y, p | y], axis=1).astype(float)
    k = len(classes)

    def fn(w: Weights) -> np.ndarray:
        sums = w @ v
        tp, fp, fn_, seen = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k : 3 * k], sums[:, 3 * k :] > 0
        if which == "precision":
            per = _ratio(tp, tp + fp)
        elif which == "recall":
            per = _ratio(tp, tp + fn_)
        else:
            per = _f1(tp, fp, fn_)
        per = np.where(np.isnan(per), 0.0, per)
        return _ratio((per * seen).sum(1), seen.sum(1).astype(float))

    return fn


def _class_keys(values: Sequence[Any]) -> np.ndarray:
    """Class labels as comparable strings, with same_class's rule: 1, 1.0, "1" and True are one class."""
    out = []
    for v in values:
        x = _number(v)
        out.append(repr(x) if x is not None else f"s:{v}")
    return np.array(out, dtype=object)


@dataclass
class _Table:
    """One slice's labelled rows as arrays, and the metric functions over them."""

    kind: str
    fns: dict[str, tuple[_Fn, int]]  # bootstrap metrics: weighted function and rows it is computed on
    proportions: dict[str, tuple[int, int]]  # Wilson metrics: successes and denominator

    @classmethod
    def build(cls, rows: Sequence[LabelledRow], kind: str, positive_class: Any) -> _Table:
        fns: dict[str, tuple[_Fn, int]] = {}
        props: dict[str, tuple[int, int]] = {}
        if kind == "regression":
            pairs = [
                (p, y)
                for r in rows
                if (p := _number(r.prediction)) is not None and (y := _number(r.label)) is not None
            ]
            if pairs:
                pred, truth = np.array(pairs, dtype=np.float64).T
                err = pred - truth
                n = len(err)
                ape = np.abs(err) / np.maximum(np.abs(truth), np.finfo(np.float64).eps)  # sklearn's MAPE
                fns["mae"] = (lambda w: _ratio(w @ np.abs(err), w.sum(1)), n)
                fns["rmse"] = (lambda w: np.sqrt(_ratio(w @ (err * err), w.sum(1))), n)
                fns["mape"] = (lambda w: _ratio(w @ ape, w.sum(1)), n)
            return cls(kind, fns, props)
        if not rows:
            return cls(kind, fns, props)
        pred, label = _class_keys([r.prediction for r in rows]), _class_keys([r.label for r in rows])
        props["accuracy"] = (int((pred == label).sum()), len(rows))
        if kind == "multiclass":
            for name in ("precision", "recall", "f1"):
                fns[name] = (_macro(pred, label, name), len(rows))
            return cls(kind, fns, props)
        (pos,) = _class_keys([positive_class])
        pp, lp = pred == pos, label == pos
        props["precision"] = (int((pp & lp).sum()), int(pp.sum()))
        props["recall"] = (int((pp & lp).sum()), int(lp.sum()))
        fns["f1"] = (_binary_f1(pp, lp), len(rows))
        scored = [
            (float(r.score), bool(y)) for r, y in zip(rows, lp, strict=True) if _is_probability(r.score)
        ]
        if scored:
            score = np.array([s for s, _ in scored])
            positive = np.array([y for _, y in scored])
            fns["roc_auc"] = (_roc_auc(score, positive), len(scored))
            fns["log_loss"] = (_log_loss(score, positive), len(scored))
            fns["ece"] = (_ece(score, positive), len(scored))
        return cls(kind, fns, props)

    def metric(
        self, name: str, *, min_support: int, resamples: int, confidence: float, seed: str
    ) -> tuple[float | None, float | None, float | None, int]:
        """(value, lower, upper, support); intervals only for a support of at least `min_support`."""
        if name in self.proportions:
            k, n = self.proportions[name]
            if n == 0:
                return None, None, None, 0
            lo, hi = wilson_interval(k, n, confidence)
            return k / n, lo, hi, n
        if name not in self.fns:
            return None, None, None, 0
        fn, n = self.fns[name]
        value = float(fn(np.ones((1, n)))[0])
        if not math.isfinite(value):
            return None, None, None, n
        interval = None
        if n >= max(2, min_support) and resamples > 0:
            interval = bootstrap_interval(
                fn, n, resamples=resamples, seed=zlib.crc32(f"{seed}/{name}".encode()), confidence=confidence
            )
        return value, *(interval or (None, None)), n


def _is_probability(x: Any) -> bool:
    v = None if isinstance(x, bool | np.bool_ | str) else _number(x)
    return v is not None and 0.0 <= v <= 1.0


def slice_keys(
    slices: Mapping[str, Any], columns: Sequence[str], allowed: Mapping[str, set[str]]
) -> list[str]:
    """The slice labels a record belongs to, values beyond the cardinality bound folded into `other`."""
    keys = [ALL]
    for col in columns:
        if col in slices and slices[col] is not None:
            value = str(slices[col])
            keys.append(f"{col}={value if value in allowed.get(col, set()) else OTHER}")
    return keys


def bounded_values(
    rows: Sequence[LabelledRow], columns: Sequence[str], max_values: int
) -> dict[str, set[str]]:
    """Per slice column, the `max_values` most frequent values (ties by name); the rest become `other`."""
    out: dict[str, set[str]] = {}
    for col in columns:
        counts: dict[str, int] = {}
        for r in rows:
            v = r.slices.get(col)
            if v is not None:
                counts[str(v)] = counts.get(str(v), 0) + 1
        ranked = sorted(counts, key=lambda k: (-counts[k], k))
        out[col] = set(ranked[:max_values])
    return out


def window_performance(
    rows: Sequence[LabelledRow],
    *,
    prediction_type: str,
    positive_class: Any = 1,
    slice_columns: Sequence[str] = (),
    max_slice_values: int = 20,
    min_coverage: float = 0.5,
    min_support: int = 30,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
) -> tuple[PerformanceValue, ...]:
    """Every metric of the model's kind (see `metrics_for`) per slice, with its interval, support and coverage.

    Proportions (accuracy, precision, recall) get Wilson intervals; the rest get percentile bootstrap
    intervals from `resamples` resamples of the slice's labelled rows, seeded by the slice name so that
    re-evaluating a window reproduces its intervals."""
    allowed = bounded_values(rows, slice_columns, max_slice_values)
    groups: dict[str, list[LabelledRow]] = {}
    for r in rows:
        for key in slice_keys(r.slices, slice_columns, allowed):
            groups.setdefault(key, []).append(r)
    out: list[PerformanceValue] = []
    for key in sorted(groups):
        members = groups[key]
        labelled = [r for r in members if r.label is not None]
        coverage = len(labelled) / len(members)
        table = _Table.build(labelled, prediction_type, positive_class)
        for metric in metrics_for(prediction_type):
            value, lower, upper, support = table.metric(
                metric, min_support=min_support, resamples=resamples, confidence=confidence, seed=key
            )
            status: Status
            if value is None or support < min_support:
                status = "insufficient_data"
            elif coverage < min_coverage:
                status = "immature"
            else:
                status = "ok"
            out.append(PerformanceValue(key, metric, value, lower, upper, support, len(members), status))
    return tuple(out)
