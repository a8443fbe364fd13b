"""An SLO's budget status from counted events: what the collector exports and the demo prints.

The collector counts good and total events (or timeslices) over the period and over every window of
the policy (`required_windows`), and calls `evaluate`. The verdicts use the same thresholds and gate
as the generated Prometheus alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from slo.budget import Counts, budget_consumed, budget_remaining, burn_rate, time_to_exhaustion
from slo.definition import SLO
from slo.windows import BurnWindow


@dataclass(frozen=True)
class WindowBurn:
    """The burn over one window."""

    window_seconds: int
    error_ratio: float
    burn_rate: float
    events: float


@dataclass(frozen=True)
class SLOStatus:
    """Budget, burn rates and the alerts that would fire, for one SLO at one moment."""

    slo: str
    model: str
    objective: float
    error_budget: float
    period_seconds: int
    error_ratio: float  # over the whole period
    consumed: float  # share of the budget spent over the period
    remaining: float  # 1 - consumed; negative once the SLO is broken
    burns: tuple[WindowBurn, ...]  # every required window, the period included, shortest first
    time_to_exhaustion_seconds: float  # at the burn rate of the shortest long window; inf when not burning
    firing: tuple[BurnWindow, ...]  # policy windows whose alert would fire now
    observed_seconds: float | None = None  # from the first event in the period to now (None: all of it)
    budget_ready: bool = True  # whether `remaining` means something yet: see `budget_ready`

    def burn_rate(self, window_seconds: int) -> float:
        """The burn rate over one of the policy's windows."""
        return next(b.burn_rate for b in self.burns if b.window_seconds == window_seconds)


def required_windows(slo: SLO) -> tuple[int, ...]:
    """Every window (seconds) the collector must count events over, the period included, shortest first."""
    return slo.measured_windows


def fires(window: BurnWindow, long: Counts, short: Counts) -> bool:
    """Whether a burn window's alert fires, as the generated rule decides: the long window at or above the
    threshold with the gate's bad events, and the short window at or above it too, or without any event."""
    threshold = window.error_ratio_threshold
    return (
        long.total > 0
        and long.bad >= window.min_bad_events
        and long.error_ratio >= threshold
        and (short.total == 0 or short.error_ratio >= threshold)
    )


def shortest_long_window(slo: SLO) -> int:
    """The long window of the policy's fastest alert (1h by default): the least history a burn is judged on."""
    return min((w.long_seconds for w in slo.windows), default=slo.period_seconds)


def budget_ready(slo: SLO, period_events: float, observed_seconds: float) -> bool:
    """Whether the budget left is a meaningful share of the period's budget yet: the events span at least the
    fastest alert's long window, and there are enough of them that the budget allows one bad event. Before
    that, 40 s of traffic with a few failures reads "-666% of the budget left"; the burn rates are the signal."""
    return observed_seconds >= shortest_long_window(slo) and period_events * slo.error_budget >= 1


def evaluate(slo: SLO, windows: Mapping[int, Counts], observed_seconds: float | None = None) -> SLOStatus:
    """The SLO's status from counts per window (seconds -> Counts), which must cover `required_windows`;
    `observed_seconds`: how long ago the period's first event was (None: events span the whole period)."""
    missing = [w for w in required_windows(slo) if w not in windows]
    if missing:
        raise ValueError(f"SLO {slo.name!r}: no counts for windows {missing} (seconds)")
    period = windows[slo.period_seconds]
    consumed = budget_consumed(period.error_ratio, slo.objective)
    remaining = budget_remaining(consumed)
    burns = tuple(
        WindowBurn(
            w, windows[w].error_ratio, burn_rate(windows[w].error_ratio, slo.objective), windows[w].total
        )
        for w in required_windows(slo)
    )
    shortest_long = shortest_long_window(slo)
    observed = float(slo.period_seconds) if observed_seconds is None else observed_seconds
    current = burn_rate(windows[shortest_long].error_ratio, slo.objective)
    firing = tuple(w for w in slo.windows if fires(w, windows[w.long_seconds], windows[w.short_seconds]))
    return SLOStatus(
        slo=slo.name,
        model=slo.model,
        objective=slo.objective,
        error_budget=slo.error_budget,
        period_seconds=slo.period_seconds,
        error_ratio=period.error_ratio,
        consumed=consumed,
        remaining=remaining,
        burns=burns,
        time_to_exhaustion_seconds=time_to_exhaustion(remaining, current, slo.period_seconds),
        firing=firing,
        observed_seconds=observed_seconds,
        budget_ready=budget_ready(slo, period.total, observed),
    )
