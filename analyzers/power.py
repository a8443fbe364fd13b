"""What a window of a given size can tell: the minimum detectable effect (MDE) and whether a drift is significant.

A divergence read off a small window is mostly noise (PSI of two samples of one distribution is about
(bins - 1) / n_eff, n_eff = n_ref * n_cur / (n_ref + n_cur)), and a p-value test on a huge window flags
drifts too small to matter. A verdict therefore needs both: the effect (the statistic's value against
its thresholds) and its significance, and "ok" is only said when the window could have seen an
alert-sized drift. Everything here is an asymptotic approximation, stated per statistic:

- PSI-family divergences (psi, jeffreys, kl, kl_reverse, js, hellinger): to second order each is a
  function of the chi-squared divergence J (PSI = Jeffreys = J, KL = J / 2, JS distance =
  sqrt(J / (8 ln 2)), Hellinger = sqrt(J / 8)); n_eff * J is Pearson's two-sample chi-squared
  statistic, chi-squared with bins - 1 degrees of freedom without drift and noncentral (noncentrality
  n_eff * J) with it. The MDE is the J whose noncentral chi-squared exceeds the 5% critical value with
  80% probability, written in the statistic's own units. A verdict's significance is that Pearson test on
  the bin counts themselves (`counts_significant`): a smoothed divergence of a few values, with most bins
  empty, is far from its second-order form and says nothing about significance.
- Wasserstein / reference std: a location shift of d standard deviations has distance d; MDE =
  (z_0.975 + z_0.8) * sqrt(1/n_ref + 1/n_cur) (the two-sample z-test), significant above
  z_0.975 * sqrt(1/n_ref + 1/n_cur).
- KS distance D: the 5% critical value sqrt(ln(2 / 0.05) / 2) * sqrt(1/n_ref + 1/n_cur) plus z_0.8 times
  the largest standard deviation of an empirical CDF difference (0.5 * sqrt(1/n_ref + 1/n_cur)).
- chi2: its value is a test statistic, not an effect size: no MDE (None); its p-value is its significance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

from scipy import optimize, stats

__all__ = [
    "POWER",
    "PSI_FAMILY",
    "SIGNIFICANCE",
    "counts_significant",
    "effective_n",
    "min_detectable_effect",
    "significant",
]

#: Level at which an effect counts as significant, and the power an MDE is detected with.
SIGNIFICANCE = 0.05
POWER = 0.8

#: PSI-family statistics: (value -> chi-squared divergence J, J -> value), to second order.
_CHI2_FAMILY: dict[str, tuple[Callable[[float], float], Callable[[float], float]]] = {
    "psi": (lambda v: v, lambda j: j),
    "jeffreys": (lambda v: v, lambda j: j),
    "kl": (lambda v: 2 * v, lambda j: j / 2),
    "kl_reverse": (lambda v: 2 * v, lambda j: j / 2),
    "js": (lambda v: 8 * math.log(2) * v * v, lambda j: math.sqrt(j / (8 * math.log(2)))),
    "hellinger": (lambda v: 8 * v * v, lambda j: math.sqrt(j / 8)),
}
#: The statistics whose significance is Pearson's chi-squared test on the bin counts.
PSI_FAMILY = frozenset(_CHI2_FAMILY)
_Z_ALPHA = float(stats.norm.isf(SIGNIFICANCE / 2))
_Z_POWER = float(stats.norm.ppf(POWER))
_KS_C = math.sqrt(math.log(2 / SIGNIFICANCE) / 2)


def effective_n(n_reference: int, n_current: int) -> float:
    """The two-sample effective size n_ref * n_cur / (n_ref + n_cur); 0 when either side is empty."""
    if n_reference <= 0 or n_current <= 0:
        return 0.0
    return n_reference * n_current / (n_reference + n_current)


@lru_cache(maxsize=256)
def _critical(df: int) -> float:
    return float(stats.chi2.isf(SIGNIFICANCE, df))


@lru_cache(maxsize=256)
def _noncentrality(df: int) -> float:
    """The noncentrality at which a chi-squared test with `df` degrees of freedom has power POWER."""
    crit = _critical(df)
    return float(optimize.brentq(lambda lam: stats.ncx2.sf(crit, df, lam) - POWER, 1e-9, 1e4))


def _spread(n_reference: int, n_current: int) -> float:
    return math.sqrt(1 / n_reference + 1 / n_current)


def min_detectable_effect(metric: str, n_reference: int, n_current: int, bins: int) -> float | None:
    """The smallest drift (in `metric`'s units) this window detects with 80% power at the 5% level.

    `bins` counts the histogram cells compared (PSI family); None where the statistic has no MDE
    (chi2, unknown statistics) or a side is empty (then nothing is detectable: the caller says
    "insufficient data").
    """
    if n_reference <= 0 or n_current <= 0:
        return None
    if metric in _CHI2_FAMILY:
        j = _noncentrality(max(bins - 1, 1)) / effective_n(n_reference, n_current)
        return _CHI2_FAMILY[metric][1](j)
    if metric == "wasserstein":
        return (_Z_ALPHA + _Z_POWER) * _spread(n_reference, n_current)
    if metric == "ks":
        return min(1.0, (_KS_C + 0.5 * _Z_POWER) * _spread(n_reference, n_current))
    return None


def significant(metric: str, value: float, n_reference: int, n_current: int, bins: int) -> bool | None:
    """Whether `value` of `metric` is beyond what two samples of one distribution give at the 5% level;
    None for statistics judged by their own p-value (tests) or without an approximation here."""
    if n_reference <= 0 or n_current <= 0 or math.isnan(value):
        return None
    if metric in _CHI2_FAMILY:
        j = _CHI2_FAMILY[metric][0](value)
        return effective_n(n_reference, n_current) * j > _critical(max(bins - 1, 1))
    if metric == "wasserstein":
        return value > _Z_ALPHA * _spread(n_reference, n_current)
    return None


def counts_significant(reference_counts: Sequence[int], current_counts: Sequence[int]) -> bool | None:
    """Whether the window's bin counts differ from the reference's at the 5% level (Pearson's chi-squared
    test of homogeneity, as `twosample.chi2`); None when a side is empty.

    The statistic against the cached critical value rather than a p-value: the same verdict, in plain
    Python over a few bins, since a tick asks it once per feature (the p-value's scipy call was a quarter
    of a 100-model tick).
    """
    r_total, c_total = sum(reference_counts), sum(current_counts)
    if not r_total or not c_total:
        return None
    n, statistic, kept = r_total + c_total, 0.0, 0
    for r, c in zip(reference_counts, current_counts, strict=True):
        column = r + c
        if column == 0:  # empty on both sides: no expected count (dropped, as scipy's table would be)
            continue
        kept += 1
        expect_r, expect_c = r_total * column / n, c_total * column / n
        statistic += (r - expect_r) ** 2 / expect_r + (c - expect_c) ** 2 / expect_c
    return kept >= 2 and statistic >= _critical(kept - 1)
