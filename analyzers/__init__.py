"""Pure drift statistics: numpy/scipy in, frozen dataclasses out; no I/O, no clocks."""

from analyzers.binning import (
    FeatureBinning,
    FeatureReference,
    Histogram,
    fit_categorical,
    fit_feature,
    fit_numeric,
    fit_reference,
)
from analyzers.drift import (
    STATISTICS,
    DriftValue,
    EmptyBinPolicy,
    Statistic,
    drift_table,
    feature_drift,
    get_statistic,
    histogram_drift,
    js,
    kl,
    kl_reverse,
    proportions,
    psi,
)

__all__ = [
    "STATISTICS", "DriftValue", "EmptyBinPolicy", "FeatureBinning", "FeatureReference", "Histogram",
    "Statistic", "drift_table", "feature_drift", "fit_categorical", "fit_feature", "fit_numeric",
    "fit_reference", "get_statistic", "histogram_drift", "js", "kl", "kl_reverse", "proportions", "psi",
]
