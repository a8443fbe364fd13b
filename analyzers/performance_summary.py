"""Realized performance from mergeable summaries: what a window's metrics are computed from.

The labelled records of a minute are summarised once (`summarize`) into sums keyed by (slice, item):
confusion counts at the model's decision, calibration-bin counts and score sums, per-class counts on a
logit grid of scores (ROC AUC), log-loss sums and, for regression, absolute, squared and percentage error
sums. Sums add, so a window's summary is the sum of its minutes' in any order (`merged`), and
`performance_from_summary` gives every metric of `analyzers.performance.window_performance`:

- accuracy, precision, recall, F1 (binary and macro multiclass), log loss, ECE, MAE, RMSE and MAPE equal
  the raw rows' up to float summation order;
- ROC AUC is computed on a grid of `AUC_BINS` score cells (pairs of opposite class in one cell count half),
  within a few thousandths of the exact value for realistic score distributions.

Intervals come from the counts: Wilson for proportions; DeLong's variance on the logit scale for ROC AUC
(each cell's placements are exact on the grid); a multinomial bootstrap over the summary's cells for F1,
macro averages and ECE (resampling rows with replacement redraws the cell counts
multinomially, so for a statistic of the cells it is the row bootstrap itself); a normal interval from the
sum and sum of squares for log loss, MAE, MAPE and RMSE (via the mean squared error). Their coverage is
checked by simulation in tests/test_performance_summary.py.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from scipy.stats import norm

from analyzers.performance import (
    ALL,
    ECE_BINS,
    OTHER,
    LabelledRow,
    PerformanceValue,
    Status,
    _class_keys,
    _number,
    _probability,
    _ratio,
    macro_from_confusion,
    metrics_for,
    slice_value,
    wilson_interval,
)

#: Cells of the ROC AUC score histogram: 0.02 wide in asinh(logit / 2), which is logit/2 near p = 0.5 and
#: log-like in the tails, so a cell is ~0.01 of p at the centre and ever finer towards 0 and 1 (where
#: confident models put their scores). Every float64 score in [0, 1] lands in one of them; only occupied
#: cells are stored, so a window's summary holds at most AUC_BINS of them per slice.
AUC_BINS = 362
_CELL_WIDTH = 0.02
_SEP = ":"  # between the parts of a numbered item
#: What the ROC AUC grid's items start with ("r:cell:y"): a minute holds up to 2 x AUC_BINS of them per
#: slice, so storage may pack them (see `collector.repository.aggregates`).
CELL_PREFIX = f"r{_SEP}"
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Sums:
    """Count, sum and sum of squares of one item; they add."""

    n: int
    total: float = 0.0
    squares: float = 0.0

    def __add__(self, other: Sums) -> Sums:
        return Sums(self.n + other.n, self.total + other.total, self.squares + other.squares)


#: slice ("all" or "column=value", values as sent) -> item -> sums.
Summary = dict[str, dict[str, Sums]]

LABELLED = "labelled"


def confusion_item(predicted: str, actual: str) -> str:
    """The count item of one (predicted class, true class) cell, both as `_class_keys` spells them (JSON:
    class names are free text)."""
    return "c" + json.dumps([predicted, actual])


def _logit_cell(score: np.ndarray) -> np.ndarray:
    """The ROC AUC cell of each score in [0, 1]: ordered like the scores, 0 .. AUC_BINS - 1."""
    eps = np.finfo(np.float64).eps
    p = np.clip(score, eps, 1 - eps)
    t = np.arcsinh((np.log(p) - np.log1p(-p)) / 2)  # |t| <= asinh(18.03) = 3.59 for p in [eps, 1 - eps]
    return np.clip(np.floor(t / _CELL_WIDTH) + AUC_BINS // 2, 0, AUC_BINS - 1).astype(np.int64)


def _add(out: dict[str, Sums], item: str, s: Sums) -> None:
    out[item] = out[item] + s if item in out else s


def _table(rows: Sequence[LabelledRow], kind: str, positive_class: Any) -> dict[str, Sums]:
    """One slice's labelled rows as summary items."""
    out: dict[str, Sums] = {LABELLED: Sums(len(rows))}
    if not rows:
        return out
    if kind == "regression":
        pred = np.array([_number(r.prediction) for r in rows], dtype=np.float64)
        truth = np.array([_number(r.label) for r in rows], dtype=np.float64)
        keep = np.isfinite(pred) & np.isfinite(truth)
        if keep.any():
            with np.errstate(over="ignore"):
                err = pred[keep] - truth[keep]
                ape = np.abs(err) / np.maximum(np.abs(truth[keep]), np.finfo(np.float64).eps)
                for item, v in (("abs", np.abs(err)), ("sq", err * err), ("ape", ape)):
                    out[item] = Sums(int(v.size), float(v.sum()), float((v * v).sum()))
        return out
    pred = _class_keys([r.prediction for r in rows])
    label = _class_keys([r.label for r in rows])
    # counted as Python strings: a numpy str array would drop trailing NULs, making "\x00" the class ""
    for (p, a), c in sorted(Counter(zip(pred.tolist(), label.tolist(), strict=True)).items()):
        out[confusion_item(p, a)] = Sums(int(c))
    if kind == "multiclass":
        return out
    (pos,) = _class_keys([positive_class])
    score = np.array([p if (p := _probability(r.score)) is not None else math.nan for r in rows])
    scored = np.isfinite(score)
    if not scored.any():
        return out
    s, y = score[scored], (label[scored] == pos)
    eps = np.finfo(np.float64).eps
    p = np.clip(s, eps, 1 - eps)
    loss = -np.where(y, np.log(p), np.log1p(-p))
    out["ll"] = Sums(int(loss.size), float(loss.sum()), float((loss * loss).sum()))
    ece = np.searchsorted(np.linspace(0.0, 1.0, ECE_BINS + 1)[1:-1], s)
    for b in np.unique(ece).tolist():
        at = ece == b
        # calibration bin b: rows, their summed score and (in `squares`) how many were positive
        out[f"e{_SEP}{b}"] = Sums(int(at.sum()), float(s[at].sum()), float(y[at].sum()))
    cell = _logit_cell(s) * 2 + y
    for c, n in zip(*np.unique(cell, return_counts=True), strict=True):
        out[f"{CELL_PREFIX}{int(c) // 2}{_SEP}{int(c) % 2}"] = Sums(int(n))
    return out


def summarize(
    rows: Sequence[LabelledRow], *, prediction_type: str, positive_class: Any = 1, slice_columns: Sequence[str] = ()
) -> Summary:
    """The summary of some labelled rows (unlabelled ones are skipped), per slice value as sent: folding
    rare values into "other" waits for the window, whose most frequent values decide."""
    groups: dict[str, list[LabelledRow]] = {}
    for r in rows:
        if r.label is None:
            continue
        groups.setdefault(ALL, []).append(r)
        for col in slice_columns:
            v = r.slices.get(col)
            if v is not None:
                groups.setdefault(f"{col}={slice_value(col, v)}", []).append(r)
    return {key: _table(members, prediction_type, positive_class) for key, members in groups.items()}


def _sums(codes: np.ndarray, size: int, values: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Per code 0..size-1: how many, and (given values) their sum and sum of squares."""
    n = np.bincount(codes, minlength=size)
    if values is None:
        return (n,)
    return n, np.bincount(codes, values, minlength=size), np.bincount(codes, values * values, minlength=size)


def summarize_many(
    rows: Sequence[LabelledRow],
    buckets: Sequence[K],
    *,
    prediction_type: str,
    positive_class: Any = 1,
    slice_columns: Sequence[str] = (),
) -> dict[K, Summary]:
    """`summarize` of each bucket's rows (`buckets[i]` is row i's), computed in one vectorised pass: the
    same items and counts, sums equal up to float summation order. A tick summarises thousands of minutes;
    one pass over all their rows replaces thousands of small per-minute computations."""
    members: list[int] = []
    keys: dict[tuple[K, str], int] = {}
    codes_list: list[int] = []
    for i, r in enumerate(rows):
        if r.label is None:
            continue
        b = buckets[i]
        members.append(i)
        codes_list.append(keys.setdefault((b, ALL), len(keys)))
        for col in slice_columns:
            v = r.slices.get(col)
            if v is not None:
                members.append(i)
                codes_list.append(keys.setdefault((b, f"{col}={slice_value(col, v)}"), len(keys)))
    out: dict[K, Summary] = {}
    if not members:
        return out
    group = list(keys)
    g = len(group)
    codes = np.array(codes_list, dtype=np.int64)
    at = np.array(members, dtype=np.int64)
    items: list[dict[str, Sums]] = [{LABELLED: Sums(int(n))} for n in _sums(codes, g)[0]]
    used = sorted(set(members))
    if prediction_type == "regression":
        pred = np.full(len(rows), np.nan)
        truth = np.full(len(rows), np.nan)
        for i in used:
            pred[i] = x if (x := _number(rows[i].prediction)) is not None else np.nan
            truth[i] = x if (x := _number(rows[i].label)) is not None else np.nan
        keep = np.isfinite(pred[at]) & np.isfinite(truth[at])
        with np.errstate(over="ignore"):
            err = pred[at][keep] - truth[at][keep]
            ape = np.abs(err) / np.maximum(np.abs(truth[at][keep]), np.finfo(np.float64).eps)
            for item, v in (("abs", np.abs(err)), ("sq", err * err), ("ape", ape)):
                for k, (n, total, squares) in enumerate(zip(*_sums(codes[keep], g, v), strict=True)):
                    if n:
                        items[k][item] = Sums(int(n), float(total), float(squares))
    else:
        pred_key = np.empty(len(rows), dtype=object)
        label_key = np.empty(len(rows), dtype=object)
        pred_key[used] = _class_keys([rows[i].prediction for i in used])
        label_key[used] = _class_keys([rows[i].label for i in used])
        pairs: dict[tuple[str, str], int] = {}
        pair = np.array([pairs.setdefault((p, a), len(pairs)) for p, a in zip(pred_key[at].tolist(),
                        label_key[at].tolist(), strict=True)], dtype=np.int64)  # fmt: skip
        names = [confusion_item(p, a) for p, a in pairs]
        found, counts = np.unique(codes * len(pairs) + pair, return_counts=True)  # sparse: classes may be many
        for j, n in zip(found.tolist(), counts.tolist(), strict=True):
            items[j // len(pairs)][names[j % len(pairs)]] = Sums(n)
        if prediction_type != "multiclass":
            _add_scored(items, rows, used, at, codes, label_key, g, positive_class)
    for (b, key), table in zip(group, items, strict=True):
        out.setdefault(b, {})[key] = table
    return out


def _add_scored(
    items: list[dict[str, Sums]], rows: Sequence[LabelledRow], used: list[int], at: np.ndarray, codes: np.ndarray,
    label_key: np.ndarray, g: int, positive_class: Any,
) -> None:
    """A binary model's scored items per group (log loss, calibration bins, ROC AUC cells), as `_table`'s."""
    (pos,) = _class_keys([positive_class])
    score = np.full(len(rows), np.nan)
    raw = [rows[i].score for i in used]
    # stored scores are floats or None: those in one numpy pass, anything else through _probability
    x = np.fromiter((v if type(v) is float else _nan_or(_probability(v)) for v in raw), np.float64, len(raw))
    with np.errstate(invalid="ignore"):
        score[used] = np.where((x >= 0.0) & (x <= 1.0), x, np.nan)
    scored = np.isfinite(score[at])
    if not scored.any():
        return
    sc, s, y = codes[scored], score[at][scored], (label_key[at][scored] == pos)
    eps = np.finfo(np.float64).eps
    p = np.clip(s, eps, 1 - eps)
    loss = -np.where(y, np.log(p), np.log1p(-p))
    for k, (n, total, squares) in enumerate(zip(*_sums(sc, g, loss), strict=True)):
        if n:
            items[k]["ll"] = Sums(int(n), float(total), float(squares))
    ece = np.searchsorted(np.linspace(0.0, 1.0, ECE_BINS + 1)[1:-1], s)
    slot = sc * ECE_BINS + ece
    n_e, s_e = np.bincount(slot, minlength=g * ECE_BINS), np.bincount(slot, s, minlength=g * ECE_BINS)
    y_e = np.bincount(slot, y.astype(np.float64), minlength=g * ECE_BINS)
    for j in np.nonzero(n_e)[0].tolist():
        items[j // ECE_BINS][f"e{_SEP}{j % ECE_BINS}"] = Sums(int(n_e[j]), float(s_e[j]), float(y_e[j]))
    found, counts = np.unique(sc * (2 * AUC_BINS) + _logit_cell(s) * 2 + y, return_counts=True)
    for j, n in zip(found.tolist(), counts.tolist(), strict=True):
        c = j % (2 * AUC_BINS)
        items[j // (2 * AUC_BINS)][f"{CELL_PREFIX}{c // 2}{_SEP}{c % 2}"] = Sums(n)


def _nan_or(x: float | None) -> float:
    return np.nan if x is None else x


def slice_totals(slices: Iterable[Mapping[str, Any] | None], slice_columns: Sequence[str]) -> dict[str, int]:
    """Records per slice ("all", "column=value"), labelled or not: what folding and coverage read."""
    out: dict[str, int] = {}
    for sl in slices:
        out[ALL] = out.get(ALL, 0) + 1
        for col in slice_columns:
            v = (sl or {}).get(col)
            if v is not None:
                key = f"{col}={slice_value(col, v)}"
                out[key] = out.get(key, 0) + 1
    return out


def merged(parts: Iterable[Summary]) -> Summary:
    """The sum of several summaries (minutes of a window, collectors of one minute)."""
    out: Summary = {}
    for part in parts:
        for key, items in part.items():
            into = out.setdefault(key, {})
            for item, s in items.items():
                _add(into, item, s)
    return out


def _fold(
    summary: Summary, totals: Mapping[str, int], slice_columns: Sequence[str], max_values: int
) -> tuple[Summary, dict[str, int]]:
    """Slices folded as `analyzers.performance.bounded_values` folds them: per column, the `max_values` most
    frequent values by records (ties by name) keep their name, the rest become "other"."""
    keep: dict[str, set[str]] = {}
    for col in slice_columns:
        counts = {k.split("=", 1)[1]: n for k, n in totals.items() if k.startswith(f"{col}=")}
        keep[col] = set(sorted(counts, key=lambda v: (-counts[v], v))[:max_values])

    def folded(key: str) -> str | None:
        if key == ALL:
            return ALL
        col, _, value = key.partition("=")
        if col not in keep:
            return None
        return key if value in keep[col] else f"{col}={OTHER}"

    out_totals: dict[str, int] = {}
    for key, n in totals.items():
        if (to := folded(key)) is not None:
            out_totals[to] = out_totals.get(to, 0) + n
    out: Summary = {}
    for key, items in summary.items():
        if (to := folded(key)) is not None:
            into = out.setdefault(to, {})
            for item, s in items.items():
                _add(into, item, s)
    return out, out_totals


class _Cells:
    """One slice's summary as arrays the metrics (and their multinomial resamples) are functions of."""

    def __init__(self, items: Mapping[str, Sums], positive: str) -> None:
        confusion = [(*json.loads(k[1:]), s.n) for k, s in items.items() if k.startswith("c[")]
        self.classes = sorted({p for p, _, _ in confusion} | {a for _, a, _ in confusion})
        index = {c: i for i, c in enumerate(self.classes)}
        k = len(self.classes)
        self.confusion = np.zeros((k, k), dtype=np.int64)
        for p, a, n in confusion:
            self.confusion[index[p], index[a]] += n
        self.positive = index.get(positive, -1)
        auc: dict[int, list[int]] = {}
        self.ece_n = np.zeros(ECE_BINS, dtype=np.int64)
        self.ece_score = np.zeros(ECE_BINS)
        self.ece_pos = np.zeros(ECE_BINS)
        for key, s in items.items():
            parts = key.split(_SEP)
            if parts[0] == "r":
                auc.setdefault(int(parts[1]), [0, 0])[int(parts[2])] += s.n
            elif parts[0] == "e":
                b = int(parts[1])
                self.ece_n[b] += s.n
                self.ece_score[b] += s.total
                self.ece_pos[b] += s.squares
        # occupied logit cells in score order, (negatives, positives) each: all that ROC AUC reads
        self.auc = np.array([auc[c] for c in sorted(auc)], dtype=np.int64).reshape(-1, 2)

    # each metric takes per-resample cell counts (b, cells) and returns (b,) values

    def binary_f1(self, c: np.ndarray) -> np.ndarray:
        """c: (b, k*k) confusion counts."""
        m = c.reshape(-1, *self.confusion.shape)
        if self.positive < 0:
            tp = np.zeros(m.shape[0])
            predicted = actual = tp
        else:
            tp = m[:, self.positive, self.positive]
            predicted, actual = m[:, self.positive, :].sum(1), m[:, :, self.positive].sum(1)
        return _ratio(2 * tp, predicted + actual)

    def macro(self, which: str) -> Any:
        """c: (b, k*k) confusion counts -> macro precision, recall or F1."""
        return lambda c: macro_from_confusion(c.reshape(-1, *self.confusion.shape), which)

    def roc_auc(self, c: np.ndarray) -> np.ndarray:
        """c: (b, occupied cells*2) per-cell negatives and positives; pairs sharing a cell count half."""
        m = c.reshape(-1, len(self.auc), 2)
        neg, pos = m[:, :, 0], m[:, :, 1]
        below = np.cumsum(neg, axis=1) - neg
        twice = (pos * (2 * below + neg)).sum(1)
        return _ratio(twice / 2, (pos.sum(1) * neg.sum(1)).astype(np.float64))

    def ece(self, c: np.ndarray) -> np.ndarray:
        """c: (b, ECE_BINS*2) per-bin negatives and positives; each bin keeps its mean score."""
        m = c.reshape(-1, ECE_BINS, 2)
        n = m.sum(2)
        mean_score = _ratio(self.ece_score, self.ece_n.astype(np.float64))
        mean_score = np.where(np.isnan(mean_score), 0.0, mean_score)
        residual = m[:, :, 1] - n * mean_score
        return _ratio(np.abs(residual).sum(1), n.sum(1).astype(np.float64))

    def ece_cells(self) -> np.ndarray:
        return np.stack([self.ece_n - self.ece_pos, self.ece_pos], axis=1).round().astype(np.int64).ravel()


def _multinomial_interval(
    fn: Any, cells: np.ndarray, *, resamples: int, seed: int, confidence: float
) -> tuple[float, float] | None:
    """Percentile interval of fn over `resamples` multinomial redraws of the cell counts."""
    n = int(cells.sum())
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, cells / n, size=resamples)
    v = fn(draws)
    v = v[np.isfinite(v)]
    if not v.size:
        return None
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(v, [tail, 100 - tail])
    return float(lo), float(hi)


def _delong_interval(cells: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """DeLong's interval for ROC AUC from per-cell (negatives, positives) counts in score order, on the logit
    scale so it stays inside (0, 1). Each positive's placement (the share of negatives below it, half of
    those in its cell) is its cell's, and likewise for negatives, so the variance needs only the cells: exact
    DeLong on the grid, a closed form in place of 1,000 multinomial redraws of several hundred cells."""
    neg, pos = cells[:, 0].astype(np.float64), cells[:, 1].astype(np.float64)
    m, n = pos.sum(), neg.sum()
    if m < 2 or n < 2:
        return None
    v10 = (np.cumsum(neg) - neg / 2) / n  # per positive in the cell: negatives below, ties half
    v01 = (m - np.cumsum(pos) + pos / 2) / m  # per negative in the cell: positives above, ties half
    auc = float((pos * v10).sum() / m)
    var = float((pos * (v10 - auc) ** 2).sum() / (m - 1) / m + (neg * (v01 - auc) ** 2).sum() / (n - 1) / n)
    z = float(norm.ppf(0.5 + confidence / 2))
    if not 0.0 < auc < 1.0:
        half = z * math.sqrt(var)
        return max(auc - half, 0.0), min(auc + half, 1.0)
    centre, half = math.log(auc / (1 - auc)), z * math.sqrt(var) / (auc * (1 - auc))
    return 1 / (1 + math.exp(-(centre - half))), 1 / (1 + math.exp(-(centre + half)))


def _mean_interval(s: Sums, confidence: float) -> tuple[float, float] | None:
    """Normal interval of a mean from its count, sum and sum of squares."""
    if s.n < 2 or not (math.isfinite(s.total) and math.isfinite(s.squares)):
        return None
    mean = s.total / s.n
    var = max(0.0, (s.squares - s.n * mean * mean) / (s.n - 1))
    half = float(norm.ppf(0.5 + confidence / 2)) * math.sqrt(var / s.n)
    return mean - half, mean + half


def _slice_metrics(
    items: Mapping[str, Sums], kind: str, positive: str, *, min_support: int, resamples: int, confidence: float,
    seed: str,
) -> dict[str, tuple[float | None, float | None, float | None, int]]:
    """(value, lower, upper, support) of every metric of one slice."""
    out: dict[str, tuple[float | None, float | None, float | None, int]] = {}

    def interval_ok(n: int) -> bool:
        return n >= max(2, min_support)

    def seeded(name: str) -> int:
        return zlib.crc32(f"{seed}/{name}".encode())

    def finite(v: float) -> float | None:
        return v if math.isfinite(v) else None

    if kind == "regression":
        for metric, item in (("mae", "abs"), ("rmse", "sq"), ("mape", "ape")):
            s = items.get(item)
            if s is None or s.n == 0:
                out[metric] = (None, None, None, 0)
                continue
            mean = s.total / s.n
            value = finite(math.sqrt(mean) if metric == "rmse" and mean >= 0 else mean)
            ci = _mean_interval(s, confidence) if value is not None and interval_ok(s.n) else None
            if ci is not None and metric == "rmse":
                ci = (math.sqrt(max(ci[0], 0.0)), math.sqrt(max(ci[1], 0.0)))
            out[metric] = (value, *(ci or (None, None)), s.n) if value is not None else (None, None, None, s.n)
        return out
    cells = _Cells(items, positive)
    n = int(cells.confusion.sum())

    def proportion(k: int, d: int) -> tuple[float | None, float | None, float | None, int]:
        if d == 0:
            return None, None, None, 0
        lo, hi = wilson_interval(k, d, confidence)
        return k / d, lo, hi, d

    def boot(name: str, fn: Any, c: np.ndarray, size: int) -> tuple[float | None, float | None, float | None, int]:
        if size == 0:
            return None, None, None, 0
        value = float(fn(c[None, :])[0])
        if not math.isfinite(value):
            return None, None, None, size
        ci = None
        if interval_ok(size) and resamples > 0:
            ci = _multinomial_interval(fn, c, resamples=resamples, seed=seeded(name), confidence=confidence)
        return value, *(ci or (None, None)), size

    out["accuracy"] = proportion(int(np.trace(cells.confusion)), n)
    flat = cells.confusion.ravel()
    if kind == "multiclass":
        for name in ("precision", "recall", "f1"):
            out[name] = boot(name, cells.macro(name), flat, n)
        return out
    p = cells.positive
    tp = int(cells.confusion[p, p]) if p >= 0 else 0
    out["precision"] = proportion(tp, int(cells.confusion[p, :].sum()) if p >= 0 else 0)
    out["recall"] = proportion(tp, int(cells.confusion[:, p].sum()) if p >= 0 else 0)
    out["f1"] = boot("f1", cells.binary_f1, flat, n)
    scored = int(cells.auc.sum())
    auc = float(cells.roc_auc(cells.auc.ravel()[None, :])[0]) if scored else math.nan
    if not math.isfinite(auc):
        out["roc_auc"] = (None, None, None, scored)
    else:
        ci = _delong_interval(cells.auc, confidence) if interval_ok(scored) and resamples > 0 else None
        out["roc_auc"] = (auc, *(ci or (None, None)), scored)
    ll = items.get("ll")
    if ll is None or ll.n == 0:
        out["log_loss"] = (None, None, None, 0)
    else:
        v = ll.total / ll.n
        ci = _mean_interval(ll, confidence) if interval_ok(ll.n) else None
        out["log_loss"] = (v, *(ci or (None, None)), ll.n)
    out["ece"] = boot("ece", cells.ece, cells.ece_cells(), scored)
    return out


def performance_from_summary(
    summary: Summary,
    totals: Mapping[str, int],
    *,
    prediction_type: str,
    positive_class: Any = 1,
    slice_columns: Sequence[str] = (),
    max_slice_values: int = 20,
    min_coverage: float = 0.5,
    min_support: int = 30,
    resamples: int = 1000,
    confidence: float = 0.95,
) -> tuple[PerformanceValue, ...]:
    """Every metric of the model's kind per slice, as `window_performance` gives them from raw rows.

    `totals` counts the window's records, labelled or not, per slice ("all", "column=value"): they decide
    which values keep their own slice and each slice's label coverage."""
    folded, folded_totals = _fold(summary, totals, slice_columns, max_slice_values)
    (positive,) = _class_keys([positive_class])
    out: list[PerformanceValue] = []
    for key in sorted(folded_totals):
        items = folded.get(key, {})
        labelled = items[LABELLED].n if LABELLED in items else 0
        total = folded_totals[key]
        coverage = labelled / total if total else 0.0
        metrics = _slice_metrics(
            items, prediction_type, positive, min_support=min_support, resamples=resamples,
            confidence=confidence, seed=key,
        )
        for metric in metrics_for(prediction_type):
            value, lower, upper, support = metrics.get(metric, (None, None, None, 0))
            status: Status
            if value is None or support < min_support:
                status = "insufficient_data"
            elif coverage < min_coverage:
                status = "immature"
            else:
                status = "ok"
            out.append(PerformanceValue(key, metric, value, lower, upper, support, total, status))
    return tuple(out)
