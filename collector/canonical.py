"""Categorical values in their one canonical spelling (analyzers.categories) before they are stored.

Every ingest path ends here: the SDK and direct POSTs through /v1/records, references through
/v1/references, and `driftline replay` (CSV text, Parquet types) through the same service functions.
So a boolean feature is stored as "true"/"false" whether it came as JSON `true`, CSV `false` or a
Parquet bool, and one reference binning counts all of them alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from analyzers.categories import canonical_category
from spec import Model


class _Record(Protocol):
    features: dict[str, Any]
    slices: dict[str, Any] | None


def categorical_features(model: Model | None) -> tuple[str, ...]:
    """The declared categorical features (an undeclared model's kinds are only known at fit time)."""
    return () if model is None else tuple(f.name for f in model.features if f.type == "categorical" and not f.pii)


def canonical_records(model: Model | None, records: Iterable[_Record]) -> None:
    """Re-spell, in place, each record's declared categorical features and every slice value."""
    names = categorical_features(model)
    memo: dict[Any, str | None] = {}

    def spell(v: Any) -> str | None:
        if type(v) is not str:
            return canonical_category(v)
        out = memo.get(v, memo)  # text repeats across a batch: spell each distinct string once
        if out is memo:
            out = memo[v] = canonical_category(v)
        return out  # type: ignore[return-value]

    for r in records:
        feats = r.features
        for name in names:
            if name in feats:
                v = feats[name]
                if isinstance(v, str | bool | int | float) or v is None:  # lists/objects are quality events
                    feats[name] = spell(v)
        if r.slices:
            r.slices = {k: spell(v) for k, v in r.slices.items()}


def canonical_columns(model: Model | None, columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """A reference's columns with its declared categorical ones re-spelled (a new dict; input untouched)."""
    names = set(categorical_features(model))
    return {k: [canonical_category(v) for v in vs] if k in names else vs for k, vs in columns.items()}
