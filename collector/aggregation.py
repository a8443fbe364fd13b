"""Keeps each model version's per-minute aggregates: added to as records arrive, rebuilt on a new reference.

Ingest bins every new record on its version's frozen reference bins and adds the counts to its minute,
in the batch's own transaction (`add_records`). The aggregates hold only while the reference and the
declared features they were built with still apply (`AggregateState`); when either changes (a new
reference, a spec that declares other features), ingest stops adding and the evaluation loop rebuilds
the version's aggregates from its stored records (`rebuild`), under a lock that waits for batches being
binned on the old reference, so no record is counted twice or lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from analyzers.aggregates import aggregate
from analyzers.binning import FeatureReference
from collector import dialects, repository
from spec import DEFAULT_DRIFT, ResolvedSpec

#: Parsed references kept in memory (a reference's JSON holds up to 10,000 values per feature).
MAX_CACHED_REFERENCES = 64
#: Records re-binned per step of a rebuild.
REBUILD_CHUNK = 20_000
#: No reference: the version's aggregates hold data-quality counts only.
NO_REFERENCE = 0


def lock_key(model: str, version: str) -> int:
    """A model version's advisory-lock key: 64 bits of a hash of its name."""
    digest = hashlib.blake2b(f"{model}\0{version}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Aggregator:
    """Bins records into per-minute aggregates for one collector; shared by ingest and the evaluation loop."""

    def __init__(self, spec: ResolvedSpec | None) -> None:
        self.spec = spec
        self._references: OrderedDict[int, dict[str, FeatureReference]] = OrderedDict()
        self._lock = threading.Lock()

    def declared(self, model: str) -> tuple[dict[str, str] | None, frozenset[str]]:
        """The declared non-PII feature types that quality checks ({} names none) and the PII features to
        leave out; (None, {}) for a model the spec does not declare (no quality checks)."""
        m = self.spec.model(model) if self.spec else None
        if m is None:
            return None, frozenset()
        return {f.name: f.type for f in m.features if not f.pii}, frozenset(m.pii_features)

    def bucket_seconds(self, model: str) -> int:
        """How long one aggregate bucket lasts: a minute, or less where the model's drift window is shorter
        or not a whole number of minutes (the largest length that divides both), so windows are whole buckets."""
        m = self.spec.model(model) if self.spec else None
        return math.gcd((m.drift if m else DEFAULT_DRIFT).window_seconds, 60)

    def config(self, model: str) -> str:
        """A digest of what, besides the reference, the aggregates depend on: the declared features and the
        bucket length."""
        declared, pii = self.declared(model)
        text = json.dumps([declared, sorted(pii), self.bucket_seconds(model)], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def references(self, s: Session, reference_id: int) -> dict[str, FeatureReference]:
        """A reference's features, parsed once per collector (references never change once stored)."""
        if reference_id == NO_REFERENCE:
            return {}
        with self._lock:
            cached = self._references.get(reference_id)
            if cached is not None:
                self._references.move_to_end(reference_id)
                return cached
        row = repository.reference_by_id(s, reference_id)
        parsed = {} if row is None else {k: FeatureReference.from_dict(v) for k, v in row.features.items()}
        with self._lock:
            self._references[reference_id] = parsed
            while len(self._references) > MAX_CACHED_REFERENCES:
                self._references.popitem(last=False)
        return parsed

    def target(self, s: Session, model: str, version: str) -> tuple[int, str]:
        """(reference id, config) the version's aggregates should be built with now."""
        found = repository.latest_reference_id(s, model=model, version=version)
        return (NO_REFERENCE if found is None else found), self.config(model)

    def stale(self, s: Session, model: str, version: str) -> bool:
        """Whether the version's aggregates were built with another reference or other declared features."""
        return repository.aggregate_state(s, model=model, version=version) != self.target(s, model, version)

    def add_records(
        self,
        s: Session,
        *,
        model: str,
        version: str,
        rows: Sequence[tuple[dt.datetime, Mapping[str, Any], str]],
    ) -> None:
        """Within an ingest transaction, after the records are stored: note their minutes for evaluation and,
        while the aggregates are current, add the records' counts to them. Rows are (event time, features
        as stored, record id)."""
        if not rows:
            return
        dialects.of(s).lock_version(s.connection(), lock_key(model, version), shared=True)
        bucket = self.bucket_seconds(model)
        minutes = [repository.bucket_start(ts, bucket) for ts, _, _ in rows]
        repository.mark_pending(s, model=model, version=version, minutes=minutes, kind="records")
        labelled = repository.labelled_ids(s, model=model, ids=[i for _, _, i in rows])
        if labelled:  # records that arrive after their labels change their windows' performance
            late = [m for m, (_, _, i) in zip(minutes, rows, strict=True) if i in labelled]
            repository.mark_pending(s, model=model, version=version, minutes=late, kind="labels")
        target = self.target(s, model, version)
        if repository.aggregate_state(s, model=model, version=version) != target:
            return  # the loop rebuilds this version from the stored records, these included
        self._add(s, model, version, target[0], list(zip(minutes, (f for _, f, _ in rows), strict=True)))

    def _add(
        self,
        s: Session,
        model: str,
        version: str,
        reference_id: int,
        rows: list[tuple[int, Mapping[str, Any]]],
    ) -> None:
        declared, pii = self.declared(model)
        if pii:
            rows = [(m, {k: v for k, v in f.items() if k not in pii}) for m, f in rows]
        aggregates = aggregate(rows, self.references(s, reference_id), declared)
        repository.add_aggregates(
            s, model=model, version=version, reference_id=reference_id, aggregates=aggregates
        )

    def rebuild(self, s: Session, model: str, version: str) -> None:
        """Re-bin every stored record of a model version on the reference and declared features that apply
        now, replacing its aggregates (check `stale` first, in another transaction: this always rebuilds).

        Runs in the caller's transaction, under the version's exclusive lock: batches binned on the old
        reference commit first, and their records are read here.
        """
        dialects.of(s).lock_version(s.connection(), lock_key(model, version), shared=False)
        repository.clear_aggregates(s, model=model, version=version)  # SQLite: the write lock, before reading
        target = self.target(s, model, version)
        bucket = self.bucket_seconds(model)
        chunk: list[tuple[int, Mapping[str, Any]]] = []
        for _, ts, features in repository.version_records(
            s, model=model, version=version, chunk=REBUILD_CHUNK
        ):
            chunk.append((repository.bucket_start(ts, bucket), features if isinstance(features, Mapping) else {}))
            if len(chunk) >= REBUILD_CHUNK:
                self._add(s, model, version, target[0], chunk)
                chunk = []
        self._add(s, model, version, target[0], chunk)
        repository.set_aggregate_state(
            s, model=model, version=version, reference_id=target[0], config=target[1]
        )
