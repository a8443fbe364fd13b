"""Replaying one file: convert each batch, send it with content-derived batch ids, then evaluate."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract import DriftlineError
from driftline.progress import Progress
from driftline.replay.base import MAX_REFERENCE_ROWS, Columns, Problem, ReplayError, ReplayResult, Sink
from driftline.replay.columns import Converter, numbers, scalar, values_of
from driftline.replay.files import check_file, count_rows, file_digest, read_batches
from sdk.redact import Redactor
from spec import Model


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
    if reference_file is not None:
        sample = reference_file_sample(reference_file, model, columns)
    else:
        sample = ReferenceSample(conv.reference, conv.reference_scores, conv.reference_labels)
    if sample.columns and any(sample.columns.values()):
        result.reference_rows = max(len(v) for v in sample.columns.values())
        send_reference(sink, model, path.name, sample, result)
    else:
        result.not_computed.append(
            "drift: no reference (--reference-until TIME takes the rows before it, --reference FILE a file)"
        )
    if not result.labels_sent:
        result.not_computed.append("realized performance: no labels (--label-column, or --labels FILE)")
    result.windows = sink.evaluate()
    return result


def _replay_labels(
    path: Path, model: str, columns: Columns, sink: Sink, problems: list[Problem], strict: bool
) -> int:
    """Labels from a second file (columns: the id column and `label`, or --label-column), joined by id."""
    digest, sent, first_row = file_digest(path), 0, 1
    label_col = columns.label or "label"
    for batch in read_batches(path, 5000):
        ids, labels = values_of(batch, columns.id), values_of(batch, label_col)
        if ids is None or labels is None:
            missing = columns.id if ids is None else label_col
            raise ReplayError(f"{path}: column {missing!r} is missing: labels need an id and a label column")
        rows = []
        for i, (rid, raw_label) in enumerate(zip(ids, labels, strict=True)):
            lab = scalar(raw_label)  # NaN is no label
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


@dataclass
class ReferenceSample:
    """The reference rows a replay sends: feature columns, and each row's score and label (or None)."""

    columns: dict[str, list[Any]]
    scores: list[float | None] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)

    def calibration_problem(self, model: Model) -> str | None:
        """Why CBPE cannot be calibrated on these rows, with the flag that fixes it; None when it can."""
        if model.prediction_type != "binary":
            return f"CBPE's estimate: it estimates binary classifiers, and {model.name} is {model.prediction_type}"
        n = len(self.scores)
        if not n or all(s is None for s in self.scores):
            return "CBPE's estimate: the reference rows have no scores (name the column with --score-column)"
        missing = sum(1 for s, y in zip(self.scores, self.labels, strict=True) if s is None or y is None)
        if missing:
            return (
                f"CBPE's estimate: {missing:,} of {n:,} reference rows lack a score or a label, and CBPE calibrates "
                "on reference rows that have both (a label column in the replayed file: --label-column)"
            )
        return None


def send_reference(
    sink: Sink,
    model: Model,
    source: str,
    sample: ReferenceSample,
    result: ReplayResult,
    version: str | None = None,
) -> dict[str, Any]:
    """Fit the reference, with CBPE's calibration where every reference row has a score and a label; a
    calibration the collector refuses (one class only, say) leaves the reference and says why. Returns
    the collector's description of the stored reference."""
    body: dict[str, Any] = {"model": model.name, "name": f"replay of {source}", "columns": sample.columns}
    if version is not None:
        body["version"] = version
    problem = sample.calibration_problem(model)
    if problem is None:
        try:
            answer = sink.reference({**body, "scores": sample.scores, "labels": sample.labels})
            result.calibration_rows = len(sample.scores)
            return answer
        except DriftlineError as exc:
            problem = f"CBPE's estimate: the collector could not calibrate it ({exc})"
    answer = sink.reference(body)
    result.not_computed.append(problem)
    return answer


def reference_file_sample(path: Path, model: Model, columns: Columns) -> ReferenceSample:
    """The reference rows of a file: its drift feature columns, and its score and label columns if it has them."""
    out: dict[str, list[Any]] = {f.name: [] for f in model.drift_features}
    scores: list[float | None] = []
    labels: list[Any] = []
    problems: list[Problem] = []
    for batch in read_batches(path, 50_000):
        m = min(batch.num_rows, MAX_REFERENCE_ROWS - len(scores))
        if m <= 0:
            break
        for f in model.drift_features:
            col = values_of(batch, f.name)
            if col is not None:
                out[f.name].extend((numbers(col, f.name, 1, problems) if f.type == "numeric" else col)[:m])
        got = values_of(batch, columns.score)
        scores.extend(numbers(got, columns.score, 1, problems)[:m] if got is not None else [None] * m)
        got = values_of(batch, columns.label or "label")
        labels.extend([scalar(v) for v in got[:m]] if got is not None else [None] * m)
    scores = [x if isinstance(x, float) and math.isfinite(x) else None for x in scores]
    return ReferenceSample({k: v for k, v in out.items() if v}, scores, labels)
