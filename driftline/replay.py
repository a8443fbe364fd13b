"""`driftline replay`: backfill logged predictions (CSV, Parquet) by their own timestamps.

Rows go through the collector's own ingest path (validation, redaction, idempotent batch ids derived
from the file's content, so replaying a file twice stores each record once), then every historical
window is evaluated. Bad values are reported with their row number and column; `strict` stops at the
first one, otherwise the row is kept (a non-numeric numeric value is a data-quality event) or, when
it has no usable event time, skipped.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic_core import to_json

from collector import event_time
from driftline.progress import Progress
from sdk.redact import Redactor, has_pii, mask_text
from spec import Model

MAX_REFERENCE_ROWS = 100_000


class ReplayError(Exception):
    """The replay cannot go on (a missing time column, or the first problem under --strict)."""


class ReplayFileError(ReplayError):
    """A file that cannot be read as CSV or Parquet (missing, binary, malformed): one line says which and why."""


@dataclass(frozen=True)
class Problem:
    """One bad value: where it is (1-based data row, column) and what is wrong with it."""

    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{where}column {self.column!r}: {self.message}"


@dataclass(frozen=True)
class Columns:
    """How file columns map onto a record; features and slices come from the spec."""

    time: str = "ts"
    #: Unit of numeric event times (s, ms, us or ns since the unix epoch): stated, never guessed.
    time_unit: str = "s"
    id: str = "id"
    prediction: str = "prediction"
    score: str = "score"
    label: str | None = None
    version: str | None = None


@dataclass
class ReplayResult:
    rows: int = 0
    records_sent: int = 0
    records_stored: int = 0
    labels_sent: int = 0
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)
    reference_rows: int = 0
    windows: int = 0


class Sink(Protocol):
    """Where replayed data goes: the collector's service in-process, or a running collector over HTTP."""

    def records(self, body: dict[str, Any]) -> tuple[int, bool]: ...
    def labels(self, body: dict[str, Any]) -> int: ...
    def reference(self, body: dict[str, Any]) -> None: ...
    def evaluate(self) -> int: ...
    def series(self, model: str, kind: str) -> list[dict[str, Any]]: ...


# ------------------------------------------------------------------------------------------ reading


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes: the root of every batch id, so the same file maps to the same batches."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_file(path: Path) -> None:
    """Refuse, in one line, a path that is no readable regular file."""
    if not path.exists():
        raise ReplayFileError(f"{path}: no such file")
    if not path.is_file():
        raise ReplayFileError(f"{path}: not a regular file: name a CSV, TSV or Parquet file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ReplayFileError(f"{path}: cannot read the file: {exc.strerror or exc}") from None


def _unreadable(path: Path, exc: BaseException) -> ReplayFileError:
    """pyarrow's error as one short line, without the echoed row (it may hold binary data or personal data)."""
    kind = "Parquet" if path.suffix.lower() in (".parquet", ".pq") else "CSV"
    raw = str(exc)
    text = " ".join(raw.split()) or type(exc).__name__
    if raw.startswith("CSV parse error:"):
        parts = raw.split(": ", 2)
        text = parts[1] if len(parts) == 3 else text
        if len(parts) == 3 and ("\n" in parts[2].strip() or "\r" in parts[2].strip()):
            text += "; a quote is not closed, so the row runs over a line break: close the quote"
    if "UTF8" in text or "UTF-8" in text:
        text = "it is not UTF-8 text; save it as UTF-8"
    text = "".join(c if c.isprintable() else "?" for c in text)[:200]
    return ReplayFileError(f"{path}: not a readable {kind} file: {text}")


def count_rows(path: Path) -> int | None:
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _unreadable(path, exc) from None
    return None


def read_batches(path: Path, rows: int) -> Iterator[Any]:
    """pyarrow RecordBatches of the file; CSV columns stay strings so we can report bad values by row. A file
    pyarrow cannot read raises ReplayFileError, one line naming the file and the problem."""
    import pyarrow as pa

    try:
        yield from _batches(path, rows)
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, ReplayError):
            raise
        raise _unreadable(path, exc) from None


def _batches(path: Path, rows: int) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        yield from pq.ParquetFile(path).iter_batches(batch_size=rows)
        return
    if suffix not in (".csv", ".gz", ".tsv"):
        raise ReplayFileError(f"{path}: unknown file type {suffix!r}: replay reads .csv, .tsv and .parquet")
    if suffix != ".gz":
        _refuse_binary(path)
    import pyarrow.csv as pacsv

    parse = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
    with pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16), parse_options=parse) as head:
        names = head.schema.names
    # every column is read as text, never inferred: inference turns ZIP code "01234" into 1234 and, with
    # pyarrow's default null words, the category "NA" (North America) into a missing value. Only an empty
    # field is missing; numeric columns are parsed by `_numbers`, categories by analyzers.categories.
    with pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=16 << 20),
        parse_options=parse,
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            null_values=[""],
            auto_dict_encode=False,
        ),
    ) as reader:
        seen = 0
        for batch in reader:
            table = pa.Table.from_batches([batch])
            table = table.cast(pa.schema([pa.field(n, pa.string()) for n in table.column_names]))
            for name in table.column_names:
                # one record per line: pyarrow reads an unterminated quote as one value up to the end of the file
                broken = pc.match_substring_regex(table[name], "[\r\n]")
                if pc.any(broken).as_py():
                    row = seen + int(pc.index(broken, True).as_py()) + 1
                    raise ReplayFileError(
                        f"{path}: row {row}, column {name!r}: a value runs over a line break, so a quote is not "
                        "closed (replay reads one record per line); close the quote or remove the line break"
                    )
            seen += table.num_rows
            yield from table.to_batches(max_chunksize=rows)


def _refuse_binary(path: Path) -> None:
    """A NUL byte in the first 64 KiB means a binary file, whatever its name says."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
    nul = head.find(b"\x00")
    if nul >= 0:
        raise ReplayFileError(
            f"{path}: not a readable CSV file: it holds binary data (a NUL byte at offset {nul})"
        )


# ------------------------------------------------------------------------------------------ parsing


#: Units of numeric event times (`--time-unit`) and how many make a second. A number is read in the
#: stated unit, never guessed from its size (a year-9999 time in seconds is not milliseconds of 1978).
TIME_UNITS: dict[str, int] = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def parse_time(value: Any, unit: str = "s") -> dt.datetime | None:
    """Event time from a datetime or date (used as it is), a number of `unit` since the unix epoch, or
    ISO-8601 text (a number as text is a number); naive is UTC. None: no time, or none Python can hold."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                try:
                    return parse_time(dt.datetime.fromisoformat(text))
                except ValueError:
                    return None
    if isinstance(value, int | float) and math.isfinite(value):
        try:
            return dt.datetime.fromtimestamp(value / TIME_UNITS[unit], dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _is_number(value: Any) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)


def _time_problem(
    value: Any, ts: dt.datetime | None, unit: str, typed: bool, lo: dt.datetime, hi: dt.datetime
) -> str | None:
    """Why a row's event time is refused (the row is then skipped), or None when it is accepted."""
    reason = event_time.out_of_range(ts, lo, hi) if ts is not None else None
    if ts is not None and reason is None:
        return None
    shown = mask_text(str(value))[:40]
    if _is_number(value):  # a number: say which unit it was read in, the likely mistake
        how = "the column's timestamp unit" if typed else f"--time-unit {unit}; the column may hold another"
        return (
            f"{shown!r} read as {unit} since 1970-01-01 ({how}) is not between {lo:%Y-%m-%d} and "
            f"{hi:%Y-%m-%d}: row skipped"
        )
    if reason is None:
        return f"{shown!r} is not a timestamp: row skipped"
    return f"{reason}: row skipped"


#: Words that mean "no value" in a numeric column of a CSV file (R writes NA, databases NULL). In a
#: categorical column they stay text: "NA" is also North America.
NUMERIC_NULL_WORDS = frozenset({"NA", "N/A", "#N/A", "null", "NULL", "None"})


def _numbers(values: list[Any], column: str, first_row: int, problems: list[Problem]) -> list[Any]:
    """Numeric values; a value that is no number is kept as it was and reported (a quality event)."""
    out: list[Any] = []
    for i, v in enumerate(values):
        if v is None or (isinstance(v, int | float) and not isinstance(v, bool)):
            out.append(v)
            continue
        if isinstance(v, str) and (not v.strip() or v.strip() in NUMERIC_NULL_WORDS):
            out.append(None)
            continue
        if isinstance(v, str) and not _PLAIN_NUMBER.fullmatch(v.strip()) and has_pii(v):
            # "+14155550188" or a Luhn-valid card parse as numbers: kept as text, the collector masks it
            problems.append(Problem(first_row + i, column, f"{mask_text(v)[:40]!r} is personal data, not a number"))
            out.append(v)
            continue
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            problems.append(Problem(first_row + i, column, f"{mask_text(str(v))[:40]!r} is not a number"))
            out.append(v)
    return out


#: Text that is a number even when it looks like a bare SSN: a sign, at most 12 digits, a fraction.
_PLAIN_NUMBER = re.compile(r"-?\d{1,12}(?:\.\d*)?")


def _column(batch: Any, name: str) -> list[Any] | None:
    """A column as Python values; types JSON cannot carry (timestamps, decimals) become text."""
    import pyarrow as pa

    idx = batch.schema.get_field_index(name)
    if idx < 0:
        return None
    col = batch.column(idx)
    t = col.type
    if not (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_string(t)
        or pa.types.is_boolean(t)
        or pa.types.is_large_string(t)
        or pa.types.is_null(t)
    ):
        col = col.cast(pa.string())
    return col.to_pylist()


def _time_column(batch: Any, name: str, unit: str) -> tuple[list[Any], str, bool] | None:
    """(values, the unit their numbers are in, whether the column is timestamp-typed). A timestamp column
    is used as it is, as integers in its own unit (one out of Python's range is then a row's problem, not a
    crash); dates are dates; numbers and text are read with `unit` (--time-unit) and as ISO-8601."""
    import pyarrow as pa

    idx = batch.schema.get_field_index(name)
    if idx < 0:
        return None
    col = batch.column(idx)
    t = col.type
    if pa.types.is_timestamp(t):
        return col.cast(pa.int64()).to_pylist(), str(t.unit), True
    if pa.types.is_date(t):
        return col.to_pylist(), unit, True
    return _column(batch, name) or [], unit, False


def _scalar(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    return str(v)


@dataclass
class Converter:
    """Turns file batches into wire records and labels for one model."""

    model: Model
    columns: Columns
    source: str
    redactor: Redactor
    reference_until: dt.datetime | None = None
    reference: dict[str, list[Any]] = field(default_factory=dict)
    reported_missing: set[str] = field(default_factory=set)

    def check_columns(self, names: Sequence[str], problems: list[Problem]) -> None:
        """Report declared columns the file lacks, once; without a time column nothing can be placed."""
        if self.columns.time not in names:
            raise ReplayError(
                f"{self.source}: the time column {self.columns.time!r} is missing (columns: {', '.join(names)}): "
                "name the event-time column with --time-column"
            )
        wanted = [f.name for f in self.model.features] + [self.columns.prediction]
        if self.columns.label:
            wanted.append(self.columns.label)
        for name in wanted:
            if name not in names and name not in self.reported_missing:
                self.reported_missing.add(name)
                problems.append(
                    Problem(None, name, f"missing from {self.source}: that value is left out of every record")
                )

    def convert(
        self, batch: Any, first_row: int, problems: list[Problem]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        """(records, labels, rows skipped) for one batch whose first data row is `first_row` (1-based)."""
        n = batch.num_rows
        column = _time_column(batch, self.columns.time, self.columns.time_unit)
        times, unit, typed = column or ([None] * n, "s", False)
        lo, hi = event_time.bounds()
        ids = _column(batch, self.columns.id)
        preds = _column(batch, self.columns.prediction)
        scores = _column(batch, self.columns.score)
        labels = _column(batch, self.columns.label) if self.columns.label else None
        versions = _column(batch, self.columns.version) if self.columns.version else None
        feats: dict[str, list[Any]] = {}
        for f in self.model.features:
            col = _column(batch, f.name)
            if col is None:
                continue
            feats[f.name] = _numbers(col, f.name, first_row, problems) if f.type == "numeric" else col
        if scores is not None:
            scores = _numbers(scores, self.columns.score, first_row, problems)
        slice_cols = [s for s in self.model.slices if s in feats]
        records, label_rows, skipped = [], [], 0
        for i in range(n):
            row = first_row + i
            ts = parse_time(times[i], unit)
            refused = _time_problem(times[i], ts, unit, typed, lo, hi)
            if ts is None or refused is not None:
                problems.append(Problem(row, self.columns.time, refused or "no event time: row skipped"))
                skipped += 1
                continue
            rid = str(ids[i]) if ids is not None and ids[i] is not None else f"{self.source}:{row}"
            features = self.redactor.row({k: v[i] for k, v in feats.items()})
            score = scores[i] if scores is not None and isinstance(scores[i], float) else None
            rec: dict[str, Any] = {
                "id": rid,
                "ts": ts.timestamp(),
                "features": features,
                "prediction": _scalar(preds[i]) if preds is not None else None,
                "score": score if score is None or math.isfinite(score) else None,
                "slices": {s: features.get(s) for s in slice_cols},
            }
            if versions is not None:
                rec["_version"] = str(versions[i])
            records.append(rec)
            label = _scalar(labels[i]) if labels is not None else None
            if label is not None:  # NaN is no label: it would be refused with the whole batch
                label_rows.append({"id": rid, "label": label})
            if self.reference_until is not None and ts < self.reference_until:
                self._add_reference(features)
        return records, label_rows, skipped

    def _add_reference(self, features: Mapping[str, Any]) -> None:
        for f in self.model.drift_features:
            col = self.reference.setdefault(f.name, [])
            if len(col) < MAX_REFERENCE_ROWS:
                col.append(features.get(f.name))


# ------------------------------------------------------------------------------------------ replaying


def _batch_id(digest: str, model: str, kind: str, first_row: int, n: int) -> str:
    return "replay-" + hashlib.sha256(f"{digest}|{model}|{kind}|{first_row}|{n}".encode()).hexdigest()[:40]


def _by_version(records: list[dict[str, Any]], default: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault(r.pop("_version", default), []).append(r)
    return out


def _send(
    sink: Sink,
    model: str,
    digest: str,
    version: str,
    first_row: int,
    n: int,
    records: list[dict[str, Any]],
    label_rows: list[dict[str, Any]],
    result: ReplayResult,
) -> None:
    """Send one batch's records (one request per model version) and labels, with content-derived ids."""
    for ver, recs in _by_version(records, version).items():
        body = {
            "batch_id": _batch_id(digest, model, f"records:{ver}", first_row, n),
            "model": model,
            "version": ver,
            "records": recs,
        }
        stored, _ = sink.records(body)
        result.records_sent += len(recs)
        result.records_stored += stored
    if label_rows:
        sink.labels(
            {
                "batch_id": _batch_id(digest, model, "labels", first_row, n),
                "model": model,
                "labels": label_rows,
            }
        )
        result.labels_sent += len(label_rows)


def replay(
    path: Path,
    model: Model,
    sink: Sink,
    *,
    columns: Columns = Columns(),
    version: str = "replay",
    labels_file: Path | None = None,
    reference_file: Path | None = None,
    reference_until: dt.datetime | None = None,
    strict: bool = False,
    batch_rows: int = 5000,
    salt: str | None = None,
    progress: bool = True,
) -> ReplayResult:
    """Send every row of `path` through `sink`, then evaluate every window it touched."""
    for given in (path, labels_file, reference_file):
        if given is not None:
            check_file(given)
    result = ReplayResult()
    redactor = Redactor(model.pii_features, mode="hash", salt=salt or f"driftline:{model.name}")
    conv = Converter(model, columns, path.name, redactor, reference_until)
    digest = file_digest(path)
    total = count_rows(path)
    bar = Progress(total or 0) if progress else None
    first_row = 1
    checked = False
    for batch in read_batches(path, batch_rows):
        problems: list[Problem] = []
        if not checked:
            conv.check_columns(batch.schema.names, problems)
            checked = True
        records, label_rows, skipped = conv.convert(batch, first_row, problems)
        if strict and problems:
            first = min(problems, key=lambda p: -1 if p.row is None else p.row)
            good = 0 if first.row is None else first.row - first_row
            if good:  # the rows of this batch before the bad one still go in
                batch = batch.slice(0, good)
                records, label_rows, _ = conv.convert(batch, first_row, [])
                _send(
                    sink, model.name, digest, version, first_row, batch.num_rows, records, label_rows, result
                )
            result.problems.append(first)
            raise ReplayError(
                f"{path}: {first} (stopped by --strict; the {first_row + good - 1} rows before it were sent)"
            )
        result.problems.extend(problems)
        _send(sink, model.name, digest, version, first_row, batch.num_rows, records, label_rows, result)
        result.rows += batch.num_rows
        result.skipped += skipped
        first_row += batch.num_rows
        if bar:
            bar.update(result.rows if total else 1, result.rows, f"{len(result.problems)} problem(s)")
    if bar:
        bar.done()
    if labels_file is not None:
        result.labels_sent += _replay_labels(labels_file, model.name, columns, sink, result.problems, strict)
    ref_columns = conv.reference
    if reference_file is not None:
        ref_columns = _reference_columns(reference_file, model, columns)
    if ref_columns and any(ref_columns.values()):
        result.reference_rows = max(len(v) for v in ref_columns.values())
        sink.reference({"model": model.name, "name": f"replay of {path.name}", "columns": ref_columns})
    result.windows = sink.evaluate()
    return result


def _replay_labels(
    path: Path, model: str, columns: Columns, sink: Sink, problems: list[Problem], strict: bool
) -> int:
    """Labels from a second file (columns: the id column and `label`, or --label-column), joined by id."""
    digest, sent, first_row = file_digest(path), 0, 1
    label_col = columns.label or "label"
    for batch in read_batches(path, 5000):
        ids, labels = _column(batch, columns.id), _column(batch, label_col)
        if ids is None or labels is None:
            missing = columns.id if ids is None else label_col
            raise ReplayError(f"{path}: column {missing!r} is missing: labels need an id and a label column")
        rows = []
        for i, (rid, raw_label) in enumerate(zip(ids, labels, strict=True)):
            lab = _scalar(raw_label)  # NaN is no label
            if rid is None or lab is None:
                problem = Problem(
                    first_row + i, columns.id if rid is None else label_col, "empty: label skipped"
                )
                if strict:
                    raise ReplayError(f"{path}: {problem} (stopped by --strict)")
                problems.append(problem)
                continue
            rows.append({"id": str(rid), "label": lab})
        if rows:
            sink.labels(
                {
                    "batch_id": _batch_id(digest, model, "labels-file", first_row, batch.num_rows),
                    "model": model,
                    "labels": rows,
                }
            )
            sent += len(rows)
        first_row += batch.num_rows
    return sent


def _reference_columns(path: Path, model: Model, columns: Columns) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {f.name: [] for f in model.drift_features}
    problems: list[Problem] = []
    for batch in read_batches(path, 50_000):
        for f in model.drift_features:
            col = _column(batch, f.name)
            if col is not None and len(out[f.name]) < MAX_REFERENCE_ROWS:
                out[f.name].extend(_numbers(col, f.name, 1, problems) if f.type == "numeric" else col)
    return {k: v[:MAX_REFERENCE_ROWS] for k, v in out.items() if v}


# ------------------------------------------------------------------------------------------ sinks


class EmbeddedSink:
    """Stores through the collector's service functions against a database URL, in this process."""

    def __init__(self, database_url: str, spec: Any) -> None:
        from collector.app import build_context
        from collector.settings import Settings

        self.ctx = build_context(Settings(database_url=database_url), spec)
        self._batches = 0

    def records(self, body: dict[str, Any]) -> tuple[int, bool]:
        from collector import service
        from collector.schemas import RecordBatch

        # the same bytes an HTTP client would send, validated the way the collector validates them
        try:
            out = service.store_records(
                self.ctx, RecordBatch.model_validate_json(to_json(body, inf_nan_mode="null"))
            )
        except service.InputError as exc:  # e.g. 409: this batch id holds other content already
            raise ReplayError(f"the collector refused a records batch with {exc.status}: {exc.msg}") from None
        self._batches += 1
        if self._batches >= 4 and self._batches & (self._batches - 1) == 0:
            # a bulk load outruns autovacuum: refresh statistics each time the table doubles (4, 8, 16, ...
            # batches) so the label lookups use the record key, not a scan of the model's (model, ts) range
            from collector import repository

            with self.ctx.sessions.begin() as s:
                repository.refresh_statistics(s)
        return out.accepted, out.duplicate

    def labels(self, body: dict[str, Any]) -> int:
        from collector import service
        from collector.schemas import LabelBatch

        try:
            return service.store_labels(self.ctx, LabelBatch.model_validate_json(to_json(body))).accepted
        except service.InputError as exc:
            raise ReplayError(f"the collector refused a labels batch with {exc.status}: {exc.msg}") from None

    def reference(self, body: dict[str, Any]) -> None:
        from collector import service
        from collector.schemas import ReferenceIn

        service.store_reference(self.ctx, ReferenceIn.model_validate(body))

    def evaluate(self) -> int:
        return len(self.ctx.evaluator.tick())

    def series(self, model: str, kind: str) -> list[dict[str, Any]]:
        from collector import repository
        from collector.schemas import DriftPointOut, PerformancePointOut

        with self.ctx.sessions() as s:
            if kind == "drift":
                points = repository.drift_series(s, model=model, limit=100_000)
                return [DriftPointOut.model_validate(p, from_attributes=True).model_dump() for p in points]
            perf = repository.performance_series(s, model=model, slice_="all", limit=100_000)
            return [PerformancePointOut.model_validate(p, from_attributes=True).model_dump() for p in perf]


class HTTPSink:
    """Sends to a running collector exactly as the SDK does (gzip'd JSON, bearer token)."""

    def __init__(self, url: str, token: str, admin_token: str | None = None) -> None:
        from sdk.transport import HTTPTransport

        self.transport = HTTPTransport(url, token, timeout=120)
        self.admin = HTTPTransport(url, admin_token or token, timeout=600)

    def _post(self, path: str, body: dict[str, Any] | None, admin: bool = False) -> Any:
        from sdk.transport import Request

        data = gzip.compress(json.dumps(body).encode(), 1) if body is not None else b""
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        resp = (self.admin if admin else self.transport).send(Request("POST", path, headers, data))
        if resp.status >= 400:
            raise ReplayError(
                f"the collector refused {path} with {resp.status}: {resp.body[:300].decode(errors='replace')}"
            )
        return resp.json()

    def records(self, body: dict[str, Any]) -> tuple[int, bool]:
        out = self._post("/v1/records", body)
        return int(out["accepted"]), bool(out["duplicate"])

    def labels(self, body: dict[str, Any]) -> int:
        return int(self._post("/v1/labels", body)["accepted"])

    def reference(self, body: dict[str, Any]) -> None:
        self._post("/v1/references", body)

    def evaluate(self) -> int:
        return int(self._post("/v1/evaluate", None, admin=True)["windows"])

    def series(self, model: str, kind: str) -> list[dict[str, Any]]:
        from sdk.transport import Request

        query = "?limit=10000" + ("&slice=all" if kind == "performance" else "")
        resp = self.admin.send(Request("GET", f"/v1/models/{model}/{kind}{query}", {}, b""))
        return list(resp.json()) if resp.status == 200 else []


# ------------------------------------------------------------------------------------------ summary


def _when(value: Any) -> str:
    """A window start as `YYYY-MM-DD HH:MM` UTC, from a datetime or the API's ISO-8601 text."""
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def summary(model: Model, drift: list[dict[str, Any]], performance: list[dict[str, Any]]) -> str:
    """One line per event-time window: the most drifted feature by the first metric, and accuracy (MAE for a
    regressor) with its interval."""
    metric = model.drift.metrics[0]
    windows: dict[Any, dict[str, Any]] = {}
    for p in drift:
        if p["metric"] != metric or p["value"] is None:
            continue
        w = windows.setdefault(p["window_start"], {"n": p["n_current"], "worst": None, "alerts": []})
        if w["worst"] is None or p["value"] > w["worst"][1]:
            w["worst"] = (p["feature"], p["value"], p["status"])
        if p["status"] == "alert":
            w["alerts"].append(p["feature"])
    headline = "mae" if model.prediction_type == "regression" else "accuracy"
    perf = {p["window_start"]: p for p in performance if p["slice"] == "all" and p["metric"] == headline}
    head = f"most drifted ({metric})"
    lines = [f"{'window (event time)':<22}{'records':>9}  {head:<28}{'alerts':<24}{'performance':>26}"]
    first_alert = None
    for start in sorted(set(windows) | set(perf)):
        w = windows.get(start, {"n": 0, "worst": None, "alerts": []})
        pp = perf.get(start)
        worst = f"{w['worst'][0]} {w['worst'][1]:.3f}" if w["worst"] else "-"
        alerts = ", ".join(sorted(w["alerts"])) or "-"
        if w["alerts"] and first_alert is None:
            first_alert = start
        if pp and pp["value"] is not None:
            perf_text = f"{pp['metric']} {pp['value']:.3f} [{pp['lower']:.3f}, {pp['upper']:.3f}]"
            if pp["status"] != "ok":
                perf_text += f" ({pp['status']})"
        else:
            perf_text = "no labels"
        n = w["n"] or (pp["total"] if pp else 0)
        label = _when(start)
        lines.append(f"{label:<22}{n:>9}  {worst:<28}{alerts[:23]:<24}{perf_text:>26}")
    if first_alert is not None:
        lines.append(f"\nFirst window over the alert threshold: {_when(first_alert)}")
    return "\n".join(lines)
