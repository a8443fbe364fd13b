"""Per-window evaluation results (drift, performance, quality, attributions): upserts, series, newest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from collector import db
from collector.repository._sql import insert


def upsert_drift(conn: Session, *, rows: Sequence[dict[str, Any]]) -> None:
    """Store drift points; a re-evaluated window replaces its earlier values."""
    if not rows:
        return
    stmt = insert(conn, db.DriftPoint)
    keys = (
        "window_end",
        "value",
        "status",
        "n_reference",
        "n_current",
        "reference_id",
        "computed_at",
        "p_value",
        "p_adjusted",
        "correction",
        "mde",
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["model", "version", "feature", "metric", "window_seconds", "window_start"],
        set_={k: getattr(stmt.excluded, k) for k in keys},
    )
    conn.execute(stmt, list(rows))


def drift_series(
    conn: Session,
    *,
    model: str,
    version: str | None = None,
    feature: str | None = None,
    metric: str | None = None,
    window_seconds: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 1000,
    after: Sequence[Any] | None = None,
) -> list[db.DriftPoint]:
    """A model's stored drift points, newest window first, optionally narrowed (see `series`)."""
    p = db.DriftPoint
    filters = {"version": version, "feature": feature, "metric": metric, "window_seconds": window_seconds}
    return series(conn, p, model, filters, since, until, _order(p, "drift"), limit, after)


def series(
    conn: Session,
    entity: Any,
    model: str,
    equal: dict[str, Any],
    since: dt.datetime | None,
    until: dt.datetime | None,
    then: tuple[Any, ...],
    limit: int,
    after: Sequence[Any] | None = None,
) -> list[Any]:
    """A model's stored points of one kind, newest window first (then by window length, version and `then`):
    columns in `equal` with a value other than None must equal it, and windows start in [since, until).
    `after`: the `series_key` of the last point of the previous page, so the next page starts right after it
    (keyset paging: a page costs the same however deep it is, and points stored meanwhile never shift it).
    The (model, window_start) index finds the newest windows without sorting the history."""
    stmt = select(entity).where(entity.model == model)
    if after is not None:
        start, *rest = after
        tail = (entity.window_seconds, entity.version, *then)
        # the range bound alone lets the (model, window_start) index start at the cursor's window
        stmt = stmt.where(
            entity.window_start <= start, or_(entity.window_start < start, tuple_(*tail) > tuple_(*rest))
        )
    for column, value in equal.items():
        if value is not None:
            stmt = stmt.where(getattr(entity, column) == value)
    if since is not None:
        stmt = stmt.where(entity.window_start >= since)
    if until is not None:
        stmt = stmt.where(entity.window_start < until)
    stmt = stmt.order_by(entity.window_start.desc(), entity.window_seconds, entity.version, *then).limit(limit)
    return list(conn.execute(stmt).scalars())


#: Per kind of point: the columns after (window_start, window_seconds, version) that order a series read.
SERIES_ORDER = {
    "drift": ("feature", "metric"),
    "performance": ("slice", "metric"),
    "quality": ("feature", "check"),
    "attributions": ("kind", "feature"),
}


def _order(entity: Any, kind: str) -> tuple[Any, ...]:
    return tuple(getattr(entity, c) for c in SERIES_ORDER[kind])


def series_key(kind: str, point: Any) -> tuple[Any, ...]:
    """Where `point` stands in its kind's read order: what a cursor holds to start the next page after it."""
    return (point.window_start, point.window_seconds, point.version, *(getattr(point, c) for c in SERIES_ORDER[kind]))


def _newest_per_series(conn: Session, entity: Any, series: Sequence[str], *conds: Any) -> list[Any]:
    """For each series (the key columns but window_start), its row with the newest window_start among rows
    meeting `conds`: one grouped query joined back on the key, not a scan of the whole history."""
    cols = [getattr(entity, c) for c in series]
    newest = (
        select(*cols, func.max(entity.window_start).label("newest")).where(*conds).group_by(*cols).subquery()
    )
    on = and_(*(getattr(entity, c) == newest.c[c] for c in series), entity.window_start == newest.c.newest)
    return list(conn.execute(select(entity).join(newest, on)).scalars())


_DRIFT_SERIES = ("model", "version", "feature", "metric", "window_seconds")


def latest_drift(conn: Session, *, complete_before: dt.datetime) -> list[db.DriftPoint]:
    """Per (model, version, feature, metric, window length): the newest window that ended by `complete_before`.

    Windows with too little data are skipped; falls back to the newest window at all when none has
    ended yet, so a fresh model still shows.
    """
    enough = db.DriftPoint.status != "insufficient_data"
    complete = _newest_per_series(
        conn, db.DriftPoint, _DRIFT_SERIES, enough, db.DriftPoint.window_end <= complete_before
    )
    have = {tuple(getattr(p, c) for c in _DRIFT_SERIES) for p in complete}
    fresh = [
        p
        for p in _newest_per_series(conn, db.DriftPoint, _DRIFT_SERIES, enough)
        if tuple(getattr(p, c) for c in _DRIFT_SERIES) not in have
    ]
    return complete + fresh


def upsert_performance(conn: Session, *, rows: Sequence[dict[str, Any]]) -> None:
    """Store performance points; a re-evaluated window (late labels) replaces its earlier values."""
    if not rows:
        return
    stmt = insert(conn, db.PerformancePoint)
    keys = ("window_end", "value", "lower", "upper", "support", "total", "status", "computed_at")
    stmt = stmt.on_conflict_do_update(
        index_elements=["model", "version", "slice", "metric", "window_seconds", "window_start"],
        set_={k: getattr(stmt.excluded, k) for k in keys},
    )
    conn.execute(stmt, list(rows))


def performance_series(
    conn: Session,
    *,
    model: str,
    version: str | None = None,
    slice_: str | None = None,
    metric: str | None = None,
    window_seconds: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 1000,
    after: Sequence[Any] | None = None,
) -> list[db.PerformancePoint]:
    """A model's stored performance points, newest window first, optionally narrowed (see `series`)."""
    p = db.PerformancePoint
    filters = {"version": version, "slice": slice_, "metric": metric, "window_seconds": window_seconds}
    return series(conn, p, model, filters, since, until, _order(p, "performance"), limit, after)


def latest_performance(conn: Session, *, complete_before: dt.datetime) -> list[db.PerformancePoint]:
    """Per (model, version, slice, metric, window length): the newest window, ended by `complete_before`,
    whose labels matured."""
    p = db.PerformancePoint
    return _newest_per_series(
        conn,
        p,
        ("model", "version", "slice", "metric", "window_seconds"),
        p.status == "ok",
        p.window_end <= complete_before,
    )


def newest_labelled_window(
    conn: Session, *, model: str, window_seconds: int, before: dt.datetime
) -> dt.datetime | None:
    """Start of the newest window of this length, ended by `before`, whose realized performance has matured
    labels."""
    stmt = select(func.max(db.PerformancePoint.window_start)).where(
        db.PerformancePoint.model == model,
        db.PerformancePoint.window_seconds == window_seconds,
        db.PerformancePoint.status == "ok",
        db.PerformancePoint.slice == "all",
        db.PerformancePoint.window_end <= before,
    )
    ts = conn.scalar(stmt)
    return None if ts is None else (ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC))


def upsert_quality(conn: Session, *, rows: Sequence[dict[str, Any]]) -> None:
    """Store data-quality points; a re-evaluated window replaces its earlier counts."""
    if not rows:
        return
    stmt = insert(conn, db.QualityPoint)
    stmt = stmt.on_conflict_do_update(
        index_elements=["model", "version", "feature", "check", "window_seconds", "window_start"],
        set_={k: getattr(stmt.excluded, k) for k in ("window_end", "count", "total", "computed_at")},
    )
    conn.execute(stmt, list(rows))


def quality_series(
    conn: Session,
    *,
    model: str,
    version: str | None = None,
    feature: str | None = None,
    check: str | None = None,
    window_seconds: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 1000,
    after: Sequence[Any] | None = None,
) -> list[db.QualityPoint]:
    """A model's stored data-quality points, newest window first, optionally narrowed (see `series`)."""
    q = db.QualityPoint
    filters = {"version": version, "feature": feature, "check": check, "window_seconds": window_seconds}
    return series(conn, q, model, filters, since, until, _order(q, "quality"), limit, after)


def latest_quality(conn: Session, *, complete_before: dt.datetime) -> list[db.QualityPoint]:
    """Per (model, version, feature, check, window length): the newest window that ended by `complete_before`."""
    q = db.QualityPoint
    return _newest_per_series(
        conn,
        q,
        ("model", "version", "feature", "check", "window_seconds"),
        q.window_end <= complete_before,
        q.total > 0,
    )


def upsert_attributions(conn: Session, *, rows: Sequence[dict[str, Any]]) -> None:
    """Store per-window attribution points; a re-evaluated window replaces its earlier values."""
    if not rows:
        return
    stmt = insert(conn, db.AttributionPoint)
    keys = [
        k
        for k in rows[0]
        if k not in ("model", "version", "feature", "kind", "window_seconds", "window_start")
    ]
    stmt = stmt.on_conflict_do_update(
        index_elements=["model", "version", "feature", "kind", "window_seconds", "window_start"],
        set_={k: getattr(stmt.excluded, k) for k in keys},
    )
    conn.execute(stmt, list(rows))


def attribution_series(
    conn: Session,
    *,
    model: str,
    version: str | None = None,
    feature: str | None = None,
    kind: str | None = None,
    window_seconds: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 1000,
    after: Sequence[Any] | None = None,
) -> list[db.AttributionPoint]:
    """A model's stored attribution points, newest window first, optionally narrowed (see `series`)."""
    a = db.AttributionPoint
    filters = {"version": version, "feature": feature, "kind": kind, "window_seconds": window_seconds}
    return series(conn, a, model, filters, since, until, _order(a, "attributions"), limit, after)


def latest_attributions(conn: Session, *, complete_before: dt.datetime) -> list[db.AttributionPoint]:
    """Per (model, version, feature, kind, window length): the newest window, ended by `complete_before`,
    with a value."""
    a = db.AttributionPoint
    return _newest_per_series(
        conn,
        a,
        ("model", "version", "feature", "kind", "window_seconds"),
        a.window_end <= complete_before,
        a.mean_abs.is_not(None),
    )
