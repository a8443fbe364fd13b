"""The resolved SLO: what `spec.resolve` hands to the rule generator and the budget status.

Frozen and self-contained (the model's runbook, pinned version and drift threshold are copied in),
so nothing in `slo` needs the spec file's wire model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from slo.budget import error_budget
from slo.links import Links
from slo.windows import BurnWindow, fit_to_slices

SLIKind = Literal[
    "availability", "latency", "accuracy", "drift", "data_quality", "freshness", "time_to_first_token"
]
Budgeting = Literal["occurrences", "timeslices"]

#: The budgeting methods (OpenSLO) each SLI supports; the first is its default.
#: occurrences: bad events / all events in a window. timeslices: bad slices / all slices, where a
#: slice is bad when its own measurement misses `target` (or the drift threshold, or `max_age`).
BUDGETING: dict[str, tuple[Budgeting, ...]] = {
    "availability": ("occurrences", "timeslices"),
    "latency": ("occurrences", "timeslices"),
    "accuracy": ("timeslices", "occurrences"),
    "drift": ("timeslices",),
    "data_quality": ("occurrences", "timeslices"),
    "freshness": ("timeslices", "occurrences"),  # occurrences: one feature's age at each call (source: features)
    "time_to_first_token": ("occurrences",),  # LLM calls whose first output token came within threshold_ms
}

#: SLIs read from a gauge the collector sets once per evaluation window (the model's drift.window): one value
#: per window, however often Prometheus samples it, so their slices are at least that window long.
WINDOW_GAUGE_SLIS = ("accuracy", "drift")
#: The evaluation window assumed when an SLO does not carry its model's (the spec's default drift.window).
DEFAULT_EVALUATION_SECONDS = 3600


@dataclass(frozen=True)
class SLO:
    """One service-level objective, resolved."""

    name: str
    model: str
    sli: SLIKind
    objective: float  # percent of good events or slices, 0 < objective < 100
    period_seconds: int  # the rolling SLO period
    budgeting: Budgeting
    windows: tuple[BurnWindow, ...]  # the burn-rate alerting policy for this objective and period
    timeslice_seconds: int = 60
    threshold_seconds: float | None = None  # latency, time_to_first_token: the bucket bound calls must beat
    target: float | None = None  # timeslices: the per-slice good share (accuracy: the accuracy) to reach
    drift_metric: str | None = None  # drift: the statistic compared with drift_threshold
    drift_threshold: float | None = None  # drift: the model's drift alert threshold
    max_age_seconds: int | None = None  # freshness: the oldest acceptable newest record or label, or feature age
    freshness_source: Literal["records", "labels", "features"] = "records"
    feature: str | None = None  # freshness from features: the feature whose age at call time is judged
    version: str | None = None  # the model version pinned in the spec, put on alerts
    runbook_url: str | None = None
    evaluation_seconds: int | None = None  # accuracy/drift: the model's evaluation window (None: 1h)

    def __post_init__(self) -> None:
        """Timeslice SLOs alert at the resolution of their slices: see `slo.windows.fit_to_slices`."""
        if self.budgeting == "timeslices":
            fitted = fit_to_slices(self.windows, self.slice_seconds, self.objective, self.period_seconds)
            object.__setattr__(self, "windows", fitted)

    @property
    def reads_window_gauge(self) -> bool:
        """Whether the SLI is judged from a gauge that changes once per evaluation window."""
        return self.budgeting == "timeslices" and self.sli in WINDOW_GAUGE_SLIS

    @property
    def slice_seconds(self) -> int:
        """The length of one budgeted slice: the timeslice, or the evaluation window of a window gauge when
        longer (a 1m slice of an hourly gauge is one sixtieth of the same value)."""
        if self.reads_window_gauge:
            return max(self.timeslice_seconds, self.evaluation_seconds or DEFAULT_EVALUATION_SECONDS)
        return self.timeslice_seconds

    @property
    def error_budget(self) -> float:
        """Share of events (or slices) allowed to be bad over the period."""
        return error_budget(self.objective)

    @property
    def measured_windows(self) -> tuple[int, ...]:
        """Every window (seconds) the SLI is measured over: each burn window's long and short, and the period."""
        used = {self.period_seconds}
        for w in self.windows:
            used |= {w.long_seconds, w.short_seconds}
        return tuple(sorted(used))


class HasSLOs(Protocol):
    """Anything carrying resolved SLOs and the bases of their alerts' links, such as `spec.ResolvedSpec`."""

    @property
    def slos(self) -> tuple[SLO, ...]: ...

    @property
    def links(self) -> Links: ...
