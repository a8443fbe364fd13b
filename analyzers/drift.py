"""Drift of a window against its reference: bin with the frozen reference binning, then score each metric."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from analyzers.binning import FeatureReference, Histogram
from analyzers.divergence import (
    STATISTICS,
    EmptyBinPolicy,
    Statistic,
    get_statistic,
    js,
    kl,
    kl_reverse,
    proportions,
    psi,
)

__all__ = [
    "DEFAULT_METRICS", "STATISTICS", "DriftValue", "EmptyBinPolicy", "Statistic", "drift_table",
    "feature_drift", "get_statistic", "histogram_drift", "js", "kl", "kl_reverse", "proportions", "psi",
]

DEFAULT_METRICS = ("psi", "kl", "js")

Status = Literal["ok", "warn", "alert", "insufficient_data"]


@dataclass(frozen=True)
class DriftValue:
    """One metric of one feature in one window, with the sample sizes and policy it was computed from."""

    feature: str
    metric: str
    value: float  # nan only when either side has no binned value at all
    n_reference: int
    n_current: int
    status: Status
    policy: str


def _thresholds(stat: Statistic, warn: float | None, alert: float | None) -> tuple[float, float]:
    w = stat.warn if warn is None else warn
    a = stat.alert if alert is None else alert
    if not w <= a:
        raise ValueError(f"{stat.name}: warn ({w}) must not exceed alert ({a})")
    return w, a


def _status(value: float, enough: bool, warn: float, alert: float) -> Status:
    if not enough or math.isnan(value):
        return "insufficient_data"
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


def histogram_drift(
    reference: FeatureReference, current: Histogram, metrics: Sequence[str] = DEFAULT_METRICS,
    warn: float | None = None, alert: float | None = None, min_count: int = 30,
    policy: EmptyBinPolicy | str = EmptyBinPolicy.EPSILON, *, eps: float = 1e-4, alpha: float = 0.5,
) -> tuple[DriftValue, ...]:
    """Drift of an already binned window (e.g. merged per-minute histograms); see `feature_drift`."""
    stats = [get_statistic(m) for m in metrics]
    limits = [_thresholds(s, warn, alert) for s in stats]
    policy = EmptyBinPolicy(policy)
    n_ref, n_cur = reference.n, current.n
    if len(current.counts) != len(reference.counts):
        raise ValueError(f"{reference.binning.feature}: window has {len(current.counts)} bins, "
                         f"reference {len(reference.counts)}")
    if n_ref and n_cur:
        r = proportions(reference.counts, policy, eps, alpha)
        c = proportions(current.counts, policy, eps, alpha)
        values = [s.fn(r, c) for s in stats]
    else:
        values = [math.nan] * len(stats)
    enough = min(n_ref, n_cur) >= min_count
    return tuple(
        DriftValue(reference.binning.feature, s.name, v, n_ref, n_cur, _status(v, enough, w, a), policy.value)
        for s, v, (w, a) in zip(stats, values, limits, strict=True)
    )


def feature_drift(
    reference: FeatureReference, current_values: Iterable[Any], metrics: Sequence[str] = DEFAULT_METRICS,
    warn: float | None = None, alert: float | None = None, min_count: int = 30,
    policy: EmptyBinPolicy | str = EmptyBinPolicy.EPSILON, *, eps: float = 1e-4, alpha: float = 0.5,
) -> tuple[DriftValue, ...]:
    """Every metric of one feature, all from the same pair of histograms binned with the reference's binning.

    Fewer than `min_count` binned values on either side gives status "insufficient_data"; the value is
    still computed (nan only when a side is empty). `warn`/`alert` override every metric's defaults.
    """
    return histogram_drift(reference, reference.binning.histogram(current_values), metrics, warn, alert,
                           min_count, policy, eps=eps, alpha=alpha)


def drift_table(
    references: Mapping[str, FeatureReference], window: Mapping[str, Iterable[Any]],
    metrics: Sequence[str] = DEFAULT_METRICS, **kw: Any,
) -> tuple[DriftValue, ...]:
    """`feature_drift` of every feature present in both, in the references' order."""
    for m in metrics:
        get_statistic(m)
    return tuple(
        value
        for name, reference in references.items() if name in window
        for value in feature_drift(reference, window[name], metrics, **kw)
    )
