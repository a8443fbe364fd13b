"""Pure drift and data-quality statistics: numpy/scipy in, frozen dataclasses out; no I/O, no clocks."""

from analyzers.binning import (
    FeatureBinning,
    FeatureReference,
    Histogram,
    fit_categorical,
    fit_feature,
    fit_numeric,
    fit_reference,
)
from analyzers.correction import Correction, adjust_p_values
from analyzers.drift import (
    STATISTICS,
    DriftValue,
    EmptyBinPolicy,
    Statistic,
    correct_p_values,
    drift_table,
    feature_drift,
    get_statistic,
    hellinger,
    histogram_drift,
    jeffreys,
    js,
    kl,
    kl_reverse,
    proportions,
    psi,
)
from analyzers.quality import QualityValue, feature_quality, undeclared_features, window_quality

__all__ = [
    "STATISTICS", "Correction", "DriftValue", "EmptyBinPolicy", "FeatureBinning", "FeatureReference",
    "Histogram", "QualityValue", "Statistic", "adjust_p_values", "correct_p_values", "drift_table",
    "feature_drift", "feature_quality", "fit_categorical", "fit_feature", "fit_numeric", "fit_reference",
    "get_statistic", "hellinger", "histogram_drift", "jeffreys", "js", "kl", "kl_reverse", "proportions",
    "psi", "undeclared_features", "window_quality",
]
