"""The collector's read path: what the API's GET routes and `driftline report` both read, one way.

Each function reads through the repository's queries (no SQL of its own) and returns stored rows or
plain values; the routers turn them into their response schemas, the report loader into the report's
data. `open_store` opens an existing database for reading only: a report must never create one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from analyzers.explain import top_features
from analyzers.performance import LabelledRow
from analyzers.slices import SliceFinding, worst_slices
from collector import db, dialects, repository
from collector.schemas import FeatureAttribution, RecordOut
from collector.slos import SLOReport, slo_reports
from contract import DriftlineError
from slo.definition import SLO
from spec import DEFAULT_DRIFT, Drift, Model, ResolvedSpec

EVERY = 10_000_000  # a limit that reads a model's whole history


class StoreError(DriftlineError, ValueError):
    """The database cannot be read: not a database URL, no database there, or not a Driftline database."""


def redacted_url(url: str) -> str:
    """A database URL fit to show: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable database URL)"


@dataclass(frozen=True)
class Store:
    """An existing Driftline database opened for reading, and which tables its schema version has."""

    engine: Engine
    tables: frozenset[str]
    source: str  # the URL, password hidden

    def session(self) -> Session:
        """A new session on the store; the caller closes it (a `with` block)."""
        return sessionmaker(self.engine, expire_on_commit=False)()

    @property
    def has_performance(self) -> bool:
        """Whether realized performance is stored (migration 2 and later)."""
        return db.PerformancePoint.__tablename__ in self.tables

    @property
    def has_deploys(self) -> bool:
        """Whether deploys are stored (migration 3 and later)."""
        return db.Deploy.__tablename__ in self.tables


def _missing_file(database_url: str) -> str | None:
    """Where a file-backed database should be but is not (SQLite would create it on connect), as its dialect says."""
    try:
        url = make_url(database_url)
        dialect = dialects.for_url(url)
    except Exception as exc:
        raise StoreError(f"{database_url!r} is not a database URL Driftline can read: {exc}") from exc
    return dialect.missing_database(url)


@contextmanager
def open_store(database_url: str) -> Iterator[Store]:
    """An existing Driftline database, read only and disposed of on exit; never creates one."""
    missing = _missing_file(database_url)
    if missing is not None:
        raise StoreError(f"no database at {missing!r}: pass the collector's --database-url")
    engine = db.make_engine(database_url)
    try:
        tables = frozenset(inspect(engine).get_table_names())
        if db.DriftPoint.__tablename__ not in tables:
            raise StoreError(
                f"{redacted_url(database_url)} is not a Driftline database (it has no drift table)"
            )
        yield Store(engine, tables, redacted_url(database_url))
    finally:
        engine.dispose()


def drift_settings(spec: ResolvedSpec | None, model: str) -> Drift:
    """The model's drift settings: the spec's, or the collector's defaults for a model not in it."""
    m = spec.model(model) if spec else None
    return m.drift if m else DEFAULT_DRIFT


# ------------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelSummary:
    """A model as GET /v1/models lists it: its versions seen and its records stored."""

    name: str
    versions: list[str]
    records: int


def model_summaries(s: Session, names: Iterable[str]) -> list[ModelSummary]:
    """Versions and record counts of the models `names`, in that order."""
    versions = repository.model_versions(s)
    return [
        ModelSummary(name, versions.get(name, []), repository.count_records(s, model=name)) for name in names
    ]


def model_names(s: Session) -> list[str]:
    """Every registered model's name, sorted."""
    return repository.model_names(s)


# --------------------------------------------------------------------------------------- time series


def drift_points(
    s: Session,
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
    """Drift per feature, metric and window, newest window first; windows starting in [since, until)."""
    return repository.drift_series(
        s, model=model, version=version, feature=feature, metric=metric, window_seconds=window_seconds,
        since=since, until=until, limit=limit, after=after,
    )  # fmt: skip


def performance_points(
    s: Session,
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
    """Realized performance per slice, metric and window, newest window first."""
    return repository.performance_series(
        s, model=model, version=version, slice_=slice_, metric=metric, window_seconds=window_seconds,
        since=since, until=until, limit=limit, after=after,
    )  # fmt: skip


def attribution_points(
    s: Session,
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
    """Mean |SHAP| per feature and window, newest window first."""
    return repository.attribution_series(
        s, model=model, version=version, feature=feature, kind=kind, window_seconds=window_seconds,
        since=since, until=until, limit=limit, after=after,
    )  # fmt: skip


def quality_points(
    s: Session,
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
    """Data-quality checks per feature and window, newest window first."""
    return repository.quality_series(
        s, model=model, version=version, feature=feature, check=check, window_seconds=window_seconds,
        since=since, until=until, limit=limit, after=after,
    )  # fmt: skip


def deploys(s: Session, *, model: str) -> list[db.Deploy]:
    """When each version of the model was first seen, oldest first."""
    return repository.deploys(s, model=model)


def recent_records(
    s: Session, *, model: str, version: str | None = None, limit: int = 50, top: int = 3
) -> list[RecordOut]:
    """The newest sampled records with their label and their `top` contributing features (SHAP)."""
    out = []
    for rec, label in repository.recent_records(s, model=model, version=version, limit=limit):
        a = rec.attributions or {}
        values = {k: float(v) for k, v in (a.get("values") or {}).items() if v is not None}
        ranked = top_features(list(values.values()), list(values), k=top) if values else []
        out.append(
            RecordOut(
                id=rec.record_id,
                ts=rec.ts,
                version=rec.version,
                prediction=rec.prediction,
                score=rec.score,
                label=label,
                slices=rec.slices,
                top_features=[FeatureAttribution(feature=f, value=v) for f, v in ranked],
                base=a.get("base"),
            )
        )
    return out


# ------------------------------------------------------------------------------------------ windows


def window_features(
    s: Session, *, model: str, version: str, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Feature dicts of one model version's records with event time in [start, end)."""
    return repository.window_records(s, model=model, version=version, start=start, end=end)


def reference_features(s: Session, reference_id: int) -> Mapping[str, Any] | None:
    """The stored per-feature references of one reference, by id (None when it is gone)."""
    row = s.get(db.Reference, reference_id)
    return None if row is None else (row.features or {})


def worst_slices_in(
    s: Session, model: Model, window_start: dt.datetime | None, min_support: int, now: dt.datetime
) -> tuple[dt.datetime | None, Sequence[SliceFinding]]:
    """Slices significantly worse than the whole in one window of the model's first (alerting) length
    (default: the newest labelled one)."""
    window = window_start or repository.newest_labelled_window(
        s, model=model.name, window_seconds=model.drift.window_seconds, before=now
    )
    if window is None:
        return None, ()
    end = window + dt.timedelta(seconds=model.drift.window_seconds)
    joined = repository.window_labelled_all_versions(s, model=model.name, start=window, end=end)
    rows = [LabelledRow(p, y, sl or {}) for p, y, sl in joined]
    return window, worst_slices(
        rows, model.slices, min_support=min_support, positive_class=model.positive_class
    )


# --------------------------------------------------------------------------------------------- SLOs


def slo_status(s: Session, slos: Sequence[SLO], now: dt.datetime) -> list[SLOReport]:
    """Every SLO's error budget, burn rates and firing alerts at `now`, from the stored events."""
    return slo_reports(s, slos, now)
