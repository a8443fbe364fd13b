"""Where replayed data goes: the collector's service in this process, or a running collector over HTTP."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json

from collector import (
    DriftPointOut,
    InputError,
    LabelBatch,
    PerformancePointOut,
    RecordBatch,
    ReferenceIn,
    Settings,
    build_context,
    reads,
    repository,
    service,
)
from collector.aggregation import Shipped, shipping
from driftline.replay.base import ReplayError
from sdk.client import CollectorClient


class EmbeddedSink:
    """Stores through the collector's service functions against a database URL, in this process."""

    def __init__(self, database_url: str, spec: Any) -> None:
        self.ctx = build_context(Settings(database_url=database_url), spec)
        self._batches = 0

    def records(self, body: dict[str, Any]) -> tuple[int, bool]:
        """Store one records batch: (records stored, whether the batch id was stored before)."""
        # the same bytes an HTTP client would send, validated the way the collector validates them
        return self.records_json(to_json(body, inf_nan_mode="null"))

    def records_json(self, data: bytes, shipped: Shipped | None = None) -> tuple[int, bool]:
        """Store one records batch given as the JSON an HTTP client sends; `shipped`: its aggregates as a
        Dask worker computed them (`driftline replay --dask`), added instead of binning the batch here."""
        try:
            with shipping(shipped):
                out = service.store_records(self.ctx, RecordBatch.model_validate_json(data))
        except InputError as exc:  # e.g. 409: this batch id holds other content already
            raise ReplayError(f"the collector refused a records batch with {exc.status}: {exc.msg}") from None
        self._batches += 1
        if self._batches >= 4 and self._batches & (self._batches - 1) == 0:
            # a bulk load outruns autovacuum: refresh statistics each time the table doubles (4, 8, 16, ...
            # batches) so the label lookups use the record key, not a scan of the model's (model, ts) range
            with self.ctx.sessions.begin() as s:
                repository.refresh_statistics(s)
        return out.accepted, out.duplicate

    def labels(self, body: dict[str, Any]) -> int:
        """Store one labels batch: how many labels were stored."""
        try:
            return service.store_labels(self.ctx, LabelBatch.model_validate_json(to_json(body))).accepted
        except InputError as exc:
            raise ReplayError(f"the collector refused a labels batch with {exc.status}: {exc.msg}") from None

    def reference(self, body: dict[str, Any]) -> dict[str, Any]:
        """Fit and store the reference the replay collected; the collector's description of it."""
        try:
            return service.store_reference(self.ctx, ReferenceIn.model_validate(body)).model_dump()
        except InputError as exc:
            raise ReplayError(f"the collector refused the reference with {exc.status}: {exc.msg}") from None

    def evaluate(self) -> int:
        """Evaluate every window that received data: how many were evaluated."""
        return len(self.ctx.evaluator.tick())

    def series(self, model: str, kind: str) -> list[dict[str, Any]]:
        """The model's drift or whole-traffic performance points, read as the API reads them."""
        with self.ctx.sessions() as s:
            if kind == "drift":
                points = reads.drift_points(s, model=model, limit=100_000)
                return [DriftPointOut.model_validate(p, from_attributes=True).model_dump() for p in points]
            perf = reads.performance_points(s, model=model, slice_="all", limit=100_000)
            return [PerformancePointOut.model_validate(p, from_attributes=True).model_dump() for p in perf]


class HTTPSink:
    """Sends to a running collector exactly as the SDK does (gzip'd JSON, bearer token), through its client."""

    def __init__(self, url: str, token: str, admin_token: str | None = None) -> None:
        # evaluating a long backfill may take minutes: the admin calls wait longer than ingest
        self.client = CollectorClient.connect(
            url, token, admin_token, timeout=120, admin_timeout=600, error=ReplayError
        )

    def records(self, body: dict[str, Any]) -> tuple[int, bool]:
        """Store one records batch: (records stored, whether the batch id was stored before)."""
        return self.client.records(body)

    def labels(self, body: dict[str, Any]) -> int:
        """Store one labels batch: how many labels were stored."""
        return self.client.labels(body)

    def reference(self, body: dict[str, Any]) -> dict[str, Any]:
        """Fit and store the reference the replay collected; the collector's description of it."""
        return self.client.reference(body)

    def evaluate(self) -> int:
        """Evaluate every window that received data (admin token): how many were evaluated."""
        return self.client.evaluate()

    def series(self, model: str, kind: str) -> list[dict[str, Any]]:
        """The model's drift or whole-traffic performance points; none when the collector refuses the read."""
        query: dict[str, Any] = {"slice": "all"} if kind == "performance" else {}
        try:
            return self.client.series(model, kind, **query)
        except ReplayError:  # a read token the summary may not use: the replay itself succeeded
            return []
