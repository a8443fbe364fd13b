"""The price table in the spec: each mistake is refused with its line, field and fix; a good one resolves."""

from __future__ import annotations

from fractions import Fraction

import pytest

from spec import SpecError, load_spec_text
from spec.prices import Rates

BASE = """version: 1
models:
  - name: chat
    features:
      - {name: prompt_length, type: numeric}
    prediction: {type: regression}
    prices:
"""


def prices(*lines: str) -> str:
    """BASE with the price table's lines; the first sits on line 8."""
    return BASE + "".join(f"      {line}\n" for line in lines)


CASES = {
    "a negative price names its line and the lower bound": (
        prices("gpu_second: -0.1"),
        ":8:",
        "greater than or equal to 0",
    ),
    "a misspelt price field names its line": (
        prices("gpu_seconds: 0.1"),
        ":8:",
        "gpu_seconds",
    ),
    "a currency that is not an ISO code is refused at its line": (
        prices("gpu_second: 0.1", "currency: dollars"),
        ":9:",
        "[A-Z]{3}",
    ),
    "a version priced twice is refused": (
        prices("versions:", "  - {version: v1, call: 0.1}", "  - {version: v1, call: 0.2}"),
        "priced once",
        "v1",
    ),
    "a budget without an amount says what is missing": (
        prices("budget: {period: 30d}"),
        ":8:",
        "amount",
    ),
    "a budget period that is no duration says how to write one": (
        prices("budget: {amount: 10, period: monthly}"),
        ":8:",
        "like 30s, 5m, 1h or 30d",
    ),
    "text as a price is refused, not read as zero": (
        prices("call: cheap"),
        ":8:",
        "call",
    ),
    "an infinite price is refused": (
        prices("call: .inf"),
        ":8:",
        "call",
    ),
}


@pytest.mark.parametrize(("text", "where", "fix"), list(CASES.values()), ids=list(CASES))
def test_a_bad_price_table_is_refused_with_line_field_and_fix(text: str, where: str, fix: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(text, source="driftline.yaml")
    message = str(err.value)
    assert message.startswith("driftline.yaml:"), message
    assert where in message and fix in message, message


def test_a_good_price_table_resolves_with_version_overrides_and_budget() -> None:
    text = prices(
        "currency: EUR",
        "gpu_second: 0.0011",
        "input_tokens_1k: 0.0005",
        "output_tokens_1k: 0.0015",
        "versions:",
        "  - {version: v2, call: 0.25}",
        "budget: {amount: 3000, period: 7d}",
    )
    model = load_spec_text(text).model("chat")
    assert model is not None and model.prices is not None
    p = model.prices
    assert p.currency == "EUR"
    assert p.rates_for("v1") == Rates(0.0011, 0.0005, 0.0015, 0.0)
    assert p.rates_for("v2") == Rates(0.0, 0.0, 0.0, 0.25)
    assert (p.budget_amount, p.budget_period_seconds) == (3000, 7 * 86400)


def test_a_model_without_prices_has_none() -> None:
    model = load_spec_text(BASE.removesuffix("    prices:\n")).model("chat")
    assert model is not None and model.prices is None


def test_cost_is_the_exact_sum_rounded_once() -> None:
    rates = Rates(gpu_second=0.0011, input_tokens_1k=0.0005, output_tokens_1k=0.0015, call=0.1)
    got = rates.cost(calls=3, compute_seconds=2.5, input_tokens=1200, output_tokens=301)
    exact = (
        Fraction(0.1) * 3
        + Fraction(0.0011) * Fraction(2.5)
        + Fraction(0.0005) * 1200 / 1000
        + Fraction(0.0015) * 301 / 1000
    )
    assert got == float(exact)
