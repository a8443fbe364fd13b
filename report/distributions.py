"""Reference vs current distributions for the page: which window to show and its shares per bin.

Pure functions of stored drift values, a stored feature reference and the window's raw values; the
loader reads those, and the frozen binning of `analyzers.binning` counts the current values exactly as
drift was measured.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from analyzers.binning import FeatureReference
from report.data import Distribution, DriftObs
from report.text import DASH, shorten

MAX_BARS = 24  # categories shown per distribution; the rest are folded into one bar


def histogram_shares(counts: Sequence[int]) -> tuple[float, ...]:
    """Counts as shares of their sum (all zero for an empty histogram)."""
    n = sum(counts)
    return tuple(c / n if n else 0.0 for c in counts)


def fold(
    bins: Sequence[tuple[str, str]], ref: Sequence[int], cur: Sequence[int]
) -> tuple[list[tuple[str, str]], list[int], list[int]]:
    """At most MAX_BARS bins (full, short name): those with the largest share on either side, the rest summed."""
    if len(bins) <= MAX_BARS:
        return list(bins), list(ref), list(cur)
    rn, cn = sum(ref) or 1, sum(cur) or 1
    ranked = sorted(range(len(bins)), key=lambda i: (-max(ref[i] / rn, cur[i] / cn), i))
    keep = sorted(ranked[: MAX_BARS - 1])
    rest = [i for i in range(len(bins)) if i not in set(keep)]
    more = f"({len(rest)} more)"
    return (
        [bins[i] for i in keep] + [(more, more)],
        [ref[i] for i in keep] + [sum(ref[i] for i in rest)],
        [cur[i] for i in keep] + [sum(cur[i] for i in rest)],
    )


def edge_text(edges: Sequence[float]) -> list[str]:
    """Edges with the fewest significant digits (3 to 8) that still tell them all apart."""
    for digits in range(3, 9):
        text = [f"{e:.{digits}g}" for e in edges]
        if len(set(text)) == len(text):
            return text
    return [repr(e) for e in edges]


def axis_labels(binning: Any) -> tuple[str, ...]:
    """Compact bin names for an axis: "≤ 37.2", "37.2-45.1" (en dash), "> 71.3"; categories shortened."""
    if binning.kind != "numeric":
        return tuple(shorten(label) for label in binning.labels())
    edges = edge_text(binning.edges)
    if not edges:
        return ("all",)
    middle = [f"{lo}{DASH}{hi}" for lo, hi in pairwise(edges)]
    return (f"≤ {edges[0]}", *middle, f"> {edges[-1]}")


def distribution_window(
    points: Sequence[DriftObs], metric: str, now: dt.datetime
) -> tuple[str, dt.datetime, dt.datetime, dict[str, DriftObs]] | None:
    """The newest complete window that has judged drift (else the newest judged, else the newest), its
    version with the most current values, and that version's drift value per feature there."""
    judged = [p for p in points if p.metric == metric and p.status != "insufficient_data"]
    complete = [p for p in judged if p.end <= now]
    pool = complete or judged or [p for p in points if p.metric == metric]
    if not pool:
        return None
    start = max(p.start for p in pool)
    in_window = [p for p in pool if p.start == start]
    by_version: dict[str, int] = {}
    for p in in_window:
        by_version[p.version] = max(by_version.get(p.version, 0), p.n_current)
    version = min(by_version, key=lambda v: (-by_version[v], v))
    chosen = {p.feature: p for p in in_window if p.version == version}
    end = max(p.end for p in chosen.values())
    return version, start, end, chosen


def distribution(feature: str, stored: Mapping[str, Any], values: Sequence[Any]) -> Distribution:
    """`values` against a stored feature reference, in the reference's own bins (the widest folded)."""
    reference = FeatureReference.from_dict(stored)
    hist = reference.binning.histogram(values)
    names = list(zip(reference.binning.labels(), axis_labels(reference.binning), strict=True))
    bins, ref_counts, cur_counts = fold(names, reference.counts, hist.counts)
    return Distribution(
        feature=feature,
        kind=reference.binning.kind,
        labels=tuple(full for full, _ in bins),
        short_labels=tuple(short for _, short in bins),
        reference=histogram_shares(ref_counts),
        current=histogram_shares(cur_counts),
        reference_n=reference.n,
        current_n=hist.n,
        reference_missing=reference.missing,
        current_missing=hist.missing,
    )
