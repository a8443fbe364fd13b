"""Data quality of a window against the declared features: missing, out of range, unseen, type, schema.

Total over odd input: any JSON value (numbers, strings, None, lists, dicts) in any feature is counted,
never raised on. Types are strict: the string "1.5" in a numeric feature is a type violation (the drift
binning still reads it as 1.5), and so is a bool (JSON true is not a number).
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analyzers.binning import FeatureReference
from analyzers.categories import canonical_category

FEATURE_TYPES = ("numeric", "categorical", "text", "embedding")
RECORD = "*"  # the `feature` of record-level (schema) checks
CHECKS = ("missing", "absent", "type_violation", "out_of_range", "unseen_category", "undeclared_feature",
          "schema_violation")


@dataclass(frozen=True)
class QualityValue:
    """One check of one feature (or of whole records, feature "*") in one window: `count` of `total`."""

    feature: str
    check: str
    count: int
    total: int
    rate: float = field(init=False, compare=False)  # count / total; nan when nothing was checked

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", self.count / self.total if self.total else math.nan)


def _is_missing(v: Any) -> bool:
    t = type(v)
    if t is float:  # the common cases first: this runs once per feature of every stored record
        return v != v
    if t is str or t is int:
        return False
    return v is None or (isinstance(v, float | np.floating) and math.isnan(v))


def _is_number(v: Any) -> bool:
    t = type(v)
    if t is float or t is int:
        return True
    return isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)


def _is_category(v: Any) -> bool:
    return isinstance(v, str | bool | np.bool_) or _is_number(v)


def _is_text(v: Any) -> bool:
    return isinstance(v, str)


def _is_embedding(v: Any) -> bool:
    if isinstance(v, np.ndarray):
        return v.ndim == 1 and v.size > 0 and v.dtype.kind in "iuf"
    return isinstance(v, list | tuple) and len(v) > 0 and all(map(_is_number, v))


CONFORMS: Mapping[str, Callable[[Any], bool]] = {
    "numeric": _is_number, "categorical": _is_category, "text": _is_text, "embedding": _is_embedding,
}


def _category(v: Any) -> str | None:
    return canonical_category(v)  # as the binning keys categories


def _checked_type(feature: str, declared_type: str) -> str:
    if declared_type not in CONFORMS:
        raise ValueError(f"{feature}: declared type must be one of {', '.join(FEATURE_TYPES)}, "
                         f"got {declared_type!r}")
    return declared_type


def feature_quality(
    feature: str, declared_type: str, reference: FeatureReference | None, values: Iterable[Any]
) -> tuple[QualityValue, ...]:
    """Missing (None/NaN) and wrong-typed values of one feature; against its reference, values outside
    [min, max] (numeric) or not in its category table (categorical; those it folded into "other" too).
    """
    kind = _checked_type(feature, declared_type)
    values = list(values)
    present = [v for v in values if not _is_missing(v)]
    valid = [v for v in present if CONFORMS[kind](v)]
    out = [QualityValue(feature, "missing", len(values) - len(present), len(values)),
           QualityValue(feature, "type_violation", len(present) - len(valid), len(present))]
    lo, hi = (reference.min, reference.max) if reference is not None else (None, None)
    if kind == "numeric" and lo is not None and hi is not None:
        outside = sum(1 for v in valid if v < lo or v > hi)
        out.append(QualityValue(feature, "out_of_range", outside, len(valid)))
    if kind == "categorical" and reference is not None and reference.binning.kind == "categorical":
        seen = set(reference.binning.categories)
        unseen = sum(1 for v in valid if _category(v) not in seen)
        out.append(QualityValue(feature, "unseen_category", unseen, len(valid)))
    return tuple(out)


_ABSENT = object()


def window_quality(
    declared: Mapping[str, str], references: Mapping[str, FeatureReference] | None,
    rows: Sequence[Mapping[str, Any]],
) -> tuple[QualityValue, ...]:
    """Every check of every declared feature over a window of records (one dict of features each), then the
    record-level schema checks. An absent feature is counted as absent and as missing.
    """
    types = {name: _checked_type(name, t) for name, t in declared.items()}
    references = references or {}
    records = [row if isinstance(row, Mapping) else {} for row in rows]  # a non-record has no features
    out: list[QualityValue] = []
    for name, kind in types.items():
        column = [r.get(name, _ABSENT) for r in records]
        absent = sum(1 for v in column if v is _ABSENT)
        present = (None if v is _ABSENT else v for v in column)
        checks = feature_quality(name, kind, references.get(name), present)
        out += [checks[0], QualityValue(name, "absent", absent, len(records)), *checks[1:]]
    extra = [any(k not in types for k in r) for r in records]
    undeclared = sum(extra)
    broken = sum(1 for r, e in zip(records, extra, strict=True) if e or len(r) != len(types))
    out += [QualityValue(RECORD, "undeclared_feature", undeclared, len(records)),
            QualityValue(RECORD, "schema_violation", broken, len(records))]
    return tuple(out)


def undeclared_features(
    declared: Iterable[str], rows: Sequence[Mapping[str, Any]], limit: int = 10
) -> tuple[tuple[str, int], ...]:
    """The `limit` most frequent feature names that are not declared, with how many records carry each."""
    known = set(declared)
    counts = Counter(str(k) for r in rows if isinstance(r, Mapping) for k in r if k not in known)
    return tuple(counts.most_common(limit))


def record_valid(types: Mapping[str, str], features: Any, also_allowed: Iterable[str] = ()) -> bool:
    """Whether one record passes the schema: every feature in `types` present and of its declared type
    (null is allowed: missing values are a rate, not an invalid record) and no feature outside `types`
    and `also_allowed` (PII features the SDK hashed or dropped belong there). Feeds the data-quality SLI.
    """
    if not isinstance(features, Mapping):
        return False
    for name, kind in types.items():
        v = features.get(name, _ABSENT)
        if v is _ABSENT or (not _is_missing(v) and not CONFORMS[kind](v)):
            return False
    if len(features) > len(types):
        allowed = set(also_allowed)
        return all(k in types or k in allowed for k in features)
    return True


_FAST_TYPES: Mapping[str, tuple[type, ...]] = {
    "numeric": (float, int), "categorical": (str, float, int, bool), "text": (str,), "embedding": (),
}


def schema_checker(types: Mapping[str, str], also_allowed: Iterable[str] = ()) -> Callable[[Any], bool]:
    """`record_valid` compiled once for a model: exact-type fast paths for the common values, the general
    rules for the rest; the ingest path calls it for every record (bench/bench_ingest.py)."""
    checked = {name: _checked_type(name, kind) for name, kind in types.items()}
    names = frozenset(checked)
    allowed = names | frozenset(also_allowed)
    plan = tuple((name, _FAST_TYPES[kind], CONFORMS[kind]) for name, kind in checked.items())

    def valid(features: Any) -> bool:
        if type(features) is not dict:
            return record_valid(checked, features, also_allowed)
        keys = features.keys()
        if not (keys == names or (keys >= names and keys <= allowed)):
            return False
        for name, fast, conforms in plan:
            v = features[name]
            if v is None or type(v) in fast:
                continue
            if not (_is_missing(v) or conforms(v)):
                return False
        return True

    return valid
