"""`driftline report`: one self-contained HTML page of a model's key views, for people without Grafana.

The top-floor step: read the model's stored history through the collector's read path
(`collector.reads`, which the API's GET routes share) into the report's data, and hand that to `report`,
which only draws. The database is only read, never created; the output is a pure function of the
database and `now`, so two reports of the same data are byte-identical.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from collector import db, reads
from contract import DriftlineError
from report import (
    MAX_WINDOWS,
    AttributionObs,
    Distribution,
    DriftObs,
    PerfObs,
    QualityObs,
    ReportData,
    distribution,
    distribution_window,
    newest_windows,
    render,
)
from spec import Model, ResolvedSpec


class ReportError(DriftlineError):
    """The report cannot be built (no database there, not a Driftline database, an unknown model)."""


def _drift(s: Session, model: str, window_seconds: int, now: dt.datetime) -> list[DriftObs]:
    """Every drift value of `model` in windows of one length that started before `now`."""
    return [
        DriftObs(p.version, p.feature, p.metric, p.window_start, p.window_end, p.value, p.status, p.n_current,
                 p.reference_id)
        for p in reads.drift_points(s, model=model, window_seconds=window_seconds, limit=reads.EVERY)
        if p.window_start < now
    ]  # fmt: skip


def _performance(
    store: reads.Store, s: Session, model: str, window_seconds: int, now: dt.datetime
) -> list[PerfObs]:
    """Every realized-performance value of `model` in windows of one length that started
    before `now`."""
    if not store.has_performance:
        return []
    return [
        PerfObs(p.version, p.slice, p.metric, p.window_start, p.window_end, p.value, p.lower, p.upper,
                p.support, p.total, p.status)
        for p in reads.performance_points(s, model=model, window_seconds=window_seconds, limit=reads.EVERY)
        if p.window_start < now
    ]  # fmt: skip


def _deploys(
    store: reads.Store, s: Session, model: str, now: dt.datetime
) -> tuple[tuple[str, dt.datetime], ...]:
    """(version, first seen) of each deploy up to `now`, oldest first."""
    if not store.has_deploys:
        return ()
    ordered = sorted(reads.deploys(s, model=model), key=lambda d: (d.first_seen, d.version))
    return tuple((d.version, d.first_seen) for d in ordered if d.first_seen <= now)


#: Points read to find the newest complete window of data-quality checks and of attributions.
NEWEST_POINTS = 2000


def _quality(s: Session, model: str, window_seconds: int, now: dt.datetime) -> tuple[QualityObs, ...]:
    """Every data-quality check of the newest window that ended by `now`, failures first."""
    points = [
        p for p in reads.quality_points(s, model=model, window_seconds=window_seconds, until=now,
                                        limit=NEWEST_POINTS)
        if p.window_end <= now
    ]  # fmt: skip
    if not points:
        return ()
    start = max(p.window_start for p in points)
    newest = [
        QualityObs(p.version, p.feature, p.check, p.window_start, p.window_end, p.count, p.total)
        for p in points
        if p.window_start == start
    ]
    return tuple(sorted(newest, key=lambda q: (-(q.count / q.total if q.total else 0.0), q.feature, q.check)))


def _attributions(s: Session, model: str, window_seconds: int, now: dt.datetime) -> tuple[AttributionObs, ...]:
    """Mean |SHAP| per feature (of the prediction) in the newest window that ended by `now`, largest first."""
    points = [
        p for p in reads.attribution_points(s, model=model, kind="prediction", window_seconds=window_seconds,
                                            until=now, limit=NEWEST_POINTS)
        if p.window_end <= now
    ]  # fmt: skip
    if not points:
        return ()
    start = max(p.window_start for p in points)
    newest = [
        AttributionObs(p.version, p.feature, p.window_start, p.window_end, p.mean_abs, p.reference_mean_abs,
                       p.status, p.n)
        for p in points
        if p.window_start == start
    ]  # fmt: skip
    return tuple(sorted(newest, key=lambda a: (-(a.mean_abs or 0.0), a.feature, a.version)))


def _features(m: Model | None, points: Sequence[DriftObs]) -> tuple[str, ...]:
    """Features with drift values: the spec's order first, then any others by name."""
    present = {p.feature for p in points}
    if m is None:
        return tuple(sorted(present))
    features = tuple(f.name for f in m.drift_features if f.name in present)
    return features + tuple(sorted(present - set(features)))


def _distributions(
    s: Session, model: str, points: Sequence[DriftObs], features: Sequence[str], metric: str, now: dt.datetime
) -> tuple[tuple[Distribution, ...], tuple[str, dt.datetime, dt.datetime] | None]:
    """Reference vs current distributions in the newest complete window that has judged drift."""
    window = distribution_window(points, metric, now)
    if window is None:
        return (), None
    version, start, end, chosen = window
    rows = reads.window_features(s, model=model, version=version, start=start, end=end)
    references: dict[int, Mapping[str, Any] | None] = {}
    out = []
    for feature in features:
        point = chosen.get(feature)
        if point is None:
            continue
        if point.reference_id not in references:
            references[point.reference_id] = reads.reference_features(s, point.reference_id)
        stored = references[point.reference_id]
        if stored is None or feature not in stored:
            continue
        out.append(distribution(feature, stored[feature], [r.get(feature) for r in rows]))
    return tuple(out), (version, start, end)


def _unknown(s: Session, spec: ResolvedSpec | None, model: str, source: str) -> ReportError:
    """The error for a model with no windows that the spec does not declare either, naming the known ones."""
    known = sorted(set(reads.model_names(s)) | ({x.name for x in spec.models} if spec else set()))
    return ReportError(
        f"model {model!r} has no drift or performance windows in {source} and is "
        f"not in the spec; models known: {', '.join(known) or 'none'}"
    )


def _read(
    store: reads.Store, spec: ResolvedSpec | None, model: str, now: dt.datetime, max_windows: int
) -> ReportData:
    """Read what the page shows from an open store."""
    m = spec.model(model) if spec else None
    drift_settings = reads.drift_settings(spec, model)
    with store.session() as s:
        # the page shows the model's first window length, the one its alerts read
        first = drift_settings.window_seconds
        drift_rows, perf_rows = _drift(s, model, first, now), _performance(store, s, model, first, now)
        if m is None and not drift_rows and not perf_rows:
            raise _unknown(s, spec, model, store.source)
        cutoff, left_out = newest_windows(
            [p.start for p in drift_rows] + [p.start for p in perf_rows], max_windows
        )
        if cutoff is not None:
            drift_rows = [p for p in drift_rows if p.start >= cutoff]
            perf_rows = [p for p in perf_rows if p.start >= cutoff]
        drift_rows.sort(key=lambda p: (p.feature, p.metric, p.version, p.start))
        perf_rows.sort(key=lambda p: (p.slice, p.metric, p.version, p.start))
        features = _features(m, drift_rows)
        distributions, window = _distributions(s, model, drift_rows, features, drift_settings.metrics[0], now)
        deploys = _deploys(store, s, model, now)
        slos = tuple(x for x in (spec.slos if spec else ()) if x.model == model)
        reports = reads.slo_status(s, slos, now) if slos else []
        quality, attributions = _quality(s, model, first, now), _attributions(s, model, first, now)
    return ReportData(
        model=model,
        in_spec=m is not None,
        drift=drift_settings,
        features=features,
        drift_points=tuple(drift_rows),
        perf_points=tuple(perf_rows),
        distributions=distributions,
        distribution_window=window,
        slos=tuple((r.slo, r.to_dict()) for r in reports),
        deploys=deploys,
        now=now,
        source=store.source,
        windows_left_out=left_out,
        runbook_url=m.runbook_url if m else None,
        quality=quality,
        attributions=attributions,
    )


def load(
    database_url: str,
    spec: ResolvedSpec | None,
    model: str,
    *,
    now: dt.datetime | None = None,
    max_windows: int = MAX_WINDOWS,
) -> ReportData:
    """Read what the report shows: the newest `max_windows` windows that started before `now`."""
    now = now or db.utcnow()
    now = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)  # naive is UTC
    try:
        with reads.open_store(database_url) as store:
            return _read(store, spec, model, now, max_windows)
    except reads.StoreError as exc:
        raise ReportError(str(exc)) from exc


def build_report(
    database_url: str,
    spec: ResolvedSpec | None,
    model: str,
    *,
    now: dt.datetime | None = None,
    max_windows: int = MAX_WINDOWS,
) -> str:
    """The self-contained HTML report of `model` as of `now` (default: the current time)."""
    return render(load(database_url, spec, model, now=now, max_windows=max_windows))


def write_report(
    database_url: str,
    spec: ResolvedSpec | None,
    model: str,
    out: str | Path,
    *,
    now: dt.datetime | None = None,
    max_windows: int = MAX_WINDOWS,
) -> Path:
    """Write the report to `out` (parents created, replaced atomically) and return its path."""
    path = Path(out)
    text = build_report(database_url, spec, model, now=now, max_windows=max_windows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
