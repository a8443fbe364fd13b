"""SLO status from stored data: count good and total events per window, then the pure `slo.status` math.

The collector counts what the generated Prometheus rules count, so the two agree: availability and
latency from the SDK's exact stats deltas (by the end of each delta), accuracy from labelled
predictions by label arrival, data quality from valid and invalid records by batch arrival, a feature's
freshness from the feature ages the stats deltas carried (`stats_usage`). Timeslice
SLIs (drift, freshness, accuracy by timeslices) are judged by Prometheus, minute by minute, from the
exported gauges' history, which the collector does not keep; it reports them as such.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analyzers.performance import same_class
from collector import db
from sdk.wire import FEATURE_AGE_BOUNDS, GENAI_TTFT_BOUNDS
from slo.budget import Counts
from slo.definition import SLO
from slo.status import SLOStatus, evaluate, required_windows
from slo.windows import format_duration

COMPUTED_SLIS = ("availability", "latency", "accuracy", "data_quality", "freshness", "time_to_first_token")


def computed_here(slo: SLO) -> bool:
    """Whether the collector computes this SLO's status itself (occurrence-based SLIs it has the events of)."""
    return slo.budgeting == "occurrences" and slo.sli in COMPUTED_SLIS


def _events(
    session: Session, slo: SLO, since: dt.datetime, now: dt.datetime
) -> list[tuple[dt.datetime, float, float]]:
    """(when, good, total) event batches of the SLO's model in (since, now]."""
    if slo.sli == "data_quality":
        stmt0 = select(db.Batch.received_at, db.Batch.size, db.Batch.invalid).where(
            db.Batch.model == slo.model,
            db.Batch.kind == "records",
            db.Batch.received_at > since,
            db.Batch.received_at <= now,
        )
        return [(at, float(n - bad), float(n)) for at, n, bad in session.execute(stmt0)]
    if slo.sli == "freshness":
        return _feature_ages(session, slo, since, now)
    if slo.sli == "time_to_first_token":
        return _first_tokens(session, slo, since, now)
    if slo.sli == "accuracy":
        stmt = (
            select(db.Label.received_at, db.Record.prediction, db.Label.label)
            .join(
                db.Record, (db.Label.model == db.Record.model) & (db.Label.record_id == db.Record.record_id)
            )
            .where(db.Label.model == slo.model, db.Label.received_at > since, db.Label.received_at <= now)
        )
        return [(at, float(same_class(p, y)), 1.0) for at, p, y in session.execute(stmt)]
    stmt2 = select(
        db.Stats.end, db.Stats.ok, db.Stats.error, db.Stats.latency_bounds, db.Stats.latency_counts
    ).where(db.Stats.model == slo.model, db.Stats.end > since, db.Stats.end <= now)
    out = []
    for end, ok, error, bounds, counts in session.execute(stmt2):
        if slo.sli == "availability":
            good = float(ok)
        else:
            threshold = slo.threshold_seconds or 0.0
            good = float(sum(c for b, c in zip(bounds, counts, strict=False) if b <= threshold + 1e-12))
        out.append((end, good, float(ok + error)))
    return out


def _first_tokens(
    session: Session, slo: SLO, since: dt.datetime, now: dt.datetime
) -> list[tuple[dt.datetime, float, float]]:
    """(end, LLM calls whose first token came within the threshold, LLM calls timed) per stats delta."""
    stmt = select(db.StatsUsage.end, db.StatsUsage.genai).where(
        db.StatsUsage.model == slo.model, db.StatsUsage.end > since, db.StatsUsage.end <= now
    )
    fast = sum(1 for b in GENAI_TTFT_BOUNDS if b <= (slo.threshold_seconds or 0) + 1e-12)
    out = []
    for end, genai in session.execute(stmt):
        counts = ((genai or {}).get("ttft") or {}).get("counts") or []
        if sum(counts):
            out.append((end, float(sum(counts[:fast])), float(sum(counts))))
    return out


def _feature_ages(
    session: Session, slo: SLO, since: dt.datetime, now: dt.datetime
) -> list[tuple[dt.datetime, float, float]]:
    """(end, calls whose `slo.feature` was at most max_age old, calls that gave its age) per stats delta."""
    stmt = select(db.StatsUsage.end, db.StatsUsage.feature_ages).where(
        db.StatsUsage.model == slo.model, db.StatsUsage.end > since, db.StatsUsage.end <= now
    )
    fresh = sum(1 for b in FEATURE_AGE_BOUNDS if b <= (slo.max_age_seconds or 0))
    out = []
    for end, ages in session.execute(stmt):
        counts = (ages or {}).get(slo.feature or "", {}).get("counts") or []
        if sum(counts):
            out.append((end, float(sum(counts[:fresh])), float(sum(counts))))
    return out


def window_counts(
    events: Sequence[tuple[dt.datetime, float, float]], windows: Sequence[int], now: dt.datetime
) -> dict[int, Counts]:
    """Good and total per trailing window, from one pass of events over the longest window."""
    out = {}
    for w in windows:
        since = now - dt.timedelta(seconds=w)
        good = sum(g for at, g, _ in events if at > since)
        total = sum(t for at, _, t in events if at > since)
        out[w] = Counts(good, total)
    return out


@dataclass(frozen=True)
class SLOReport:
    """What GET /v1/slos returns for one SLO."""

    slo: SLO
    status: SLOStatus | None  # None: judged by Prometheus from the exported gauges

    def to_dict(self) -> dict[str, Any]:
        """The report as the API's SLO status lists it (JSON-ready)."""
        s = self.slo
        out: dict[str, Any] = {
            "name": s.name,
            "model": s.model,
            "sli": s.sli,
            "objective": s.objective,
            "budgeting": s.budgeting,
            "target": s.target,
            "period": format_duration(s.period_seconds),
            "computed_by": "collector" if self.status else "prometheus",
        }
        if self.status is not None:
            st = self.status
            out.update(
                error_budget=st.error_budget,
                error_ratio=st.error_ratio,
                consumed=st.consumed,
                remaining=st.remaining,
                budget_ready=st.budget_ready,
                observed_seconds=st.observed_seconds,
                burn_rates={format_duration(b.window_seconds): b.burn_rate for b in st.burns},
                events={format_duration(b.window_seconds): b.events for b in st.burns},
                time_to_exhaustion_seconds=None
                if st.time_to_exhaustion_seconds == float("inf")
                else st.time_to_exhaustion_seconds,
                firing=[
                    {
                        "severity": w.severity,
                        "long_window": format_duration(w.long_seconds),
                        "short_window": format_duration(w.short_seconds),
                        "factor": w.factor,
                    }
                    for w in st.firing
                ],
            )
        return out


def slo_reports(session: Session, slos: Sequence[SLO], now: dt.datetime) -> list[SLOReport]:
    """Status of every SLO at `now`."""
    reports = []
    for slo in slos:
        if not computed_here(slo):
            reports.append(SLOReport(slo, None))
            continue
        windows = required_windows(slo)
        events = _events(session, slo, now - dt.timedelta(seconds=max(windows)), now)
        observed = (now - min(at for at, _, _ in events)).total_seconds() if events else 0.0
        reports.append(SLOReport(slo, evaluate(slo, window_counts(events, windows, now), observed)))
    return reports


def gauges(reports: Sequence[SLOReport]) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """The values of `contract.SLO_ERROR_BUDGET_REMAINING` (by slo) and `contract.SLO_BURN_RATE` (by slo
    and window)."""
    remaining = {r.slo.name: r.status.remaining for r in reports if r.status}
    burn = {
        (r.slo.name, format_duration(b.window_seconds)): b.burn_rate
        for r in reports
        if r.status
        for b in r.status.burns
    }
    return remaining, burn
