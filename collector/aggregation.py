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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from analyzers.aggregates import MinuteAggregates, aggregate, estimate_moments
from analyzers.binning import FeatureReference
from analyzers.estimation import Calibrator
from analyzers.performance_summary import slice_totals
from collector import dialects, repository
from collector.encoding import as_stored, as_stored_value
from spec import DEFAULT_DRIFT, ResolvedSpec

#: Parsed references kept in memory, bounded by the values they hold (a feature keeps up to 10,000 sample
#: values): 16M values, ~128 MB, holds every reference of 100 models x 25 features. A bound by count (64)
#: made a tick over more models than that miss on every model, each miss re-reading and parsing a reference.
MAX_CACHED_VALUES = 16_000_000
#: Records re-binned per step of a rebuild.
REBUILD_CHUNK = 20_000
#: No reference: the version's aggregates hold data-quality counts only.
NO_REFERENCE = 0
HOUR = 3600


def lock_key(model: str, version: str) -> int:
    """A model version's advisory-lock key: 64 bits of a hash of its name."""
    digest = hashlib.blake2b(f"{model}\0{version}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def rolled_up(seconds: int) -> bool:
    """Whether windows of this length are summed from hour roll-ups: whole hours, longer than one (an
    aligned window of whole hours starts and ends on an hour)."""
    return seconds > HOUR and seconds % HOUR == 0


class Ingested(NamedTuple):
    """One newly stored record as the aggregates read it (features as stored: see `encoding.as_stored`)."""

    record_id: str
    ts: dt.datetime
    features: Mapping[str, Any]
    score: float | None
    prediction: Any
    slices: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class _Reference:
    features: dict[str, FeatureReference]
    calibrator: Calibrator | None

    @property
    def values(self) -> int:
        """What it costs the cache: its features' sample values and bins (at least 1)."""
        return 1 + sum(f.sample.size + len(f.counts) for f in self.features.values())


@dataclass(frozen=True)
class Shipped:
    """One records batch's aggregates computed elsewhere (a Dask worker of `driftline replay --dask`) on the
    reference and config named here, for all of the batch's `rows`: ingest adds these instead of binning
    the batch itself, and only while they are what it would have computed (see `Aggregator.add_records`)."""

    reference_id: int
    config: str
    rows: int
    aggregates: MinuteAggregates
    totals: Mapping[tuple[int, str], int]


def parse_reference(features: Mapping[str, Any], calibration: Mapping[str, Any] | None) -> _Reference:
    """A stored reference's features and CBPE calibration (their stored JSON) parsed for binning."""
    parsed = {k: FeatureReference.from_dict(v) for k, v in features.items()}
    return _Reference(parsed, Calibrator.from_dict(dict(calibration)) if calibration else None)


def ingested(records: Sequence[Any]) -> list[Ingested]:
    """Validated, redacted, canonical wire records as ingest aggregates them (as they read back once stored)."""
    return [
        Ingested(
            r.id,
            r.ts,
            as_stored(r.features),
            r.score,
            as_stored_value(r.prediction),
            as_stored(r.slices) if r.slices else None,
        )
        for r in records
    ]


#: The aggregates the caller ships with the batch it is storing in this context (`shipping`); None: ingest bins.
_SHIPPED: ContextVar[Shipped | None] = ContextVar("driftline_shipped", default=None)


@contextmanager
def shipping(shipped: Shipped | None) -> Iterator[None]:
    """Within this block, the records batch being stored comes with its aggregates (`driftline replay --dask`):
    the ingest path (`service.store_records`) stays the one every batch takes, only the binning is skipped."""
    token = _SHIPPED.set(shipped)
    try:
        yield
    finally:
        _SHIPPED.reset(token)


class Rules(NamedTuple):
    """What binning a model's records needs besides the reference: pure data, so a Dask worker gets a copy."""

    declared: dict[str, str] | None
    pii: frozenset[str]
    threshold: float
    positive: Any
    slices: tuple[str, ...]


def summarise(rows: Sequence[tuple[int, Ingested]], reference: _Reference, rules: Rules) -> Shipped:
    """The counts, moments, CBPE sums and slice totals of (bucket, record) rows: what ingest adds for them
    (reference_id and config left empty for the caller to name)."""
    features = [(m, r.features) for m, r in rows]
    if rules.pii:
        features = [(m, {k: v for k, v in f.items() if k not in rules.pii}) for m, f in features]
    aggregates = aggregate(features, reference.features, rules.declared)
    if reference.calibrator is not None:
        estimates = estimate_moments(
            [(m, r.score, r.prediction) for m, r in rows],
            reference.calibrator,
            threshold=rules.threshold,
            positive_class=rules.positive,
        )
        aggregates = MinuteAggregates(aggregates.counts, {**aggregates.moments, **estimates})
    by_minute: dict[int, list[Mapping[str, Any] | None]] = {}
    for m, r in rows:
        by_minute.setdefault(m, []).append(r.slices)
    totals = {
        (m, sl): n for m, part in by_minute.items() for sl, n in slice_totals(part, rules.slices).items()
    }
    return Shipped(NO_REFERENCE, "", len(rows), aggregates, totals)


class Aggregator:
    """Bins records into per-minute aggregates for one collector; shared by ingest and the evaluation loop."""

    def __init__(self, spec: ResolvedSpec | None) -> None:
        self.spec = spec
        self._references: OrderedDict[int, _Reference] = OrderedDict()
        self._cached_values = 0
        self._lock = threading.Lock()

    def declared(self, model: str) -> tuple[dict[str, str] | None, frozenset[str]]:
        """The declared non-PII feature types that quality checks ({} names none) and the PII features to
        leave out; (None, {}) for a model the spec does not declare (no quality checks)."""
        m = self.spec.model(model) if self.spec else None
        if m is None:
            return None, frozenset()
        return {f.name: f.type for f in m.features if not f.pii}, frozenset(m.pii_features)

    def slice_columns(self, model: str) -> tuple[str, ...]:
        """The slice columns whose records per value are counted (the spec's `slices`; none undeclared)."""
        m = self.spec.model(model) if self.spec else None
        return tuple(m.slices) if m else ()

    def windows(self, model: str) -> tuple[int, ...]:
        """The model's window lengths in seconds, the alerting one first."""
        m = self.spec.model(model) if self.spec else None
        return (m.drift if m else DEFAULT_DRIFT).windows

    def rolls_up(self, model: str) -> bool:
        """Whether the model has a window read from hour roll-ups, so its hours must be kept summed."""
        return any(rolled_up(w) for w in self.windows(model))

    def bucket_seconds(self, model: str) -> int:
        """How long one aggregate bucket lasts: a minute, or less where the model's drift window is shorter
        or not a whole number of minutes (the largest length that divides both), so windows are whole buckets."""
        return math.gcd(*self.windows(model), 60)

    def decision(self, model: str) -> tuple[float, Any]:
        """(decision threshold, positive class) by which CBPE judges a row predicted positive."""
        m = self.spec.model(model) if self.spec else None
        if m is None:
            return 0.5, 1
        return m.decision_threshold, (m.positive_class if m.positive_class is not None else 1)

    def config(self, model: str) -> str:
        """A digest of what, besides the reference, the aggregates depend on: the declared features, the
        bucket length and CBPE's decision rule; and the window lengths where there are several or one is read
        from hour roll-ups, so a window added to the spec is evaluated over the stored history too and its
        hours are rolled up (a rebuild evaluates every window again)."""
        declared, pii = self.declared(model)
        parts: list[object] = [
            declared,
            sorted(pii),
            self.bucket_seconds(model),
            self.decision(model),
            self.slice_columns(model),
        ]
        windows = self.windows(model)
        if len(windows) > 1 or self.rolls_up(model):  # absent for one short window: upgrades rebuild nothing
            parts.append(list(windows))
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def _reference(self, s: Session, reference_id: int) -> _Reference:
        """A reference parsed once per collector (references never change once stored)."""
        if reference_id == NO_REFERENCE:
            return _Reference({}, None)
        with self._lock:
            cached = self._references.get(reference_id)
            if cached is not None:
                self._references.move_to_end(reference_id)
                return cached
        row = repository.reference_by_id(s, reference_id)
        parsed = _Reference({}, None) if row is None else parse_reference(row.features, row.calibration)
        with self._lock:
            if reference_id not in self._references:
                self._references[reference_id] = parsed
                self._cached_values += parsed.values
            while self._cached_values > MAX_CACHED_VALUES and len(self._references) > 1:
                self._cached_values -= self._references.popitem(last=False)[1].values
        return parsed

    def references(self, s: Session, reference_id: int) -> dict[str, FeatureReference]:
        """A reference's features; none for `NO_REFERENCE`."""
        return self._reference(s, reference_id).features

    def rules(self, model: str) -> Rules:
        """The spec's binning rules of a model: declared features, pii, CBPE's decision, slice columns."""
        declared, pii = self.declared(model)
        threshold, positive = self.decision(model)
        return Rules(declared, pii, threshold, positive, self.slice_columns(model))

    def parsed(self, s: Session, reference_id: int) -> _Reference:
        """A reference's features and CBPE calibration, parsed (what `summarise` bins on)."""
        return self._reference(s, reference_id)

    def calibrator(self, s: Session, reference_id: int) -> Calibrator | None:
        """A reference's CBPE calibration, None where it has none."""
        return self._reference(s, reference_id).calibrator

    def target(self, s: Session, model: str, version: str) -> tuple[int, str]:
        """(reference id, config) the version's aggregates should be built with now."""
        found = repository.latest_reference_id(s, model=model, version=version)
        return (NO_REFERENCE if found is None else found), self.config(model)

    def stale(self, s: Session, model: str, version: str) -> bool:
        """Whether the version's aggregates were built with another reference or other declared features."""
        return repository.aggregate_state(s, model=model, version=version) != self.target(s, model, version)

    def add_records(
        self, s: Session, *, model: str, version: str, rows: Sequence[Ingested], shipped: Shipped | None = None
    ) -> None:
        """Within an ingest transaction, after the records are stored: note their minutes for evaluation and,
        while the aggregates are current, add the records' counts to them. `shipped`: the batch's counts as a
        Dask worker computed them, added instead where they were built on the current reference and config
        for every row stored now (otherwise ignored: the rows are binned here)."""
        if not rows:
            return
        dialects.of(s).lock_version(s.connection(), lock_key(model, version), shared=True)
        bucket = self.bucket_seconds(model)
        minutes = [repository.bucket_start(r.ts, bucket) for r in rows]
        repository.mark_pending(s, model=model, version=version, minutes=minutes, kind="records")
        labelled = repository.labelled_ids(s, model=model, ids=[r.record_id for r in rows])
        if labelled:  # records that arrive after their labels change their windows' performance
            late = [m for m, r in zip(minutes, rows, strict=True) if r.record_id in labelled]
            repository.mark_pending(s, model=model, version=version, minutes=late, kind="labels")
        target = self.target(s, model, version)
        state = repository.aggregate_state(s, model=model, version=version)
        if state is None and not repository.holds_more_records(s, model=model, version=version, than=len(rows)):
            # the version's first records: its aggregates start with them, so no rebuild re-reads a backfill
            # (two collectors' first batches both land here and set the same state; their counts add)
            repository.set_aggregate_state(s, model=model, version=version, reference_id=target[0], config=target[1])
            state = target
        if state != target:
            return  # the loop rebuilds this version from the stored records, these included
        shipped = shipped or _SHIPPED.get()
        if shipped is not None and (shipped.reference_id, shipped.config, shipped.rows) == (*target, len(rows)):
            self._store(s, model, version, shipped)
            return
        self._add(s, model, version, target[0], list(zip(minutes, rows, strict=True)))

    def _add(
        self, s: Session, model: str, version: str, reference_id: int, rows: list[tuple[int, Ingested]]
    ) -> None:
        summary = summarise(rows, self._reference(s, reference_id), self.rules(model))
        self._store(s, model, version, replace(summary, reference_id=reference_id))

    def _store(self, s: Session, model: str, version: str, summary: Shipped) -> None:
        repository.add_aggregates(
            s, model=model, version=version, reference_id=summary.reference_id, aggregates=summary.aggregates
        )
        repository.add_slice_totals(s, model=model, version=version, totals=summary.totals)

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
        chunk: list[tuple[int, Ingested]] = []
        for row in repository.version_records(s, model=model, version=version, chunk=REBUILD_CHUNK):
            record = Ingested(*row)
            if not isinstance(record.features, Mapping):
                record = record._replace(features={})
            if not isinstance(record.slices, Mapping):
                record = record._replace(slices=None)
            chunk.append((repository.bucket_start(record.ts, bucket), record))
            if len(chunk) >= REBUILD_CHUNK:
                self._add(s, model, version, target[0], chunk)
                chunk = []
        self._add(s, model, version, target[0], chunk)
        repository.set_aggregate_state(
            s, model=model, version=version, reference_id=target[0], config=target[1]
        )


def add_stored(
    aggregator: Aggregator, s: Session, *, model: str, version: str, reference_id: int, rows: Sequence[Any]
) -> None:
    """Count stored records (rows of `Ingested`'s columns) into their buckets again, as a rebuild does: used
    after a privacy deletion cleared the minutes those records share with the deleted ones."""
    bucket = aggregator.bucket_seconds(model)
    chunk: list[tuple[int, Ingested]] = []
    for row in rows:
        record = Ingested(*row)
        if not isinstance(record.features, Mapping):
            record = record._replace(features={})
        if not isinstance(record.slices, Mapping):
            record = record._replace(slices=None)
        chunk.append((repository.bucket_start(record.ts, bucket), record))
    aggregator._add(s, model, version, reference_id, chunk)
