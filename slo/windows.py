"""The multiwindow, multi-burn-rate alerting policy, as data.

Source: Google SRE Workbook, chapter 5 "Alerting on SLOs", section "Multiwindow, Multi-Burn-Rate
Alerts" and its recommended parameters for a 99.9% SLO (https://sre.google/workbook/alerting-on-slos/);
the 3x ticket over 1d/2h is the extra row Sloth tabulates from the same chapter
(slok/sloth internal/alert/windows/google-30d.yaml). For a 30-day period:

    severity  long  short  budget spent  burn-rate factor
    page      1h    5m      2%           14.4
    page      6h    30m     5%            6
    ticket    1d    2h     10%            3
    ticket    3d    6h     10%            1

A row is stored as the share of budget it spends, so the factor for any period is
`budget share x period / long window` (0.02 x 720h / 1h = 14.4). For the default table it is kept at
1 or more (a 7d period would otherwise ticket at 0.23x over 3d, a burn that never exhausts the budget)
and at most 1 / budget (90% over 30d pages at 10x: 14.4x would need more than every call to fail).

The traffic gate counts bad events, not events: a gated window alerts only once its long window holds
`min_bad_events` bad events (at least 2), so one failed call alone never alerts, however little traffic
there is, while a total outage of a service with a call every few minutes pages from its second failure
on. (A gate on all events, 70 calls in the 1h window, kept any service under 70 calls an hour from
paging at all.) At the default `min_events` (the fewest events in which one bad event stays under the
threshold) this is exactly the old gate wherever traffic reached it: with that many events, a ratio at
the threshold already means 2 bad events.

Timeslice SLOs alert at the resolution of their slices (`fit_to_slices`): an SLI read from a gauge that
changes once per evaluation window (accuracy, drift) has one value per window, so its short windows are
at least one window and its long windows at least two short ones (no 5m short window on an hourly
gauge), and the gate is 2 bad slices unless a single slice already spends more than the whole budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from slo.budget import error_budget, exact, product

Severity = Literal["page", "ticket"]

MINUTE, HOUR, DAY = 60, 3600, 86400


@dataclass(frozen=True)
class WindowRule:
    """One row of a policy: alert when both windows burn at `factor`, or at the rate spending `budget_share`."""

    severity: Severity
    long_seconds: int
    short_seconds: int
    budget_share: float | None = None
    factor: float | None = None


@dataclass(frozen=True)
class BurnWindow:
    """A policy row resolved for one SLO: the error-ratio threshold both windows must reach, and the gate."""

    severity: Severity
    long_seconds: int
    short_seconds: int
    factor: float
    error_ratio_threshold: float
    min_events: int  # the spec's traffic gate in events (see `bad_events_gate`); 0: no gate
    budget_share: float  # share of the period's budget spent by `factor` held for the long window
    min_bad_events: int = 0  # bad events (timeslices: bad slices) the long window must hold to alert; 0: none


SRE_WORKBOOK_PERIOD_SECONDS = 30 * DAY
SRE_WORKBOOK_WINDOWS: tuple[WindowRule, ...] = (
    WindowRule("page", 1 * HOUR, 5 * MINUTE, budget_share=0.02),
    WindowRule("page", 6 * HOUR, 30 * MINUTE, budget_share=0.05),
    WindowRule("ticket", 1 * DAY, 2 * HOUR, budget_share=0.10),
    WindowRule("ticket", 3 * DAY, 6 * HOUR, budget_share=0.10),
)


def default_rules(period_seconds: int) -> tuple[WindowRule, ...]:
    """The SRE workbook rows whose long window fits in the period (a 1d SLO keeps 1h, 6h and 1d)."""
    return tuple(r for r in SRE_WORKBOOK_WINDOWS if r.long_seconds <= period_seconds)


def burn_factor(budget_share: float, period_seconds: int, long_seconds: int) -> float:
    """The burn rate that spends `budget_share` of a period's budget in one long window."""
    return exact(product(budget_share, period_seconds) / long_seconds)


def auto_min_events(error_ratio_threshold: float) -> int:
    """Fewest events in a window for which one bad event alone stays under the threshold."""
    return math.floor(Decimal(1) / Decimal(repr(error_ratio_threshold))) + 1


#: One bad event (or slice) alone never alerts: a gated window needs at least this many.
MIN_BAD_EVENTS = 2


def bad_events_gate(min_events: int, error_ratio_threshold: float) -> int:
    """Bad events a gated long window must hold: as many as `min_events` events at the threshold hold, and at
    least `MIN_BAD_EVENTS`; 0 (no gate) for `min_events` 0. Any window that `min_events` events at the
    threshold let through passes, and so does an outage at any traffic once it has failed that many calls."""
    if min_events <= 0:
        return 0
    return max(MIN_BAD_EVENTS, math.ceil(Decimal(min_events) * Decimal(repr(error_ratio_threshold))))


def resolve_window(
    rule: WindowRule,
    objective: float,
    period_seconds: int,
    min_events: int | None,
    gated: bool,
    clamp: bool = False,
) -> BurnWindow:
    """Resolve one row for an objective and period, or raise ValueError naming what cannot work.

    `clamp` keeps the factor within 1 and 1 / budget instead of refusing one that needs an error ratio above 1.
    """
    where = (
        f"{rule.severity} window {format_duration(rule.long_seconds)}/{format_duration(rule.short_seconds)}"
    )
    if rule.short_seconds >= rule.long_seconds:
        raise ValueError(f"{where}: the short window must be shorter than the long window")
    if rule.long_seconds > period_seconds:
        raise ValueError(
            f"{where}: the long window is longer than the {format_duration(period_seconds)} SLO period; "
            "shorten it or lengthen the SLO window"
        )
    if (rule.factor is None) == (rule.budget_share is None):
        raise ValueError(f"{where}: give exactly one of factor or budget_percent")
    factor = (
        exact(rule.factor)
        if rule.factor is not None
        else burn_factor(rule.budget_share or 0.0, period_seconds, rule.long_seconds)
    )
    budget = error_budget(objective)
    if clamp:
        factor = max(factor, 1.0)
    threshold = product(factor, budget)
    if threshold > 1 and clamp:
        factor, threshold = exact(1 / budget), 1.0
    if threshold > 1:
        raise ValueError(
            f"{where}: a {factor:g}x burn of a {budget:.4g} budget needs an error ratio of {threshold:.4g},"
            " above 1, so it could never fire; raise the objective, shorten the period or set lower factors"
        )
    if not gated:
        gate = 0
    elif min_events is None:
        gate = auto_min_events(threshold)
    else:
        gate = min_events
    return BurnWindow(
        severity=rule.severity,
        long_seconds=rule.long_seconds,
        short_seconds=rule.short_seconds,
        factor=factor,
        error_ratio_threshold=threshold,
        min_events=gate,
        budget_share=exact(factor * rule.long_seconds / period_seconds),
        min_bad_events=bad_events_gate(gate, threshold),
    )


def policy(
    objective: float,
    period_seconds: int,
    rules: tuple[WindowRule, ...] | None = None,
    *,
    min_events: int | None = None,
    gated: bool = True,
) -> tuple[BurnWindow, ...]:
    """The burn windows of one SLO, page before ticket; `rules=None` takes the workbook rows that fit the period.

    `min_events=None` derives each window's traffic gate with `auto_min_events`; `gated=False` drops the gate.
    """
    clamp = rules is None
    if rules is None:
        rules = default_rules(period_seconds)
        if not rules:
            raise ValueError(
                f"a {format_duration(period_seconds)} period is shorter than every default burn window:"
                " lengthen the SLO window or set alerting.windows"
            )
    if not rules:
        raise ValueError("an alerting policy needs at least one window")
    windows = [resolve_window(r, objective, period_seconds, min_events, gated, clamp) for r in rules]
    seen: set[tuple[str, int, int]] = set()
    for w in windows:
        key = (w.severity, w.long_seconds, w.short_seconds)
        if key in seen:
            raise ValueError(
                f"{w.severity} window {format_duration(w.long_seconds)}/{format_duration(w.short_seconds)}"
                " is listed twice"
            )
        seen.add(key)
    return tuple(sorted(windows, key=lambda w: (w.severity != "page", w.long_seconds, w.short_seconds)))


def fit_to_slices(
    windows: tuple[BurnWindow, ...], slice_seconds: int, objective: float, period_seconds: int
) -> tuple[BurnWindow, ...]:
    """A timeslice SLO's burn windows at the resolution of its slices, which idempotently refits fitted ones.

    A window shorter than one slice sees a single value, and a long window of one short window cannot tell
    a burn from one bad slice: each short window becomes at least one slice, each long window at least two
    short ones, keeping the row's share of the budget (its factor floored at 1, or at its own value when a
    policy set it below 1). A long window that no longer fits the period is dropped, and of two rows with the
    same severity and windows the lower factor stays. Every row alerts only once its long window holds
    `MIN_BAD_EVENTS` bad slices; 1 where one slice alone spends more than the whole budget.
    """
    budget = error_budget(objective)
    gate = MIN_BAD_EVENTS if slice_seconds <= product(budget, period_seconds) else 1
    fitted: dict[tuple[str, int, int], BurnWindow] = {}
    for w in windows:
        short = max(w.short_seconds, slice_seconds)
        long = max(w.long_seconds, 2 * short)
        if long > period_seconds:
            continue
        factor = w.factor
        if long != w.long_seconds:
            factor = max(exact(w.factor * w.long_seconds / long), min(w.factor, 1.0))
        row = BurnWindow(
            severity=w.severity,
            long_seconds=long,
            short_seconds=short,
            factor=factor,
            error_ratio_threshold=product(factor, budget),
            min_events=0,
            budget_share=exact(factor * long / period_seconds),
            min_bad_events=gate,
        )
        key = (w.severity, long, short)
        if key not in fitted or row.factor < fitted[key].factor:
            fitted[key] = row
    return tuple(
        sorted(fitted.values(), key=lambda w: (w.severity != "page", w.long_seconds, w.short_seconds))
    )


def format_duration(seconds: int) -> str:
    """A Prometheus duration in the largest whole unit: 300 -> 5m, 86400 -> 1d, 90 -> 90s."""
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
