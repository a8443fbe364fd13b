"""How long the collector keeps each kind of stored data (`retention` in the spec); unset keeps it forever."""

from __future__ import annotations

from pydantic import Field, field_validator

from spec.fields import Strict, check_duration, parse_duration


class RetentionSpec(Strict):
    """Ages past which stored rows are deleted, each kind with its own period (durations like 90d)."""

    records: str | None = Field(
        None,
        description="Raw records, by event time. Unset: kept forever. Reservoirs and rebuilds read them.",
    )
    labels: str | None = Field(None, description="Ground-truth labels, by the time they were received.")
    aggregates: str | None = Field(
        None,
        description="Per-minute aggregates and their hour roll-ups, in whole hours: what windows are evaluated "
        "from, so keep them at least as long as the longest window.",
    )
    points: str | None = Field(
        None, description="Evaluated windows (drift, performance, quality, attributions), by window start."
    )

    @field_validator("records", "labels", "aggregates", "points")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        return None if v is None else check_duration(v)

    def periods(self) -> dict[str, int]:
        """Seconds to keep each kind that has a period: records, labels, aggregates, points."""
        kinds = {
            "records": self.records,
            "labels": self.labels,
            "aggregates": self.aggregates,
            "points": self.points,
        }
        return {kind: parse_duration(v) for kind, v in kinds.items() if v is not None}
