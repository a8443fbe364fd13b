"""The `prices:` section of a model: what one call costs, so the collector can export spend per version.

Prices are per unit the SDK counts exactly on every call (GPU-seconds, input and output tokens, calls);
a version may override them, and an optional budget per period turns spend into burn-rate alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from pydantic import Field, field_validator, model_validator

from spec.fields import Strict, check_duration, parse_duration

#: An ISO 4217 code (three capital letters) as the `currency` label on the cost series.
CURRENCY_RE = r"^[A-Z]{3}$"


class RatesSpec(Strict):
    """Unit prices, each at least 0, in the model's currency; an unset one costs nothing."""

    gpu_second: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Price of one GPU-second (or wall second) of compute."
    )
    input_tokens_1k: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Price of 1,000 input (prompt) tokens."
    )
    output_tokens_1k: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Price of 1,000 output (completion) tokens."
    )
    call: float = Field(0.0, ge=0, allow_inf_nan=False, description="Price of one call (one prediction row).")


class VersionRatesSpec(RatesSpec):
    """The prices of one model version, replacing the model's own for that version."""

    version: str = Field(min_length=1, max_length=64, description="The version these prices apply to.")


class CostBudgetSpec(Strict):
    """How much the model may spend per period; spending faster pages or files a ticket."""

    amount: float = Field(gt=0, allow_inf_nan=False, description="Spend allowed per period, in the currency.")
    period: str = Field("30d", description="The period the amount is for, e.g. 1d, 30d.")

    _check_period = field_validator("period")(classmethod(lambda cls, v: check_duration(v)))


class PricesSpec(RatesSpec):
    """A model's price table: unit prices, per-version overrides and an optional spend budget."""

    currency: str = Field("USD", pattern=CURRENCY_RE, description="ISO 4217 code of every price here.")
    versions: tuple[VersionRatesSpec, ...] = Field(
        (), description="Per-version prices; a version not listed costs the model's prices."
    )
    budget: CostBudgetSpec | None = Field(None, description="Spend budget per period, for burn-rate alerts.")

    @model_validator(mode="after")
    def _versions_once(self) -> PricesSpec:
        names = [v.version for v in self.versions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"versions: each version is priced once; repeated: {', '.join(dupes)}")
        return self


@dataclass(frozen=True)
class Rates:
    """Resolved unit prices of one model version."""

    gpu_second: float = 0.0
    input_tokens_1k: float = 0.0
    output_tokens_1k: float = 0.0
    call: float = 0.0

    def cost(self, *, calls: int, compute_seconds: float, input_tokens: int, output_tokens: int) -> float:
        """Spend for these totals, summed exactly (as fractions) and rounded once to the nearest float."""
        total = (
            Fraction(self.call) * calls
            + Fraction(self.gpu_second) * Fraction(compute_seconds)
            + Fraction(self.input_tokens_1k) * input_tokens / 1000
            + Fraction(self.output_tokens_1k) * output_tokens / 1000
        )
        return float(total)


@dataclass(frozen=True)
class Prices:
    """A model's resolved price table: currency, default rates, per-version rates, and the budget if any."""

    currency: str
    rates: Rates
    versions: Mapping[str, Rates] = field(default_factory=dict)
    budget_amount: float | None = None
    budget_period_seconds: int | None = None

    def rates_for(self, version: str) -> Rates:
        """The rates of one version: its own when listed, else the model's."""
        return self.versions.get(version, self.rates)


def _rates(r: RatesSpec) -> Rates:
    return Rates(r.gpu_second, r.input_tokens_1k, r.output_tokens_1k, r.call)


def resolve_prices(p: PricesSpec | None) -> Prices | None:
    """The frozen price table the collector and the rule generator read; None when the model has none."""
    if p is None:
        return None
    return Prices(
        currency=p.currency,
        rates=_rates(p),
        versions={v.version: _rates(v) for v in p.versions},
        budget_amount=None if p.budget is None else p.budget.amount,
        budget_period_seconds=None if p.budget is None else parse_duration(p.budget.period),
    )
