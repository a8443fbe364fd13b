"""`driftline models` and `driftline status` straight from a collector's database, with no collector
running: the reads the API answers, shaped as its JSON, from the read path the API's GET routes share
(`collector.reads`). Only read, never created or migrated."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from collector import db, reads, repository
from collector.schemas import AttributionPointOut, DriftPointOut, PerformancePointOut, QualityPointOut
from spec import ResolvedSpec

#: Per kind of series: the read function and the API schema its points are shaped as.
_SERIES: dict[str, tuple[Any, type[BaseModel]]] = {
    "drift": (reads.drift_points, DriftPointOut),
    "performance": (reads.performance_points, PerformancePointOut),
    "quality": (reads.quality_points, QualityPointOut),
    "attributions": (reads.attribution_points, AttributionPointOut),
}


class StoreReads:
    """What `driftline.models` reads from a collector (models, series, SLOs), from an open store instead."""

    def __init__(self, store: reads.Store, spec: ResolvedSpec | None, now: dt.datetime | None = None) -> None:
        self.store, self.spec, self.now = store, spec, now

    def models(self) -> list[dict[str, Any]]:
        """Every model stored or declared, as GET /v1/models lists them (an admin token's view)."""
        declared = [m.name for m in self.spec.models] if self.spec else []
        with self.store.session() as s:
            names = sorted(set(reads.model_names(s)) | set(declared))
            projects = repository.model_projects(s)
            return [
                {"name": m.name, "versions": m.versions, "records": m.records, "declared": m.name in declared,
                 "project": projects.get(m.name, db.DEFAULT_PROJECT)}
                for m in reads.model_summaries(s, names)
            ]  # fmt: skip

    def series(self, model: str, kind: str, *, limit: int = 10_000, **query: Any) -> list[dict[str, Any]]:
        """Up to `limit` points of one series kind, newest window first, as the API's JSON."""
        read, schema = _SERIES[kind]
        if "slice" in query:
            query["slice_"] = query.pop("slice")
        with self.store.session() as s:
            known = set(reads.model_names(s)) | ({m.name for m in self.spec.models} if self.spec else set())
            if model not in known:  # as the API's 404 says it
                raise reads.StoreError(
                    f"no model {model!r} in {self.store.source}; models: {', '.join(sorted(known)) or 'none'}"
                )
            return [
                schema.model_validate(p, from_attributes=True).model_dump(mode="json")
                for p in read(s, model=model, limit=limit, **query)
            ]

    def slos(self) -> list[dict[str, Any]]:
        """Every SLO of the spec with its budget and burn rates now, as GET /v1/slos lists them."""
        if not self.spec or not self.spec.slos:
            return []
        with self.store.session() as s:
            return [r.to_dict() for r in reads.slo_status(s, self.spec.slos, self.now or db.utcnow())]


@contextmanager
def open_reads(database_url: str, spec: ResolvedSpec | None) -> Iterator[StoreReads]:
    """The database at `database_url` opened for `driftline models`/`status`; `reads.StoreError` says why
    it cannot be (no database there, not a Driftline database)."""
    with reads.open_store(database_url) as store:
        yield StoreReads(store, spec)
