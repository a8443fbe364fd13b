"""The slice behind a drift incident (issue 19 item 2): for a complete window of the alerting length whose
first drift metric is at its alert level on some feature, the slice whose removal shrinks the top
feature's drift most (`analyzers.drift_slice`), read from the window's reservoir and exported as
`contract.DRIFT_SLICE` for the incident alert's annotation. Kept in memory: a restarted collector shows it
again once the window is evaluated again; the stored drift points are the record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from analyzers.drift_slice import explaining_slice
from collector import repository
from slo.windows import format_duration
from spec import Model

#: Records read per window, as KS and Wasserstein read them (`evaluation.RESERVOIR_SIZE`).
RESERVOIR = 10_000


def evaluate_window(s: Session, evaluator: Any, model: Model | None, key: Any) -> int:
    """Find and export the explaining slice of one window where it is an incident; returns slices found."""
    if model is None or not model.slices or key.seconds != model.drift.window_seconds:
        return 0
    if key.end > evaluator.clock():  # the incident reads the newest complete window
        return 0
    metric = model.drift.metrics[0]
    points = repository.drift_series(
        s, model=key.model, version=key.version, metric=metric, window_seconds=key.seconds,
        since=key.start, until=key.start + dt.timedelta(microseconds=1),
    )  # fmt: skip
    drifted = [p for p in points if p.value is not None and p.value >= model.drift.alert]
    if not drifted:
        return 0
    top = max(drifted, key=lambda p: p.value or 0.0)
    reference = evaluator.aggregator.references(s, top.reference_id).get(top.feature)
    if reference is None:
        return 0
    rows = repository.window_sample(
        s, model=key.model, version=key.version, start=key.start, end=key.end, size=RESERVOIR
    )
    found = explaining_slice(reference, rows, model.slices, metric)
    if found is None:
        return 0
    labels = (key.model, key.version, format_duration(key.seconds))
    evaluator.state.set_drift_slice(labels, key.start, found.feature, found.slice, found.share)
    return 1
