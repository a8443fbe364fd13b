"""The slice that explains most of a feature's drift: the one whose removal shrinks the drift most.

For a drift incident on-call wants to know where it comes from: one region, one device, one client. Each
value of each slice column (the most frequent `max_values` per column, each with at least `min_support`
rows and leaving as many) is taken out of the window and the feature's drift is measured again on the
rest; the value whose removal lowers the drift most explains most of it. A drift spread evenly over the
slices finds a small shrink for each; a drift planted in one slice finds that slice, with most of the
drift gone without it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analyzers.binning import FeatureReference, Histogram
from analyzers.drift import feature_drift, get_statistic, histogram_drift


@dataclass(frozen=True)
class ExplainingSlice:
    """The slice (`column=value`) whose removal shrinks `feature`'s drift most, and by how much."""

    feature: str
    slice: str
    drift: float  # the feature's drift over every row given
    without: float  # its drift over the rows outside the slice
    support: int  # rows in the slice

    @property
    def share(self) -> float:
        """The share of the drift the slice explains: 1 - without / drift (1: all of it)."""
        return 1 - self.without / self.drift if self.drift > 0 else 0.0


def _drift(reference: FeatureReference, values: list[Any], metric: str) -> float:
    (v,) = feature_drift(reference, values, (metric,), min_count=1)
    return v.value


def _rest(reference: FeatureReference, full: Histogram, part: Histogram, metric: str) -> float:
    """The drift of the rows outside a slice: the window's histogram less the slice's (one binning of the
    slice's rows, not of everything else)."""
    counts = tuple(a - b for a, b in zip(full.counts, part.counts, strict=True))
    rest = Histogram(counts, full.missing - part.missing, full.invalid - part.invalid)
    (v,) = histogram_drift(reference, rest, (metric,), min_count=1)
    return v.value


def explaining_slice(
    reference: FeatureReference,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    metric: str,
    *,
    min_support: int = 30,
    max_values: int = 20,
) -> ExplainingSlice | None:
    """The slice of `rows` whose removal shrinks the drift (`metric`) of the reference's feature most; None
    when the rows show no drift or no slice's removal shrinks it."""
    feature = reference.binning.feature
    values = [r.get(feature) for r in rows]
    full = _drift(reference, values, metric)
    if not math.isfinite(full) or full <= 0:
        return None
    binned = get_statistic(metric).input != "sample"  # histogram statistics: subtract the slice's counts
    whole = reference.binning.histogram(values) if binned else None
    best: ExplainingSlice | None = None
    for column in columns:
        labels = [None if r.get(column) is None else str(r.get(column)) for r in rows]
        counts = Counter(x for x in labels if x is not None)
        groups: dict[str, list[Any]] = {}
        if whole is not None:  # each slice's values, in one pass over the rows
            for v, label in zip(values, labels, strict=True):
                if label is not None:
                    groups.setdefault(label, []).append(v)
        for value, n in counts.most_common(max_values):
            if n < min_support or len(rows) - n < min_support:
                continue
            if whole is not None:
                without = _rest(reference, whole, reference.binning.histogram(groups[value]), metric)
            else:
                rest = [v for v, label in zip(values, labels, strict=True) if label != value]
                without = _drift(reference, rest, metric)
            if math.isfinite(without) and without < full and (best is None or without < best.without):
                best = ExplainingSlice(feature, f"{column}={value}", full, without, n)
    return best
