"""Error-budget arithmetic: pure functions of objectives, ratios, counts and durations (no clock reads).

An objective is a percentage of good events (99.9); the error budget is the share of events allowed
to be bad over the SLO period (0.001). A burn rate of 1 spends exactly the whole budget in one period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, localcontext

#: Thresholds and factors are rounded to this many significant digits, so 14.4 x 0.001 is 0.0144.
SIGNIFICANT_DIGITS = 12


def exact(x: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """`x` rounded to `digits` significant digits: decimal arithmetic without binary noise."""
    if x == 0 or not math.isfinite(x):
        return x
    with localcontext() as ctx:
        ctx.prec = digits
        return float(+Decimal(repr(x)))


def product(*factors: float) -> float:
    """The product of decimal-written factors, rounded like `exact` (0.02 x 720 is 14.4, not 14.400000000000002)."""
    with localcontext() as ctx:
        ctx.prec = SIGNIFICANT_DIGITS
        result = Decimal(1)
        for f in factors:
            result *= Decimal(repr(float(f)))
        return float(result)


def error_budget(objective: float) -> float:
    """Share of events allowed to be bad: 1 - objective/100 (99.9 -> 0.001)."""
    if not 0 < objective < 100:
        raise ValueError(f"objective must be above 0 and below 100, got {objective}")
    return exact(float(1 - Decimal(repr(float(objective))) / 100))


def budget_seconds(objective: float, period_seconds: float) -> float:
    """Seconds of full outage the budget allows over the period (99.9% over 30d: 2592 s, 43.2 minutes)."""
    return error_budget(objective) * period_seconds


def burn_rate(error_ratio: float, objective: float) -> float:
    """How many times faster than sustainable the budget is being spent: error ratio / budget."""
    return error_ratio / error_budget(objective)


def budget_spent(burn: float, duration_seconds: float, period_seconds: float) -> float:
    """Share of the period's budget a burn rate held for a duration spends (14.4 for 1h of 30d: 0.02)."""
    return burn * duration_seconds / period_seconds


def budget_consumed(period_error_ratio: float, objective: float) -> float:
    """Share of the budget spent, from the error ratio measured over the whole (rolling) period."""
    return burn_rate(period_error_ratio, objective)


def budget_remaining(consumed: float) -> float:
    """Share of the budget left; negative once the SLO is broken."""
    return 1.0 - consumed


def time_to_exhaustion(remaining: float, burn: float, period_seconds: float) -> float:
    """Seconds until the remaining budget is gone at this burn rate: 0 if already gone, inf if not burning."""
    if remaining <= 0:
        return 0.0
    if burn <= 0:
        return math.inf
    return remaining * period_seconds / burn


@dataclass(frozen=True)
class Counts:
    """Good and total events (or timeslices) counted over one window."""

    good: float
    total: float

    def __post_init__(self) -> None:
        if self.total < 0 or self.good < 0 or self.good > self.total:
            raise ValueError(f"counts need 0 <= good <= total, got good={self.good} total={self.total}")

    @property
    def bad(self) -> float:
        """Events (or slices) that were not good."""
        return self.total - self.good

    @property
    def error_ratio(self) -> float:
        """Bad / total; a window without events spent nothing, so its ratio is 0."""
        return self.bad / self.total if self.total else 0.0


def complement(share: float) -> float:
    """1 - share in decimal arithmetic (1 - 0.99 is 0.01, not 0.010000000000000009)."""
    return exact(float(1 - Decimal(repr(float(share)))))
