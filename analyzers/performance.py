"""Realized model performance of one window on delayed labels, overall and per slice.

Pure: the collector hands in the window's joined (prediction, label, slices) rows. A window whose
label coverage is below `min_coverage` is "immature": its figures are shown but do not alert.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.stats import norm

Status = Literal["ok", "immature", "insufficient_data"]
ALL = "all"
OTHER = "other"


@dataclass(frozen=True)
class PerformanceValue:
    """One metric of one slice in one window, with its 95% interval and the counts behind it."""

    slice: str  # "all", or "column=value"
    metric: str
    value: float | None
    lower: float | None
    upper: float | None
    support: int  # labelled records the value is computed from
    total: int  # records in the slice, labelled or not
    status: Status

    @property
    def coverage(self) -> float:
        return self.support / self.total if self.total else 0.0


@dataclass(frozen=True)
class LabelledRow:
    prediction: Any
    label: Any  # None when no label has arrived yet
    slices: Mapping[str, Any]


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion: well-behaved at small n and near 0 or 1, unlike Wald."""
    if n == 0:
        return (0.0, 1.0)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _number(v: Any) -> float | None:
    if isinstance(v, bool | np.bool_):
        return float(v)
    if isinstance(v, np.integer | np.floating):
        v = v.item()
    if isinstance(v, int | float) and math.isfinite(v):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def same_class(prediction: Any, label: Any) -> bool:
    """Class equality across wire types: 1, 1.0, "1" and True are one class; other strings compare as text."""
    a, b = _number(prediction), _number(label)
    if a is not None and b is not None:
        return a == b
    return str(prediction) == str(label)


def _metric(rows: Sequence[LabelledRow], prediction_type: str) -> tuple[str, float, float, float] | None:
    if prediction_type == "regression":
        errors = [
            abs(p - y)
            for r in rows
            if (p := _number(r.prediction)) is not None and (y := _number(r.label)) is not None
        ]
        if not errors:
            return None
        n = len(errors)
        mae = sum(errors) / n
        sd = math.sqrt(sum((e - mae) ** 2 for e in errors) / (n - 1)) if n > 1 else 0.0
        half = 1.96 * sd / math.sqrt(n)  # normal approximation of the mean's interval
        return ("mae", mae, max(0.0, mae - half), mae + half)
    correct = sum(same_class(r.prediction, r.label) for r in rows)
    lo, hi = wilson_interval(correct, len(rows))
    return ("accuracy", correct / len(rows), lo, hi)


def slice_keys(slices: Mapping[str, Any], columns: Sequence[str], allowed: Mapping[str, set[str]]) -> list[str]:
    """The slice labels a record belongs to, values beyond the cardinality bound folded into `other`."""
    keys = [ALL]
    for col in columns:
        if col in slices and slices[col] is not None:
            value = str(slices[col])
            keys.append(f"{col}={value if value in allowed.get(col, set()) else OTHER}")
    return keys


def bounded_values(rows: Sequence[LabelledRow], columns: Sequence[str], max_values: int) -> dict[str, set[str]]:
    """Per slice column, the `max_values` most frequent values (ties by name); the rest become `other`."""
    out: dict[str, set[str]] = {}
    for col in columns:
        counts: dict[str, int] = {}
        for r in rows:
            v = r.slices.get(col)
            if v is not None:
                counts[str(v)] = counts.get(str(v), 0) + 1
        ranked = sorted(counts, key=lambda k: (-counts[k], k))
        out[col] = set(ranked[:max_values])
    return out


def window_performance(
    rows: Sequence[LabelledRow],
    *,
    prediction_type: str,
    slice_columns: Sequence[str] = (),
    max_slice_values: int = 20,
    min_coverage: float = 0.5,
    min_support: int = 30,
) -> tuple[PerformanceValue, ...]:
    """Accuracy (classifiers) or MAE (regressors) per slice, each with its interval, support and coverage."""
    allowed = bounded_values(rows, slice_columns, max_slice_values)
    groups: dict[str, list[LabelledRow]] = {}
    for r in rows:
        for key in slice_keys(r.slices, slice_columns, allowed):
            groups.setdefault(key, []).append(r)
    out = []
    for key in sorted(groups):
        members = groups[key]
        labelled = [r for r in members if r.label is not None]
        result = _metric(labelled, prediction_type) if labelled else None
        name = "mae" if prediction_type == "regression" else "accuracy"
        status: Status
        if result is None or len(labelled) < min_support:
            status = "insufficient_data"
        elif len(labelled) / len(members) < min_coverage:
            status = "immature"
        else:
            status = "ok"
        if result is None:
            out.append(PerformanceValue(key, name, None, None, None, 0, len(members), status))
        else:
            name, value, lo, hi = result
            out.append(PerformanceValue(key, name, value, lo, hi, len(labelled), len(members), status))
    return tuple(out)
