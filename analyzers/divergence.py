"""Divergences between two histograms of the same binning (the registry of statistics is `registry`).

Every divergence reads the same pair of smoothed proportions, so PSI, KL, JS, Jeffreys and Hellinger
of one window always describe the same two histograms. Smoothing keeps zero bins out of the logarithms;
with the epsilon policy a histogram without empty bins is left exactly as it is. JS and Hellinger need no
smoothing to be finite, but use the smoothed proportions too, for consistency: where a bin is empty on
one side JS differs from unsmoothed scipy by O(eps * ln(1/eps)) in divergence, about 0.5% of the
distance in the tests' example.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum

import numpy as np

Counts = Sequence[int] | Sequence[float] | np.ndarray


class EmptyBinPolicy(StrEnum):
    """How empty bins are kept out of the logarithms.

    EPSILON: a zero proportion becomes `eps` (default 1e-4), then the proportions are renormalised to 1.
    LAPLACE: `alpha` (default 0.5) is added to every count before dividing (additive smoothing).
    """

    EPSILON = "epsilon"
    LAPLACE = "laplace"


def proportions(
    counts: Counts, policy: EmptyBinPolicy | str = EmptyBinPolicy.EPSILON, eps: float = 1e-4,
    alpha: float = 0.5,
) -> np.ndarray:
    """Strictly positive proportions of a histogram under the named empty-bin policy."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size == 0 or not np.isfinite(c).all() or (c < 0).any():
        raise ValueError("counts must be a non-empty 1-D array of finite non-negative numbers")
    total = c.sum()
    if total == 0:
        raise ValueError("an empty histogram has no proportions")
    if EmptyBinPolicy(policy) is EmptyBinPolicy.LAPLACE:
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        return (c + alpha) / (total + alpha * c.size)
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps}")
    p = c / total
    p[p == 0] = eps
    return p / p.sum()


# Each divergence on a pair of smoothed proportions (reference `r`, current `c`): what the registry calls.


def psi_proportions(r: np.ndarray, c: np.ndarray) -> float:
    """PSI of two smoothed proportion vectors, sum((c - r) * ln(c / r))."""
    return float(np.sum((c - r) * np.log(c / r)))


def kl_proportions(r: np.ndarray, c: np.ndarray) -> float:
    """KL(c || r) of two smoothed proportion vectors, in nats (never below 0 from rounding)."""
    return max(0.0, float(np.sum(c * np.log(c / r))))


def kl_reverse_proportions(r: np.ndarray, c: np.ndarray) -> float:
    """KL(r || c) of two smoothed proportion vectors, in nats."""
    return kl_proportions(c, r)


def js_proportions(r: np.ndarray, c: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2) of two smoothed proportion vectors, in [0, 1]."""
    m = (r + c) / 2
    divergence = (np.sum(r * np.log2(r / m)) + np.sum(c * np.log2(c / m))) / 2
    return math.sqrt(max(0.0, float(divergence)))


def jeffreys_proportions(r: np.ndarray, c: np.ndarray) -> float:
    """Jeffreys divergence KL(c||r) + KL(r||c) of two smoothed proportion vectors, in nats."""
    return kl_proportions(r, c) + kl_reverse_proportions(r, c)


def hellinger_proportions(r: np.ndarray, c: np.ndarray) -> float:
    """Hellinger distance of two smoothed proportion vectors, in [0, 1]."""
    # The norm form keeps precision for close histograms, where 1 - sum(sqrt(r * c)) cancels.
    return math.sqrt(float(np.sum((np.sqrt(r) - np.sqrt(c)) ** 2)) / 2)


def _pair(
    ref_counts: Counts, cur_counts: Counts, policy: EmptyBinPolicy | str, eps: float, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    r = proportions(ref_counts, policy, eps, alpha)
    c = proportions(cur_counts, policy, eps, alpha)
    if r.shape != c.shape:
        raise ValueError(f"histograms differ in bins: {r.size} reference, {c.size} current")
    return r, c


def psi(ref_counts: Counts, cur_counts: Counts, policy: EmptyBinPolicy | str = EmptyBinPolicy.EPSILON,
        *, eps: float = 1e-4, alpha: float = 0.5) -> float:
    """Population stability index, sum((c - r) * ln(c / r)) = KL(c||r) + KL(r||c)."""
    return psi_proportions(*_pair(ref_counts, cur_counts, policy, eps, alpha))


def kl(ref_counts: Counts, cur_counts: Counts, policy: EmptyBinPolicy | str = EmptyBinPolicy.EPSILON,
       *, eps: float = 1e-4, alpha: float = 0.5) -> float:
    """KL(current || reference) in nats: information lost describing the current window by the reference."""
    return kl_proportions(*_pair(ref_counts, cur_counts, policy, eps, alpha))


def kl_reverse(ref_counts: Counts, cur_counts: Counts, policy: EmptyBinPolicy | str = EmptyBinPolicy.EPSILON,
               *, eps: float = 1e-4, alpha: float = 0.5) -> float:
    """KL(reference || current) in nats."""
    return kl_reverse_proportions(*_pair(ref_counts, cur_counts, policy, eps, alpha))


def js(ref_counts: Counts, cur_counts: Counts, policy: EmptyBinPolicy | str = EmptyBinPolicy.EPSILON,
       *, eps: float = 1e-4, alpha: float = 0.5) -> float:
    """Jensen-Shannon distance, base 2, in [0, 1]: scipy's jensenshannon(r, c, base=2) on the proportions."""
    return js_proportions(*_pair(ref_counts, cur_counts, policy, eps, alpha))


def jeffreys(ref_counts: Counts, cur_counts: Counts, policy: EmptyBinPolicy | str = EmptyBinPolicy.EPSILON,
             *, eps: float = 1e-4, alpha: float = 0.5) -> float:
    """Jeffreys divergence (symmetric KL), KL(c||r) + KL(r||c) in nats; on one histogram pair it is PSI."""
    return jeffreys_proportions(*_pair(ref_counts, cur_counts, policy, eps, alpha))


def hellinger(ref_counts: Counts, cur_counts: Counts, policy: EmptyBinPolicy | str = EmptyBinPolicy.EPSILON,
              *, eps: float = 1e-4, alpha: float = 0.5) -> float:
    """Hellinger distance sqrt(sum((sqrt(r) - sqrt(c))^2) / 2), in [0, 1]; bounded and symmetric."""
    return hellinger_proportions(*_pair(ref_counts, cur_counts, policy, eps, alpha))
