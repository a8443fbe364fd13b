"""The data contract between the report's loader and its drawer: plain frozen values, no database types.

`driftline.report` reads the collector through its read functions and fills these; everything in
`report/` draws from them alone, so the page is a pure function of a `ReportData`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from slo.definition import SLO
from spec import Drift

MAX_WINDOWS = 500  # newest windows shown; older ones are left out (the header says so)


@dataclass(frozen=True)
class DriftObs:
    """One stored drift value: a feature's statistic in one version's window."""

    version: str
    feature: str
    metric: str
    start: dt.datetime
    end: dt.datetime
    value: float | None
    status: str
    n_current: int
    reference_id: int


@dataclass(frozen=True)
class PerfObs:
    """One stored realized-performance value of a slice in one version's window, with its interval."""

    version: str
    slice: str
    metric: str
    start: dt.datetime
    end: dt.datetime
    value: float | None
    lower: float | None
    upper: float | None
    support: int
    total: int
    status: str


@dataclass(frozen=True)
class QualityObs:
    """One data-quality check of one feature ("*": whole records) in one window: `count` of `total` failed."""

    version: str
    feature: str
    check: str
    start: dt.datetime
    end: dt.datetime
    count: int
    total: int


@dataclass(frozen=True)
class AttributionObs:
    """One feature's mean |SHAP| in one window beside the reference's, and the drift verdict on them."""

    version: str
    feature: str
    start: dt.datetime
    end: dt.datetime
    mean_abs: float | None
    reference_mean_abs: float | None
    status: str
    n: int


@dataclass(frozen=True)
class Distribution:
    """Reference vs current shares of one feature in one window, in the reference's bins."""

    feature: str
    kind: str
    labels: tuple[str, ...]  # the binning's own labels, e.g. "(37.0146, 41.674]"
    short_labels: tuple[str, ...]  # for the axis, e.g. "37.0-41.7"
    reference: tuple[float, ...]
    current: tuple[float, ...]
    reference_n: int
    current_n: int
    reference_missing: int
    current_missing: int


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, read from the database; rendering is a pure function of it."""

    model: str
    in_spec: bool
    drift: Drift
    features: tuple[str, ...]
    drift_points: tuple[DriftObs, ...]
    perf_points: tuple[PerfObs, ...]
    distributions: tuple[Distribution, ...]
    distribution_window: tuple[str, dt.datetime, dt.datetime] | None  # (version, start, end)
    slos: tuple[tuple[SLO, dict[str, Any]], ...]
    deploys: tuple[tuple[str, dt.datetime], ...]
    now: dt.datetime
    source: str
    windows_left_out: int = 0
    runbook_url: str | None = None
    quality: tuple[QualityObs, ...] = ()  # the newest complete window's checks
    attributions: tuple[AttributionObs, ...] = ()  # the newest complete window's mean |SHAP| per feature

    @property
    def versions(self) -> tuple[str, ...]:
        """Every version seen in a window or a deploy, sorted."""
        seen = {p.version for p in self.drift_points} | {p.version for p in self.perf_points}
        return tuple(sorted(seen | {v for v, _ in self.deploys}))

    @property
    def window_starts(self) -> set[dt.datetime]:
        """The start of every window shown."""
        return {p.start for p in self.drift_points} | {p.start for p in self.perf_points}

    @property
    def start(self) -> dt.datetime | None:
        """The earliest window start shown; None without windows."""
        return min(self.window_starts, default=None)

    @property
    def end(self) -> dt.datetime | None:
        """The latest window end shown; None without windows."""
        return max([p.end for p in self.drift_points] + [p.end for p in self.perf_points], default=None)


def newest_windows(starts: Iterable[dt.datetime], keep: int) -> tuple[dt.datetime | None, int]:
    """The earliest start among the newest `keep` window starts, and how many older ones fall away."""
    ordered = sorted(set(starts))
    if len(ordered) <= keep:
        return None, 0
    return ordered[-keep], len(ordered) - keep
