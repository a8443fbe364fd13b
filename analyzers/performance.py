"""Realized model performance of one window on delayed labels, overall and per slice.

Pure: the collector hands in the window's joined (prediction, label, slices) rows. A window whose
label coverage is below `min_coverage` is "immature": its figures are shown but do not alert.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
        """The share of the slice's records that carry a label (0 for an empty slice)."""
        return self.support / self.total if self.total else 0.0


@dataclass(frozen=True)
class LabelledRow:
    """One record as the performance metrics read it: prediction, label, slice values and score."""

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

#: (b, n) int array: the rows drawn by each of b resamples; arange(n)[None] is the sample itself. Every
#: metric is a function of it, so the point estimate and each resample share one code path, and each
#: reads only gathers and per-resample counts (np.bincount), not an (b, n) weight matrix.
Resamples = np.ndarray
_Fn = Callable[[Resamples], np.ndarray]


def metrics_for(prediction_type: str) -> tuple[str, ...]:
    """The metrics computed for a model of `prediction_type` (binary, multiclass or regression)."""
    if prediction_type == "regression":
        return REGRESSION_METRICS
    return MULTICLASS_METRICS if prediction_type == "multiclass" else BINARY_METRICS


def resample_indices(n: int, resamples: int, seed: int, max_cells: int = 2_000_000) -> Iterator[Resamples]:
    """Bootstrap resamples of `n` rows as (b, n) index arrays, in chunks of at most `max_cells` indices.

    Public so a test can recompute each resample with sklearn and compare intervals."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, max_cells // max(n, 1)))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        yield rng.integers(
            0, n, size=(b, n), dtype=np.int32
        )  # int32: a third of int64's draw and gather time
        done += b


def _counts(codes: np.ndarray, k: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Per resample (row of `codes`, values in [0, k)): how often each code occurs, or `weights`' sum per code."""
    b = codes.shape[0]
    flat = (codes + (np.arange(b) * k)[:, None]).ravel()
    out = np.bincount(flat, weights=None if weights is None else weights.ravel(), minlength=b * k)
    return out.reshape(b, k)


def bootstrap_intervals(
    fns: Mapping[str, _Fn], n: int, *, resamples: int, seed: int, confidence: float = 0.95
) -> dict[str, tuple[float, float] | None]:
    """Percentile intervals of several statistics of the same `n` rows from one set of `resamples`
    resamples, drawn once and shared. Resamples where a statistic is undefined (NaN, e.g. ROC AUC of a
    resample holding one class) are left out of its interval; None when no resample defines it."""
    values: dict[str, list[np.ndarray]] = {name: [] for name in fns}
    for idx in resample_indices(n, resamples, seed):
        for name, fn in fns.items():
            values[name].append(fn(idx))
    tail = (1 - confidence) / 2 * 100
    out: dict[str, tuple[float, float] | None] = {}
    for name, chunks in values.items():
        v = np.concatenate(chunks)
        v = v[np.isfinite(v)]
        if v.size:
            lo, hi = np.percentile(v, [tail, 100 - tail])
            out[name] = (float(lo), float(hi))
        else:
            out[name] = None
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _binary_f1(pred_pos: np.ndarray, label_pos: np.ndarray) -> _Fn:
    code = pred_pos.astype(np.int64) * 2 + label_pos  # 3 true positive, 2 false positive, 1 false negative

    def fn(idx: Resamples) -> np.ndarray:
        c = _counts(code[idx], 4)
        return _f1(c[:, 3], c[:, 2], c[:, 1])

    return fn


def _roc_auc(score: np.ndarray, positive: np.ndarray) -> _Fn:
    """Mann-Whitney AUC with ties counted half: equals roc_auc_score on each resample's rows. Each resample
    counts its positives and negatives per distinct score; negatives below a score come from a cumsum."""
    distinct, group = np.unique(score, return_inverse=True)
    u = len(distinct)
    code = group * 2 + positive

    def fn(idx: Resamples) -> np.ndarray:
        c = _counts(code[idx], 2 * u).reshape(-1, u, 2)
        neg, pos = c[:, :, 0], c[:, :, 1]
        below = np.cumsum(neg, axis=1) - neg  # integers throughout: exact, and no float copies of (b, u)
        twice = (pos * (2 * below + neg)).sum(1)
        return _ratio(twice / 2, (pos.sum(1) * neg.sum(1)).astype(np.float64))

    return fn


def _mean_of(per_row: np.ndarray) -> _Fn:
    return lambda idx: per_row[idx].mean(axis=1)


def _log_loss(score: np.ndarray, positive: np.ndarray) -> _Fn:
    eps = np.finfo(np.float64).eps  # sklearn's clipping, so a score of exactly 0 or 1 stays finite
    p = np.clip(score, eps, 1 - eps)
    return _mean_of(-np.where(positive, np.log(p), np.log1p(-p)))


def _ece(score: np.ndarray, positive: np.ndarray, bins: int = ECE_BINS) -> _Fn:
    """Expected calibration error: the count-weighted mean |observed positive rate - mean score| over equal-width
    score bins, the bins of sklearn's calibration_curve(strategy="uniform")."""
    which = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], score)
    residual = positive - score  # per bin, |sum of residuals| / n is |observed rate - mean score| x n_bin / n

    def fn(idx: Resamples) -> np.ndarray:
        return np.abs(_counts(which[idx], bins, residual[idx])).sum(1) / idx.shape[1]

    return fn


def _macro(pred: np.ndarray, label: np.ndarray, which: str) -> _Fn:
    """Macro-averaged precision, recall or F1 over the classes present in the (re)sample, a class with an
    empty denominator counting 0: sklearn's average="macro" with its default zero_division."""
    classes, codes = np.unique(np.concatenate([pred, label]), return_inverse=True)
    k = len(classes)
    code = codes[: len(pred)] * k + codes[len(pred) :]  # confusion cell: predicted class, true class

    def fn(idx: Resamples) -> np.ndarray:
        return macro_from_confusion(_counts(code[idx], k * k).reshape(-1, k, k), which)

    return fn


def macro_from_confusion(c: np.ndarray, which: str) -> np.ndarray:
    """Macro precision, recall or F1 of (b, k, k) confusion counts (predicted class, true class), over the
    classes present in each; shared by the row bootstrap and the summaries' multinomial one."""
    tp = np.diagonal(c, axis1=1, axis2=2)
    predicted, actual = c.sum(2), c.sum(1)
    if which == "precision":
        per = _ratio(tp, predicted)
    elif which == "recall":
        per = _ratio(tp, actual)
    else:
        per = _f1(tp, predicted - tp, actual - tp)
    seen = (predicted + actual) > 0
    per = np.where(np.isnan(per), 0.0, per)
    return _ratio((per * seen).sum(1), seen.sum(1))


def _class_key(v: Any) -> str:
    """A class label as a comparable string, with same_class's rule: 1, 1.0, "1" and True are one class
    ("1.0"), 0.0 and -0.0 too; other values by their text."""
    x = _number(v)
    return repr(x + 0.0) if x is not None else f"s:{v}"


def _class_keys(values: Sequence[Any]) -> np.ndarray:
    """`_class_key` of each value, computed once per distinct value (classes are few, rows many). Values
    equal as dict keys (1, 1.0, True) have equal class keys, so the cache cannot mix classes."""
    seen: dict[Any, str] = {}
    out = []
    for v in values:
        try:
            k = seen[v]
        except KeyError:
            k = seen[v] = _class_key(v)
        except TypeError:  # unhashable (a list sent as a class): by its text
            k = _class_key(v)
        out.append(k)
    return np.array(out, dtype=object)


@dataclass(frozen=True)
class _Columns:
    """A window's labelled rows as arrays, converted once and shared by every slice they belong to."""

    pred: np.ndarray  # class keys (see _class_keys)
    label: np.ndarray
    pred_pos: np.ndarray  # binary: is it the positive class
    label_pos: np.ndarray
    score: np.ndarray  # probability of the positive class; NaN when none or not in [0, 1]
    pred_num: np.ndarray  # regression: as numbers, NaN when not numeric
    label_num: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[LabelledRow], kind: str, positive_class: Any) -> _Columns:
        def num(v: Any) -> float:
            x = _number(v)
            return math.nan if x is None else x

        if kind == "regression":
            empty = np.zeros(0)
            pred_num = np.array([num(r.prediction) for r in rows], dtype=np.float64)
            label_num = np.array([num(r.label) for r in rows], dtype=np.float64)
            return cls(empty, empty, empty, empty, empty, pred_num, label_num)
        pred, label = _class_keys([r.prediction for r in rows]), _class_keys([r.label for r in rows])
        (pos,) = _class_keys([positive_class])
        score = np.array([p if (p := _probability(r.score)) is not None else math.nan for r in rows])
        empty = np.zeros(0)
        return cls(pred, label, pred == pos, label == pos, score, empty, empty)


@dataclass
class _Table:
    """One slice's labelled rows as arrays, and the metric functions over them."""

    kind: str
    fns: dict[str, tuple[_Fn, str]]  # bootstrap metrics: weighted function, and the row set it reads
    sizes: dict[str, int]  # row sets: "labelled" (every labelled row), "scored" (those with a probability)
    proportions: dict[str, tuple[int, int]]  # Wilson metrics: successes and denominator
    _intervals: dict[str, dict[str, tuple[float, float] | None]] = field(default_factory=dict)

    @classmethod
    def build(cls, window: _Columns, at: np.ndarray, kind: str) -> _Table:
        """The metrics of the window's labelled rows at positions `at` (one slice)."""
        fns: dict[str, tuple[_Fn, str]] = {}
        sizes: dict[str, int] = {}
        props: dict[str, tuple[int, int]] = {}
        if kind == "regression":
            pred, truth = window.pred_num[at], window.label_num[at]
            keep = np.isfinite(pred) & np.isfinite(truth)
            if keep.any():
                err = pred[keep] - truth[keep]
                sizes["labelled"] = len(err)
                ape = np.abs(err) / np.maximum(
                    np.abs(truth[keep]), np.finfo(np.float64).eps
                )  # sklearn's MAPE
                squared = _mean_of(err * err)
                fns["mae"] = (_mean_of(np.abs(err)), "labelled")
                fns["rmse"] = (lambda idx: np.sqrt(squared(idx)), "labelled")
                fns["mape"] = (_mean_of(ape), "labelled")
            return cls(kind, fns, sizes, props)
        if len(at) == 0:
            return cls(kind, fns, sizes, props)
        sizes["labelled"] = len(at)
        pred, label = window.pred[at], window.label[at]
        props["accuracy"] = (int((pred == label).sum()), len(at))
        if kind == "multiclass":
            for name in ("precision", "recall", "f1"):
                fns[name] = (_macro(pred, label, name), "labelled")
            return cls(kind, fns, sizes, props)
        pp, lp = window.pred_pos[at], window.label_pos[at]
        props["precision"] = (int((pp & lp).sum()), int(pp.sum()))
        props["recall"] = (int((pp & lp).sum()), int(lp.sum()))
        fns["f1"] = (_binary_f1(pp, lp), "labelled")
        score = window.score[at]
        scored = np.isfinite(score)
        if scored.any():
            sizes["scored"] = int(scored.sum())
            fns["roc_auc"] = (_roc_auc(score[scored], lp[scored]), "scored")
            fns["log_loss"] = (_log_loss(score[scored], lp[scored]), "scored")
            fns["ece"] = (_ece(score[scored], lp[scored]), "scored")
        return cls(kind, fns, sizes, props)

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
        fn, rowset = self.fns[name]
        n = self.sizes[rowset]
        value = float(fn(np.arange(n)[None, :])[0])
        if not math.isfinite(value):
            return None, None, None, n
        interval = None
        if n >= max(2, min_support) and resamples > 0:
            if rowset not in self._intervals:
                self._intervals[rowset] = bootstrap_intervals(
                    {k: f for k, (f, rs) in self.fns.items() if rs == rowset},
                    n,
                    resamples=resamples,
                    seed=zlib.crc32(f"{seed}/{rowset}".encode()),
                    confidence=confidence,
                )
            interval = self._intervals[rowset][name]
        return value, *(interval or (None, None)), n


def _probability(x: Any) -> float | None:
    """A score usable as a probability (a number in [0, 1]), else None."""
    v = None if isinstance(x, bool | np.bool_ | str) else _number(x)
    return v if v is not None and 0.0 <= v <= 1.0 else None


#: Longest slice label ("column=value") stored; longer values are cut and suffixed with a hash of the whole.
MAX_SLICE_LABEL = 200


def slice_value(column: str, value: Any) -> str:
    """A slice value as its label spells it: str(value), cut (with a hash of the whole, so distinct values stay
    distinct) where "column=value" would pass MAX_SLICE_LABEL characters."""
    text = str(value)
    room = MAX_SLICE_LABEL - len(column) - 1
    if len(text) <= room:
        return text
    return f"{text[: max(room - 9, 0)]}~{zlib.crc32(text.encode()):08x}"


def slice_keys(
    slices: Mapping[str, Any], columns: Sequence[str], allowed: Mapping[str, set[str]]
) -> list[str]:
    """The slice labels a record belongs to, values beyond the cardinality bound folded into `other`."""
    keys = [ALL]
    for col in columns:
        if col in slices and slices[col] is not None:
            value = slice_value(col, slices[col])
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
                text = slice_value(col, v)
                counts[text] = counts.get(text, 0) + 1
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
    labelled_rows = [r for r in rows if r.label is not None]
    window = _Columns.of(labelled_rows, prediction_type, positive_class)
    totals: dict[str, int] = {}
    groups: dict[str, list[int]] = {}  # slice -> positions of its labelled rows in `window`
    position = 0
    for r in rows:
        keys = slice_keys(r.slices, slice_columns, allowed)
        for key in keys:
            totals[key] = totals.get(key, 0) + 1
            members = groups.setdefault(key, [])
            if r.label is not None:
                members.append(position)
        position += r.label is not None
    out: list[PerformanceValue] = []
    for key in sorted(totals):
        at = np.array(groups[key], dtype=np.int64)
        coverage = len(at) / totals[key]
        table = _Table.build(window, at, prediction_type)
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
            out.append(PerformanceValue(key, metric, value, lower, upper, support, totals[key], status))
    return tuple(out)
