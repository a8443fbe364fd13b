"""Mergeable per-minute aggregates: what a window's drift and data quality are computed from.

Records are summarised once, as they arrive, into counts keyed by (minute, feature, item): the reference
bins' counts, missing and invalid values, and every data-quality check's count and total. Counts add, so
a window is the sum of its minutes, in any order, from any number of writers, and every histogram
statistic and quality rate computed from the sum equals the one computed from the raw rows exactly.
Numeric features also keep count, sum, sum of squares, min and max per minute (`Moments`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analyzers._values import to_float
from analyzers.binning import FeatureReference, Histogram
from analyzers.estimation import Calibrator, correctness
from analyzers.quality import QualityValue, window_quality

#: The moments key of the rows' CBPE correctness probabilities (no feature name starts with "*").
ESTIMATE = "*cbpe"
MISSING = "missing"
INVALID = "invalid"
#: Count items: "b<i>" a reference bin, "missing", "invalid", "q:<check>" a quality count, "t:<check>" its total.
CountKey = tuple[int, str, str]  # (minute, feature, item)


def bin_item(i: int) -> str:
    """The item of a window's count in reference bin `i`."""
    return f"b{i}"


#: Values beyond this magnitude stay out of the sums (they still set min and max): a stored sum can then never
#: overflow (PostgreSQL refuses a float overflow where SQLite gives infinity), and such values make a mean
#: meaningless anyway.
MAX_SUMMED = 1e100


@dataclass(frozen=True)
class Moments:
    """Count, sum, sum of squares, min and max of a numeric feature's finite values (count, sum and sum of
    squares of those within +-MAX_SUMMED); they add up."""

    n: int
    total: float
    squares: float
    low: float | None
    high: float | None

    def merge(self, other: Moments) -> Moments:
        """The moments of both samples together."""
        lows = [x for x in (self.low, other.low) if x is not None]
        highs = [x for x in (self.high, other.high) if x is not None]
        return Moments(
            self.n + other.n,
            self.total + other.total,
            self.squares + other.squares,
            min(lows) if lows else None,
            max(highs) if highs else None,
        )

    @classmethod
    def of(cls, values: Iterable[Any]) -> Moments:
        """The moments of one sample's finite numbers (what the drift binning reads as numbers)."""
        x = to_float(values)[0]
        x = x[np.isfinite(x)]
        if x.size == 0:
            return cls(0, 0.0, 0.0, None, None)
        summed = x[np.abs(x) <= MAX_SUMMED]
        return cls(int(summed.size), float(summed.sum()), float(np.square(summed).sum()), float(x.min()),
                   float(x.max()))


@dataclass(frozen=True)
class MinuteAggregates:
    """Counts and moments of a set of records, by minute: what one ingested batch adds."""

    counts: Mapping[CountKey, int]
    moments: Mapping[tuple[int, str], Moments]


def aggregate(
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    references: Mapping[str, FeatureReference],
    declared: Mapping[str, str] | None,
) -> MinuteAggregates:
    """Summarise (minute, features) rows: bin counts on the frozen `references`, and the quality checks of
    the `declared` features ({name: type}; None for a model the spec does not declare: no quality)."""
    by_minute: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for minute, features in rows:
        by_minute[minute].append(features if isinstance(features, Mapping) else {})
    counts: dict[CountKey, int] = {}
    moments: dict[tuple[int, str], Moments] = {}
    for minute, records in by_minute.items():
        for name, ref in references.items():
            values = [r.get(name) for r in records]
            hist = ref.binning.histogram(values)
            for i, c in enumerate(hist.counts):
                if c:
                    counts[(minute, name, bin_item(i))] = c
            for item, c in ((MISSING, hist.missing), (INVALID, hist.invalid)):
                if c:
                    counts[(minute, name, item)] = c
            if ref.binning.kind == "numeric":
                moments[(minute, name)] = Moments.of(values)
        if declared is not None:
            for q in window_quality(declared, references, records):
                if q.count:
                    counts[(minute, q.feature, f"q:{q.check}")] = q.count
                if q.total:
                    counts[(minute, q.feature, f"t:{q.check}")] = q.total
    return MinuteAggregates(counts, moments)


def estimate_moments(
    rows: Sequence[tuple[int, float | None, Any]], calibrator: Calibrator, *, threshold: float,
    positive_class: Any,
) -> dict[tuple[int, str], Moments]:
    """Per minute, the moments of CBPE's per-row correctness probabilities of (minute, score, prediction)
    rows with a finite score: what `estimation.estimate_from_sums` turns into a window's estimate."""
    by_minute: dict[int, tuple[list[float], list[Any]]] = defaultdict(lambda: ([], []))
    for minute, score, prediction in rows:
        if score is not None and math.isfinite(score):
            scores, predictions = by_minute[minute]
            scores.append(score)
            predictions.append(prediction)
    out = {}
    for minute, (scores, predictions) in by_minute.items():
        c = correctness(calibrator, scores, threshold, predictions=predictions, positive_class=positive_class)
        out[(minute, ESTIMATE)] = Moments(int(c.size), float(c.sum()), float((c * c).sum()), float(c.min()),
                                          float(c.max()))
    return out


@dataclass(frozen=True)
class WindowCounts:
    """A window's counts summed over its minutes, keyed by (feature, item)."""

    counts: Mapping[tuple[str, str], int]

    def histogram(self, reference: FeatureReference) -> Histogram:
        """The window's histogram of one feature on the reference's bins."""
        name = reference.binning.feature
        bins = tuple(self.counts.get((name, bin_item(i)), 0) for i in range(reference.binning.n_bins()))
        return Histogram(bins, self.counts.get((name, MISSING), 0), self.counts.get((name, INVALID), 0))

    def quality(
        self, declared: Mapping[str, str], references: Mapping[str, FeatureReference] | None
    ) -> tuple[QualityValue, ...]:
        """Every quality check `window_quality` would report for the window, from the summed counts."""
        # the checks and their order are those of an empty window; the counts come from the minutes
        shape = window_quality(declared, references, [])
        return tuple(
            QualityValue(
                q.feature,
                q.check,
                self.counts.get((q.feature, f"q:{q.check}"), 0),
                self.counts.get((q.feature, f"t:{q.check}"), 0),
            )
            for q in shape
        )


def mean_and_std(m: Moments) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof=1) from moments; None where undefined or not finite."""
    if m.n == 0:
        return None, None
    mean = m.total / m.n
    if m.n < 2:
        return (mean if math.isfinite(mean) else None), None
    var = max((m.squares - m.n * mean * mean) / (m.n - 1), 0.0)
    std = math.sqrt(var) if math.isfinite(var) else math.nan
    return (mean if math.isfinite(mean) else None), (std if math.isfinite(std) else None)
