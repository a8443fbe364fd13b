"""`driftline replay --dask`: a partitioned Parquet backfill whose per-minute aggregates Dask workers compute.

Each Parquet part is one task. A worker reads its part, converts its rows into the same batches (same ids,
rows and batch ids) the single-process replay makes, and runs what ingest does to a batch before storing it
(validation, redaction, canonical spelling); it then bins each batch on the reference the driver stored
first and ships the batch's JSON with its aggregates (`collector.aggregation.Shipped`). The driver stores
every batch through the collector's own ingest path, in part order, with binning switched off for that
batch: ingest adds the shipped aggregates in the batch's transaction, where they were built on the
version's current reference and config for every record stored now, and otherwise bins the batch itself.
Records are stored as always (retention, reservoirs, label joins and privacy deletions read them).

With `--reference-until`, a first pass collects each part's reference rows (the first rows before that
time, in row order), so the reference is the one the single-process replay fits; with no reference the
aggregates hold data-quality counts only, as ingest's do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic_core import to_json

from collector import RecordBatch, canonical, repository
from collector.aggregation import Rules, Shipped, ingested, parse_reference, summarise
from collector.redaction import Redaction, configured_salt
from driftline.progress import Progress
from driftline.replay.base import (
    MAX_REFERENCE_ROWS,
    Columns,
    Problem,
    ReplayError,
    ReplayFileError,
    ReplayResult,
    Sink,
)
from driftline.replay.columns import Converter, parse_time
from driftline.replay.files import PARQUET, check_file, count_rows, file_digest, parquet_parts, read_batches
from driftline.replay.run import (
    ReferenceSample,
    _batch_id,
    _by_version,
    _replay_labels,
    reference_file_sample,
    send_reference,
)
from driftline.replay.sinks import EmbeddedSink
from sdk.redact import Redactor
from spec import Model, ResolvedSpec


@dataclass(frozen=True)
class Job:
    """What every task needs, pure data pickled to the workers: the spec, the column mapping, the data set's
    digest (root of the batch ids) and, for the second pass, the stored reference and the binning rules."""

    spec: ResolvedSpec
    model: str
    columns: Columns
    source: str
    digest: str
    version: str
    batch_rows: int
    replay_salt: str
    collector_salt: str | None
    hash_record_ids: bool
    reference_until: dt.datetime | None
    reference_id: int = 0
    config: str = ""
    reference: tuple[dict[str, Any], dict[str, Any] | None] = ({}, None)
    rules: Rules | None = None
    bucket: int = 60


@dataclass(frozen=True)
class Part:
    """One Parquet file of the data set and the number of its first row in the whole set (1-based)."""

    path: str
    first_row: int


@dataclass
class Shipment:
    """A part's batches as a worker ships them: per batch (records JSON, aggregates, records) per version and
    its labels; its rows, skipped rows and problems."""

    batches: list[tuple[list[tuple[bytes, Shipped, int]], dict[str, Any] | None]] = field(default_factory=list)
    rows: int = 0
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)


def _converter(job: Job, part: Part) -> Converter:
    model = job.spec.model(job.model)
    assert model is not None  # the driver checked it
    redactor = Redactor(model.pii_features, mode="hash", salt=job.replay_salt)
    return Converter(model, job.columns, job.source, redactor, job.reference_until)


def reference_rows(job: Job, part: Part) -> ReferenceSample:
    """First pass, on a worker: the part's reference rows (before --reference-until), at most
    MAX_REFERENCE_ROWS, in row order."""
    conv = _converter(job, part)
    first_row = part.first_row
    for batch in read_batches(Path(part.path), job.batch_rows):
        if not _may_hold_before(batch, job.columns.time, job.reference_until):
            first_row += batch.num_rows
            continue
        conv.convert(batch, first_row, [])
        first_row += batch.num_rows
        if len(conv.reference_scores) >= MAX_REFERENCE_ROWS:
            break
    return ReferenceSample(conv.reference, conv.reference_scores, conv.reference_labels)


def _may_hold_before(batch: Any, column: str, until: dt.datetime | None) -> bool:
    """False only for a batch whose timestamp-typed time column starts at or after `until` (no reference
    row in it: converting it is skipped); text and numeric times are converted to be read."""
    idx = batch.schema.get_field_index(column)
    if until is None or idx < 0 or not pa.types.is_timestamp(batch.schema.field(idx).type):
        return True
    try:
        first = parse_time(pc.min(batch.column(idx)).as_py())
    except (ValueError, OverflowError, pa.ArrowException):  # a time out of Python's range: convert to report it
        return True
    return first is None or first < until


def summarise_part(job: Job, part: Part) -> Shipment:
    """Second pass, on a worker: the part's batches as JSON, each with the aggregates ingest would add."""
    conv = _converter(job, part)
    model = conv.model
    redaction = Redaction(job.collector_salt, job.spec, hash_record_ids=job.hash_record_ids)
    reference = parse_reference(*job.reference)
    assert job.rules is not None
    out, first_row = Shipment(), part.first_row
    for batch in read_batches(Path(part.path), job.batch_rows):
        if first_row == 1:
            conv.check_columns(batch.schema.names, out.problems)
        records, label_rows, skipped = conv.convert(batch, first_row, out.problems)
        n = batch.num_rows
        sent: list[tuple[bytes, Shipped, int]] = []
        for ver, recs in _by_version(records, job.version).items():
            body = {
                "batch_id": _batch_id(job.digest, model.name, f"records:{ver}", first_row, n),
                "model": model.name,
                "version": ver,
                "records": recs,
            }
            data = to_json(body, inf_nan_mode="null")
            wire = RecordBatch.model_validate_json(data)  # what ingest does before it stores a batch
            redaction.records(wire)
            canonical.canonical_records(model, wire.records)
            rows = ingested(wire.records)
            keyed = [(repository.bucket_start(r.ts, job.bucket), r) for r in rows]
            shipped = summarise(keyed, reference, job.rules)
            shipped = Shipped(job.reference_id, job.config, len(rows), shipped.aggregates, shipped.totals)
            sent.append((data, shipped, len(recs)))
        labels = None
        if label_rows:
            labels = {
                "batch_id": _batch_id(job.digest, model.name, "labels", first_row, n),
                "model": model.name,
                "labels": label_rows,
            }
        out.batches.append((sent, labels))
        out.rows += n
        out.skipped += skipped
        first_row += n
    return out


def parts_of(path: Path, batch_rows: int) -> list[Part]:
    """The data set's parts with their first row numbers (from the Parquet footers)."""
    files = parquet_parts(path) if path.is_dir() else [path]
    if path.is_file() and path.suffix.lower() not in PARQUET:
        raise ReplayError(f"{path}: --dask reads Parquet (a file or a directory of parts): convert it first")
    out, first = [], 1
    for f in files:
        out.append(Part(str(f), first))
        first += count_rows(f) or 0
    return out


@contextmanager
def connect(address: str) -> Iterator[Any]:
    """A dask.distributed client: `local:N` starts a LocalCluster of N single-threaded worker processes for the
    run, anything else is a scheduler address (tcp://host:8786)."""
    # the dask extra: imported only when a replay asks for a cluster
    from distributed import Client, LocalCluster

    if address.startswith("local:"):
        try:
            n = int(address.removeprefix("local:"))
        except ValueError:
            n = 0
        if n < 1:
            raise ReplayError(f"--dask {address!r}: local:N needs a number of workers, at least 1 (local:2)")
        with (
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(address, timeout=30)
    except (OSError, TimeoutError) as exc:
        raise ReplayError(f"--dask {address!r}: no Dask scheduler answers there ({exc})") from None
    with client:
        yield client


def replay_on_dask(
    address: str,
    path: Path,
    model: Model,
    sink: Sink,
    *,
    strict: bool = False,
    **options: Any,
) -> ReplayResult:
    """`driftline replay --dask ADDRESS`: `replay_dask` on that cluster, refusing what it cannot do."""
    if not isinstance(sink, EmbeddedSink):
        raise ReplayFileError(
            "--dask stores into a database (--database-url), where the collector merges the workers' "
            "aggregates: leave out --collector"
        )
    if strict:
        raise ReplayFileError(
            "--strict stops at the first bad row in row order, and --dask bins every part at once: "
            "replay without --dask to use --strict"
        )
    with connect(address) as client:
        return replay_dask(path, model, sink, client, **options)


def replay_dask(
    path: Path,
    model: Model,
    sink: EmbeddedSink,
    client: Any,
    *,
    columns: Columns = Columns(),
    version: str = "replay",
    labels_file: Path | None = None,
    reference_file: Path | None = None,
    reference_until: dt.datetime | None = None,
    batch_rows: int = 5000,
    salt: str | None = None,
    progress: bool = True,
) -> ReplayResult:
    """Replay a Parquet data set with its batches binned on Dask workers; stores and evaluates what the
    single-process `replay` stores and evaluates."""
    for given in (path, labels_file, reference_file):
        if given is not None:
            check_file(given)
    spec = sink.ctx.spec
    if spec is None or spec.model(model.name) is None:
        raise ReplayError(f"model {model.name!r} is not in the collector's spec")
    result = ReplayResult()
    parts = parts_of(path, batch_rows)
    settings = sink.ctx.settings
    job = Job(
        spec, model.name, columns, path.name, file_digest(path), version, batch_rows,
        salt or f"driftline:{model.name}", configured_salt(settings),
        bool(getattr(settings, "hash_record_ids", False)), reference_until,
    )
    if reference_file is not None:
        sample = reference_file_sample(reference_file, model, columns)
    elif reference_until is not None:
        sample = _first_reference_rows(client.gather(client.map(reference_rows, [job] * len(parts), parts)))
    else:
        sample = ReferenceSample({})
    if sample.columns and any(sample.columns.values()):
        result.reference_rows = max(len(v) for v in sample.columns.values())
        send_reference(sink, model, path.name, sample, result)
    else:
        result.not_computed.append(
            "drift: no reference (--reference-until TIME takes the rows before it, --reference FILE a file)"
        )
    job = _with_reference(job, sink)
    _store_parts(client, job, parts, sink, result, progress)
    if labels_file is not None:
        result.labels_sent += _replay_labels(labels_file, model.name, columns, sink, result.problems, False)
    if not result.labels_sent:
        result.not_computed.append("realized performance: no labels (--label-column, or --labels FILE)")
    result.windows = sink.evaluate()
    return result


def _first_reference_rows(samples: list[ReferenceSample]) -> ReferenceSample:
    """The parts' reference rows joined in part order and cut at MAX_REFERENCE_ROWS: the single-process
    replay's reference (the first rows before the time, in row order)."""
    out = ReferenceSample({}, [], [])
    for s in samples:
        room = MAX_REFERENCE_ROWS - len(out.scores)
        for k, v in s.columns.items():
            out.columns.setdefault(k, []).extend(v[:room])
        out.scores.extend(s.scores[:room])
        out.labels.extend(s.labels[:room])
    return out


def _with_reference(job: Job, sink: EmbeddedSink) -> Job:
    """The job with the reference and config new versions' aggregates start with, and the binning rules."""
    aggregator = sink.ctx.evaluator.aggregator
    with sink.ctx.sessions() as s:
        reference_id, config = aggregator.target(s, job.model, job.version)
        row = repository.reference_by_id(s, reference_id) if reference_id else None
        stored = (dict(row.features), row.calibration) if row is not None else ({}, None)
    return replace(
        job,
        reference_id=reference_id,
        config=config,
        reference=stored,
        rules=aggregator.rules(job.model),
        bucket=aggregator.bucket_seconds(job.model),
    )


def _store_parts(
    client: Any, job: Job, parts: list[Part], sink: EmbeddedSink, result: ReplayResult, progress: bool
) -> None:
    """Store every part's batches in part order as workers finish them (later parts are binned meanwhile)."""
    total = sum(count_rows(Path(p.path)) or 0 for p in parts)
    bar = Progress(total) if progress else None
    futures = client.map(summarise_part, [job] * len(parts), parts)
    for future in futures:
        shipment: Shipment = future.result()
        future.release()
        for sent, labels in shipment.batches:
            for data, shipped, n in sent:
                stored, _ = sink.records_json(data, shipped)
                result.records_sent += n
                result.records_stored += stored
            if labels is not None:
                sink.labels(labels)
                result.labels_sent += len(labels["labels"])
        result.rows += shipment.rows
        result.skipped += shipment.skipped
        result.problems.extend(shipment.problems)
        if bar:
            bar.update(result.rows, result.rows, f"{len(result.problems)} problem(s)")
    if bar:
        bar.done()
