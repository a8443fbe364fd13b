"""Drift of a window against its reference: bin with the frozen reference binning, then score each metric.

Prediction drift is feature drift: fit the reference on the prediction (score) column like any feature
(numeric scores, or class labels as categorical) and pass the window's predictions under that name.
Hypothesis tests (KS, chi-squared) are judged on p-values corrected across the window's features
(`drift_table`, or `correct_p_values` over results computed one feature at a time).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from analyzers.binning import FeatureReference, Histogram
from analyzers.correction import Correction, adjust_p_values, get_correction
from analyzers.divergence import (
    EmptyBinPolicy,
    hellinger,
    jeffreys,
    js,
    kl,
    kl_reverse,
    proportions,
    psi,
)
from analyzers.power import PSI_FAMILY, counts_significant, min_detectable_effect, significant
from analyzers.registry import DEFAULT_METRICS, STATISTICS, Statistic, check_thresholds, get_statistic
from analyzers.twosample import Samples, Score

__all__ = [
    "DEFAULT_METRICS", "STATISTICS", "Correction", "DriftValue", "EmptyBinPolicy", "Statistic",
    "correct_p_values", "drift_table", "feature_drift", "get_statistic", "hellinger", "histogram_drift",
    "jeffreys", "js", "kl", "kl_reverse", "proportions", "psi",
]


Status = Literal["ok", "warn", "alert", "insufficient_data"]
Thresholds = Mapping[str, tuple[float, float]]


@dataclass(frozen=True)
class DriftValue:
    """One metric of one feature in one window, with the sample sizes, policy and thresholds it was judged by.

    For KS and Wasserstein the sizes are those of the raw samples compared (the stored reference sample
    and the window's finite values); for the other statistics, the binned values.
    """

    feature: str
    metric: str
    value: float  # nan only when either side has nothing to compare
    n_reference: int
    n_current: int
    status: Status
    policy: str  # empty-bin policy of the histogram pair (the call's, for every metric)
    p_value: float | None = None  # hypothesis tests only: the test's own p-value
    p_adjusted: float | None = None  # corrected across features; the status reads it (None: not judged)
    correction: str | None = None  # tests only: "none", "bonferroni" or "benjamini-hochberg"
    warn: float | None = None  # thresholds the status was judged by (p-value levels for tests)
    alert: float | None = None
    #: Smallest drift, in the statistic's units, this window's sizes detect with 80% power at the 5% level
    #: (`analyzers.power`); None for chi2 or an empty side.
    mde: float | None = None


def _thresholds(stat: Statistic, warn: float | None, alert: float | None,
                per_metric: Thresholds | None) -> tuple[float, float]:
    if per_metric and stat.name in per_metric:
        warn, alert = per_metric[stat.name]
    w = stat.warn if warn is None else warn
    a = stat.alert if alert is None else alert
    check_thresholds(stat, w, a)
    return w, a


def _judge(stat: Statistic, value: float, p: float | None, warn: float, alert: float) -> Status:
    if stat.test:
        assert p is not None
        return "alert" if p <= alert else "warn" if p <= warn else "ok"
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


def _verdict(stat: Statistic, score: Score, warn: float, alert: float, mde: float | None,
             sig: bool | None) -> Status:
    """Effect size and significance together: a divergence over a threshold that two samples of one
    distribution give at this size is no drift, and "ok" is only said when the window could have seen an
    alert-sized drift (its MDE at most the alert level); else "insufficient_data". Tests keep their
    p-value verdict."""
    status = _judge(stat, score.value, score.p_value, warn, alert)
    if stat.test:
        return status
    if sig is False:
        status = "ok"
    if status == "ok" and mde is not None and mde > alert:
        return "insufficient_data"
    return status


def _score(stat: Statistic, reference: FeatureReference, current: Histogram,
           pair: tuple[np.ndarray, np.ndarray], samples: Samples) -> Score:
    if stat.input == "proportions":
        return Score(stat.fn(*pair))
    if stat.input == "counts":
        return Score(*stat.fn(np.asarray(reference.counts), np.asarray(current.counts)))
    return Score(*stat.fn(samples))


def histogram_drift(
    reference: FeatureReference, current: Histogram, metrics: Sequence[str] = DEFAULT_METRICS,
    warn: float | None = None, alert: float | None = None, min_count: int = 30,
    policy: EmptyBinPolicy | str = EmptyBinPolicy.EPSILON, *, eps: float = 1e-4, alpha: float = 0.5,
    sample: np.ndarray | None = None, thresholds: Thresholds | None = None,
) -> tuple[DriftValue, ...]:
    """Drift of an already binned window (e.g. merged per-minute histograms); see `feature_drift`.

    KS and Wasserstein also need `sample`, the window's finite values (`binning.histogram_and_sample`).
    """
    stats = [s for s in map(get_statistic, metrics) if reference.binning.kind in s.kinds]
    limits = [_thresholds(s, warn, alert, thresholds) for s in stats]
    policy = EmptyBinPolicy(policy)
    if len(current.counts) != len(reference.counts):
        raise ValueError(f"{reference.binning.feature}: window has {len(current.counts)} bins, "
                         f"reference {len(reference.counts)}")
    if sample is None and any(s.input == "sample" for s in stats):
        raise ValueError(f"{', '.join(s.name for s in stats if s.input == 'sample')} need the window's raw "
                         "values: call feature_drift, or pass sample= from binning.histogram_and_sample")
    window = np.empty(0) if sample is None else sample
    samples = Samples(reference.sample, window, reference.std)  # sorts nothing already sorted; merges lazily
    pair = None
    if reference.n and current.n:
        pair = (proportions(reference.counts, policy, eps, alpha),
                proportions(current.counts, policy, eps, alpha))
    out = []
    for stat, (w, a) in zip(stats, limits, strict=True):
        by_sample = stat.input == "sample"
        n_ref, n_cur = (reference.sample.size, window.size) if by_sample else (reference.n, current.n)
        score = Score(math.nan)
        if n_ref and n_cur and pair:
            score = _score(stat, reference, current, pair, samples)
        judged = min(n_ref, n_cur) >= min_count and not math.isnan(score.value)
        cells = sum(1 for r, c in zip(reference.counts, current.counts, strict=True) if r or c)
        mde = min_detectable_effect(stat.name, n_ref, int(n_cur), cells)
        status: Status = "insufficient_data"
        if judged:
            if stat.name in PSI_FAMILY:
                sig = counts_significant(reference.counts, current.counts)
            else:
                sig = significant(stat.name, score.value, n_ref, int(n_cur), cells)
            status = _verdict(stat, score, w, a, mde, sig)
        feature = reference.binning.feature
        value = DriftValue(feature, stat.name, score.value, n_ref, int(n_cur), status, policy.value, warn=w,
                           alert=a, mde=mde)
        if stat.test:
            value = replace(value, p_value=score.p_value, p_adjusted=score.p_value if judged else None,
                            correction=Correction.NONE.value)
        out.append(value)
    return tuple(out)


def feature_drift(
    reference: FeatureReference, current_values: Iterable[Any], metrics: Sequence[str] = DEFAULT_METRICS,
    warn: float | None = None, alert: float | None = None, min_count: int = 30,
    policy: EmptyBinPolicy | str = EmptyBinPolicy.EPSILON, *, eps: float = 1e-4, alpha: float = 0.5,
    thresholds: Thresholds | None = None,
) -> tuple[DriftValue, ...]:
    """Every metric of one feature: the histogram ones from one pair of histograms binned with the
    reference's binning, KS and Wasserstein from the window's finite values against the reference sample.

    Fewer than `min_count` values on either side gives status "insufficient_data"; the value is still
    computed (nan only when a side is empty). `warn`/`alert` override every metric's defaults, and
    `thresholds` ({metric: (warn, alert)}) one metric's. Statistics that do not apply to the feature's
    kind (KS, Wasserstein on a categorical feature) are left out. p-values are not corrected here.
    """
    binning = reference.binning
    if binning.kind == "numeric" and any(get_statistic(m).input == "sample" for m in metrics):
        hist, sample = binning.histogram_and_sample(current_values)
    else:
        hist, sample = binning.histogram(current_values), None
    return histogram_drift(reference, hist, metrics, warn, alert, min_count, policy, eps=eps, alpha=alpha,
                           sample=sample, thresholds=thresholds)


def correct_p_values(
    values: Iterable[DriftValue], method: Correction | str = Correction.BENJAMINI_HOCHBERG
) -> tuple[DriftValue, ...]:
    """Adjust the tests' p-values across features, one family per metric, and re-judge their status.

    Pass one window's results for many features. Tests without a verdict (insufficient data) are left
    out of the family; everything else passes through unchanged, in order.
    """
    values = tuple(values)
    method = get_correction(method)
    families: dict[str, list[tuple[int, float]]] = {}
    for i, v in enumerate(values):
        if v.p_value is not None and v.status != "insufficient_data":
            families.setdefault(v.metric, []).append((i, v.p_value))
    out = list(values)
    for metric, members in families.items():
        stat = get_statistic(metric)
        adjusted = adjust_p_values([p for _, p in members], method)
        for (i, _), p in zip(members, adjusted.tolist(), strict=True):
            v = values[i]
            w, a = (stat.warn if v.warn is None else v.warn), (stat.alert if v.alert is None else v.alert)
            out[i] = replace(v, p_adjusted=p, correction=method.value, status=_judge(stat, v.value, p, w, a))
    return tuple(out)


def drift_table(
    references: Mapping[str, FeatureReference], window: Mapping[str, Iterable[Any]],
    metrics: Sequence[str] = DEFAULT_METRICS, *,
    correction: Correction | str = Correction.BENJAMINI_HOCHBERG, **kw: Any,
) -> tuple[DriftValue, ...]:
    """`feature_drift` of every feature present in both, in the references' order; tests corrected across
    features (one family per metric) with the named `correction`."""
    for m in metrics:
        get_statistic(m)
    get_correction(correction)
    values = (
        value
        for name, reference in references.items() if name in window
        for value in feature_drift(reference, window[name], metrics, **kw)
    )
    return correct_p_values(values, correction)
