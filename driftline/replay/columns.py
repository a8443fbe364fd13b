"""Mapping file columns onto wire records: event times, numbers, ids, labels and the reference sample."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from collector import event_time
from driftline.replay.base import MAX_REFERENCE_ROWS, Columns, Problem, ReplayError
from sdk.redact import Redactor, has_pii, mask_text
from spec import Model

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


def numbers(values: list[Any], column: str, first_row: int, problems: list[Problem]) -> list[Any]:
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
            problems.append(
                Problem(first_row + i, column, f"{mask_text(v)[:40]!r} is personal data, not a number")
            )
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


def values_of(batch: Any, name: str) -> list[Any] | None:
    """A column as Python values; types JSON cannot carry (timestamps, decimals) become text."""
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
    idx = batch.schema.get_field_index(name)
    if idx < 0:
        return None
    col = batch.column(idx)
    t = col.type
    if pa.types.is_timestamp(t):
        return col.cast(pa.int64()).to_pylist(), str(t.unit), True
    if pa.types.is_date(t):
        return col.to_pylist(), unit, True
    return values_of(batch, name) or [], unit, False


def scalar(v: Any) -> Any:
    """A value JSON carries as it is: NaN and infinity are None, other types their text."""
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
    #: Per reference row, its score and its label (None where the row has none): CBPE's calibration.
    reference_scores: list[float | None] = field(default_factory=list)
    reference_labels: list[Any] = field(default_factory=list)
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
        ids = values_of(batch, self.columns.id)
        preds = values_of(batch, self.columns.prediction)
        scores = values_of(batch, self.columns.score)
        labels = values_of(batch, self.columns.label) if self.columns.label else None
        versions = values_of(batch, self.columns.version) if self.columns.version else None
        feats: dict[str, list[Any]] = {}
        for f in self.model.features:
            col = values_of(batch, f.name)
            if col is None:
                continue
            feats[f.name] = numbers(col, f.name, first_row, problems) if f.type == "numeric" else col
        if scores is not None:
            scores = numbers(scores, self.columns.score, first_row, problems)
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
                "prediction": scalar(preds[i]) if preds is not None else None,
                "score": score if score is None or math.isfinite(score) else None,
                "slices": {s: features.get(s) for s in slice_cols},
            }
            if versions is not None:
                rec["_version"] = str(versions[i])
            records.append(rec)
            label = scalar(labels[i]) if labels is not None else None
            if label is not None:  # NaN is no label: it would be refused with the whole batch
                label_rows.append({"id": rid, "label": label})
            if self.reference_until is not None and ts < self.reference_until:
                self._add_reference(features, rec["score"], label)
        return records, label_rows, skipped

    def _add_reference(self, features: Mapping[str, Any], score: float | None, label: Any) -> None:
        if len(self.reference_scores) >= MAX_REFERENCE_ROWS:
            return
        for f in self.model.drift_features:
            self.reference.setdefault(f.name, []).append(features.get(f.name))
        self.reference_scores.append(score)
        self.reference_labels.append(label)
