"""Worst-slice discovery: the slices of a window, and pairs of slices, whose performance is significantly low.

Every slice (one declared column's value, or a pair of columns' values) with at least `min_support`
labelled rows is compared with the rest of the window by a one-sided Fisher exact test (the slice's
successes against a hypergeometric draw of its size from the window: exact where a z-test's normal
approximation runs anti-conservative at accuracies near 1); the p-values of all slices tested are
corrected together with Benjamini-Hochberg, since 20 regions x 5 devices ask over a hundred questions.
A slice is reported when its corrected p-value is at most 1 - confidence *and* its Wilson interval lies
wholly below the overall value, so the figure on-call reads never contradicts the claim. Findings rank
by the drop in points, largest first (ties: smaller corrected p-value), so a planted pair outranks the
parents it dilutes. With nothing planted, the chance that a window shows any finding is about
1 - confidence (Benjamini-Hochberg controls the family-wise rate when no slice differs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy.stats import hypergeom

from analyzers.correction import Correction, adjust_p_values
from analyzers.performance import LabelledRow, bounded_values, same_class, slice_keys, wilson_interval

Slice = tuple[tuple[str, str], ...]
TEST = "fisher-exact vs rest, one-sided"

# A metric is a proportion: (is the row in its denominator, is it a success), given the positive class.
_Proportion = Callable[[LabelledRow, Any], tuple[bool, bool]]
METRICS: dict[str, _Proportion] = {
    "accuracy": lambda r, pos: (True, same_class(r.prediction, r.label)),
    "precision": lambda r, pos: (same_class(r.prediction, pos), same_class(r.label, pos)),
    "recall": lambda r, pos: (same_class(r.label, pos), same_class(r.prediction, pos)),
}


@dataclass(frozen=True)
class SliceFinding:
    """One slice's metric with its Wilson interval and support, against the whole window's value."""

    slice: Slice  # one or two (column, value) pairs; values beyond the cardinality bound are "other"
    metric: str
    value: float
    lower: float
    upper: float
    support: int  # labelled rows in the metric's denominator
    overall: float
    drop_points: float  # (overall - value) x 100; negative when the slice does better
    p_value: float  # one-sided: the slice does worse than the rest of the window
    p_adjusted: float  # Benjamini-Hochberg across `tested` slices
    tested: int
    significant: bool
    confidence: float
    test: str = TEST
    correction: str = Correction.BENJAMINI_HOCHBERG.value

    @property
    def label(self) -> str:
        """The slice as on-call reads it: "region=EU ∧ device=ios"."""
        return " ∧ ".join(f"{column}={value}" for column, value in self.slice)

    def describe(self) -> str:
        """One line for on-call.

        e.g. "region=EU ∧ device=ios: accuracy 0.71 [0.66, 0.76], 12.3 points below all (0.83), n=240"
        """
        where = "below" if self.drop_points >= 0 else "above"
        return (f"{self.label}: {self.metric} {self.value:.2f} [{self.lower:.2f}, {self.upper:.2f}], "
                f"{abs(self.drop_points):.1f} points {where} all ({self.overall:.2f}), n={self.support}")


def _folded(row: LabelledRow, columns: Sequence[str], allowed: dict[str, set[str]]) -> list[tuple[str, str]]:
    present = [c for c in columns if c in row.slices and row.slices[c] is not None]
    keys = slice_keys(row.slices, present, allowed)[1:]  # "column=value", in `present` order
    return [(c, k[len(c) + 1:]) for c, k in zip(present, keys, strict=True)]


def _counts(
    rows: Sequence[LabelledRow], columns: Sequence[str],
    in_metric: Callable[[LabelledRow], tuple[bool, bool]], allowed: dict[str, set[str]], pairs: bool,
) -> tuple[int, int, dict[Slice, list[int]]]:
    """Labelled rows and successes in the metric's denominator: the whole window's, and each slice's."""
    n = k = 0
    counts: dict[Slice, list[int]] = {}
    for r in rows:
        if r.label is None:
            continue
        counted, success = in_metric(r)
        if not counted:
            continue
        n, k = n + 1, k + success
        folded = _folded(r, columns, allowed)
        keys: list[Slice] = [(cv,) for cv in folded]
        if pairs:
            keys += list(combinations(folded, 2))
        for key in keys:
            c = counts.setdefault(key, [0, 0])
            c[0] += 1
            c[1] += success
    return n, k, counts


def _p_worse(k: np.ndarray, n: np.ndarray, k_all: int, n_all: int) -> np.ndarray:
    """One-sided Fisher exact p-values: P(a random n of the window's rows hold ≤ k successes)."""
    return np.asarray(hypergeom.cdf(k, n_all, k_all, n), dtype=np.float64)


def slice_scan(
    rows: Sequence[LabelledRow], slice_columns: Sequence[str], *, metric: str = "accuracy",
    min_support: int = 30, max_slice_values: int = 20, confidence: float = 0.95, include_pairs: bool = True,
    positive_class: Any = 1, min_drop_points: float = 0.0,
) -> tuple[SliceFinding, ...]:
    """Every slice with `min_support` labelled rows, tested and corrected together, in slice order.

    A pair identical to one of its parents (every EU row is ios) is left out: the parent says it.
    `worst_slices` is this table, filtered to the significant slices and ranked.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown slice metric {metric!r}; valid: {', '.join(METRICS)}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    columns = list(dict.fromkeys(slice_columns))
    allowed = bounded_values(rows, columns, max_slice_values)
    fn = METRICS[metric]
    n_all, k_all, counts = _counts(rows, columns, lambda r: fn(r, positive_class), allowed, include_pairs)
    if n_all == 0 or n_all < min_support:
        return ()
    keys = [
        key for key in sorted(counts)
        if min_support <= counts[key][0] < n_all
        and not (len(key) == 2 and counts[key][0] in (counts[(key[0],)][0], counts[(key[1],)][0]))
    ]
    if not keys:
        return ()
    n = np.array([counts[key][0] for key in keys], dtype=np.float64)
    k = np.array([counts[key][1] for key in keys], dtype=np.float64)
    p = _p_worse(k, n, k_all, n_all)
    adjusted = adjust_p_values(p, Correction.BENJAMINI_HOCHBERG)
    overall = k_all / n_all
    out = []
    for i, key in enumerate(keys):
        value = k[i] / n[i]
        lower, upper = wilson_interval(int(k[i]), int(n[i]), confidence)
        drop = (overall - value) * 100
        significant = bool(adjusted[i] <= 1 - confidence and upper < overall and drop >= min_drop_points)
        out.append(SliceFinding(key, metric, float(value), lower, upper, int(n[i]), overall, float(drop),
                                float(p[i]), float(adjusted[i]), len(keys), significant, confidence))
    return tuple(out)


def worst_slices(
    rows: Sequence[LabelledRow], slice_columns: Sequence[str], *, metric: str = "accuracy",
    min_support: int = 30, max_slice_values: int = 20, confidence: float = 0.95, max_results: int = 10,
    include_pairs: bool = True, positive_class: Any = 1, min_drop_points: float = 0.0,
) -> tuple[SliceFinding, ...]:
    """The slices significantly below the whole window, largest drop first, at most `max_results`.

    `min_drop_points` ignores drops too small to act on, which a large window makes significant.
    """
    scan = slice_scan(rows, slice_columns, metric=metric, min_support=min_support,
                      max_slice_values=max_slice_values, confidence=confidence, include_pairs=include_pairs,
                      positive_class=positive_class, min_drop_points=min_drop_points)
    found = sorted((f for f in scan if f.significant), key=lambda f: (-f.drop_points, f.p_adjusted, f.slice))
    return tuple(found[:max_results])
