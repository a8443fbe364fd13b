"""The `retrains:` section of a model: how many retrains it is expected to start per period (SLI M12).

Retrains arrive as events (`POST /v1/events` kind `retrain`, counted in the series `contract.MODEL_EVENTS`);
a model that retrains more often than planned wastes compute and usually means a trigger is misfiring
(a drift alert that retrains on every window, a scheduler that loops), so exceeding the limit files a
ticket. No section: retrains are counted and annotated, never alerted on.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, field_validator

from spec.fields import Strict, check_duration, parse_duration


class RetrainsSpec(Strict):
    """The most retrains a model should start in one period."""

    max: int = Field(ge=1, description="The most retrains expected per period; one more files a ticket.")
    per: str = Field("1d", description="The period `max` counts over (a rolling window), e.g. 1d or 7d.")

    _check_per = field_validator("per")(classmethod(lambda cls, v: check_duration(v)))


@dataclass(frozen=True)
class RetrainLimit:
    """A model's retrain-rate objective, resolved: at most `max` retrains in any `per_seconds`."""

    max: int
    per_seconds: int


def resolve_retrains(s: RetrainsSpec | None) -> RetrainLimit | None:
    """The limit the generators read; None when the model declares none."""
    return None if s is None else RetrainLimit(s.max, parse_duration(s.per))
