"""Two-sample statistics on raw values or raw counts: KS and Wasserstein on samples, chi-squared on bins.

Each returns a `Score`: the statistic and, for the tests, its p-value. KS and Wasserstein read one
`Samples` pair, whose merged empirical CDFs are computed once for both.
"""

from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

import numpy as np
from scipy import stats

EXACT_KS_MAX_N = 10_000  # scipy's ks_2samp "auto": exact p-value when both samples are this small


class Score(NamedTuple):
    """A statistic's value and, for a hypothesis test, its (uncorrected) p-value."""

    value: float
    p_value: float | None = None


def _sorted(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x if x.size < 2 or bool(np.all(x[1:] >= x[:-1])) else np.sort(x)


class Samples:
    """A reference sample and a window's values (finite floats), sorted once, and `scale`, the reference
    standard deviation that distances are expressed in."""

    def __init__(self, reference: np.ndarray, current: np.ndarray, scale: float | None = None) -> None:
        self.reference, self.current, self.scale = _sorted(reference), _sorted(current), scale

    @cached_property
    def merged(self) -> tuple[np.ndarray, np.ndarray]:
        """Every value of both samples in order, and F_ref - F_cur at each (right-continuous CDFs)."""
        u, v = self.reference, self.current
        points = np.concatenate((u, v))
        points.sort(kind="mergesort")  # two sorted runs: a linear merge
        return points, u.searchsorted(points, "right") / u.size - v.searchsorted(points, "right") / v.size


def ks_test(samples: Samples) -> Score:
    """Two-sample Kolmogorov-Smirnov: sup |F_ref - F_cur| and the two-sided p-value of scipy's ks_2samp.

    Small samples go to ks_2samp itself (exact p-value); larger ones take its asymptotic branch
    (`kstwo.sf(D, round(m n / (m + n)))`) on the CDFs already merged for Wasserstein.
    """
    u, v = samples.reference, samples.current
    if max(u.size, v.size) <= EXACT_KS_MAX_N:
        result = stats.ks_2samp(u, v)
        return Score(float(result.statistic), float(result.pvalue))
    gap = samples.merged[1]
    d = max(float(np.clip(-gap.min(), 0, 1)), float(gap.max()))
    m, n = sorted((float(u.size), float(v.size)), reverse=True)
    return Score(d, float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1)))


def wasserstein_distance(samples: Samples) -> float:
    """Earth mover's distance between the two empirical distributions: the integral of |F_ref - F_cur|.

    scipy's formula, except that a stretch where the CDFs agree contributes 0 even when it is infinitely
    long (values near +-1e308), so identical samples are at distance 0, never nan.
    """
    points, gap = samples.merged
    cdf_gap = np.abs(gap[:-1])
    with np.errstate(invalid="ignore", over="ignore"):
        area = np.where(cdf_gap == 0, 0.0, cdf_gap * np.diff(points))
    return float(np.sum(area))


def wasserstein_test(samples: Samples) -> Score:
    """Wasserstein distance in units of the reference standard deviation: unit-free, comparable.

    With no spread to divide by (scale None or 0) the value is 0 when the samples coincide, else nan.
    """
    distance = wasserstein_distance(samples)
    if distance == 0:
        return Score(0.0)
    if samples.scale is None or not samples.scale > 0:
        return Score(float("nan"))
    return Score(distance / samples.scale)


def ks(reference: np.ndarray, current: np.ndarray) -> Score:
    """KS statistic and p-value of two samples (see `ks_test`)."""
    return ks_test(Samples(reference, current))


def wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein distance of two samples in their own units (see `wasserstein_distance`)."""
    return wasserstein_distance(Samples(reference, current))


def chi2(reference_counts: np.ndarray, current_counts: np.ndarray) -> Score:
    """Pearson chi-squared test of homogeneity on the 2 x k table of reference and window counts per bin.

    Bins empty on both sides are dropped (they have no expected count); no Yates continuity correction,
    also when two bins remain: scipy's `chi2_contingency(table, correction=False)`. Fewer than two
    non-empty bins gives 0 with p-value 1; an empty side is refused.
    """
    table = np.vstack((reference_counts, current_counts)).astype(np.float64)
    if (table.sum(axis=1) == 0).any():
        raise ValueError("an empty histogram has no chi-squared test")
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return Score(0.0, 1.0)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return Score(statistic, float(stats.chi2.sf(statistic, table.shape[1] - 1)))
