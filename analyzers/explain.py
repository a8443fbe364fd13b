"""SHAP attributions of tree models, and the drift of attributions between a reference and a window.

Prediction attributions split each prediction, in the model's raw output space, into one share per
feature; for a fixed model they move only when the inputs move. Loss attributions split each record's
loss instead, so they also move when a feature's relation to the target changes while its distribution
does not (Lundberg et al. 2020, "From local explanations to global understanding with explainable AI for
trees", Nature Machine Intelligence 2, section "Local explanations ... model monitoring").

This module is the public face: `model_file` loads a pinned model file, `tree_shap` computes
attributions (shap imported only when used, so ``import analyzers`` stays light), `attributions` holds
them and judges their drift.
"""

from __future__ import annotations

from analyzers.attributions import (
    DEFAULT_ALERT,
    DEFAULT_MIN_COUNT,
    DEFAULT_MIN_EFFECT,
    AttributionDrift,
    Attributions,
    attribution_drift,
    mean_abs,
    top_features,
)
from analyzers.model_file import load_model
from analyzers.tree_shap import DEFAULT_MAX_BACKGROUND, TreeAttributor

__all__ = [
    "DEFAULT_ALERT",
    "DEFAULT_MAX_BACKGROUND",
    "DEFAULT_MIN_COUNT",
    "DEFAULT_MIN_EFFECT",
    "AttributionDrift",
    "Attributions",
    "TreeAttributor",
    "attribution_drift",
    "load_model",
    "mean_abs",
    "top_features",
]
