"""Multiple-testing correction of p-values: one test per feature means many chances of a false alarm."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np


class Correction(StrEnum):
    """How p-values of one statistic across the features of a window are adjusted.

    BENJAMINI_HOCHBERG controls the false discovery rate (the share of flagged features that did not
    drift); BONFERRONI controls the chance of any false flag, at the cost of missing more real drift.
    """

    BENJAMINI_HOCHBERG = "benjamini-hochberg"
    BONFERRONI = "bonferroni"
    NONE = "none"


def get_correction(name: Correction | str) -> Correction:
    """The correction called `name`; an unknown name raises ValueError listing the valid ones."""
    try:
        return Correction(name)
    except ValueError:
        valid = ", ".join(c.value for c in Correction)
        raise ValueError(f"unknown multiple-testing correction {name!r}; valid: {valid}") from None


def adjust_p_values(p_values: Sequence[float] | np.ndarray, method: Correction | str) -> np.ndarray:
    """Adjusted p-values in the input order; compare them to the level the raw ones would have met.

    Benjamini-Hochberg: p_(i) * m / i, made monotone from the largest down (scipy's
    `false_discovery_control(method="bh")`); Bonferroni: p * m; both capped at 1.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or ((p < 0) | (p > 1) | np.isnan(p)).any():
        raise ValueError("p-values must be a 1-D sequence of numbers in [0, 1]")
    m = p.size
    method = get_correction(method)
    if method is Correction.NONE or m == 0:
        return p.copy()
    if method is Correction.BONFERRONI:
        return np.minimum(p * m, 1.0)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return adjusted
