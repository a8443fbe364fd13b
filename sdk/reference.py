"""A reference from a DataFrame or rows, in one call: the request body `POST /v1/references` takes, and the
collector's answer as a few lines a person reads (rows, features and bins, whether CBPE was calibrated).

Standard library only: a pandas or polars DataFrame is read through its own `to_dict`/`to_dicts`, rows are
mappings of column to value. A score and a label column, when named, calibrate CBPE (binary models); rows
lacking either leave CBPE out and the account says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def _columns(data: Any) -> dict[str, list[Any]]:
    """Column name -> values of a pandas or polars DataFrame, a mapping of columns, or an iterable of rows."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # pandas
        return {str(k): list(v) for k, v in data.to_dict("list").items()}
    if hasattr(data, "to_dicts") and hasattr(data, "columns"):  # polars
        return {str(k): list(data[k].to_list()) for k in data.columns}
    if isinstance(data, Mapping):
        return {str(k): list(v) for k, v in data.items()}
    rows = list(data)
    names = sorted({k for r in rows for k in r})
    return {k: [r.get(k) for r in rows] for k in names}


def _plain(v: Any) -> Any:
    """A value JSON carries: numpy scalars as Python numbers, NaN and infinity as None."""
    if hasattr(v, "item") and not isinstance(v, list | dict | str):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def reference_body(
    data: Any,
    *,
    model: str,
    version: str | None = None,
    features: Sequence[str] | None = None,
    score_column: str | None = None,
    label_column: str | None = None,
) -> dict[str, Any]:
    """The body of `POST /v1/references` for `data` (a DataFrame, columns or rows): every column but the
    score and label ones is a feature unless `features` names them. Scores and labels go with it only when
    every row has both, as CBPE's calibration needs."""
    cols = _columns(data)
    for name in (score_column, label_column):
        if name is not None and name not in cols:
            raise KeyError(f"column {name!r} is not in the data (columns: {', '.join(cols)})")
    wanted = list(features) if features is not None else [c for c in cols if c not in (score_column, label_column)]
    missing = [f for f in wanted if f not in cols]
    if missing:
        raise KeyError(f"feature column(s) {', '.join(map(repr, missing))} not in the data")
    body: dict[str, Any] = {"model": model, "columns": {f: [_plain(v) for v in cols[f]] for f in wanted}}
    if version is not None:
        body["version"] = version
    if score_column is not None and label_column is not None:
        scores = [_plain(v) for v in cols[score_column]]
        labels = [_plain(v) for v in cols[label_column]]
        if all(s is not None for s in scores) and all(y is not None for y in labels):
            body["scores"], body["labels"] = scores, labels
    return body


def describe(answer: Mapping[str, Any], source: str = "the data", why_no_cbpe: str | None = None) -> str:
    """The collector's answer to a reference upload as a few lines: the reference, its features and bins,
    CBPE (calibrated, or `why_no_cbpe`), and the collector's warnings."""
    version = answer.get("version") or "every version"
    lines = [f"Reference {answer['id']} of {answer['model']} ({version}) from {source}: {answer['n']:,} rows."]
    fitted = []
    for name, ref in sorted((answer.get("features") or {}).items()):
        binning = ref.get("binning", {})
        if binning.get("kind") == "categorical":
            fitted.append(f"{name} (categorical, {len(binning.get('categories', ()))} categories)")
        else:
            fitted.append(f"{name} (numeric, {len(ref.get('counts', ()))} bins)")
    lines.append("Features fitted: " + (", ".join(fitted) or "none"))
    if answer.get("cbpe"):
        lines.append(f"CBPE: calibrated on {answer['n']:,} labelled rows; accuracy is estimated before labels arrive.")
    else:
        lines.append("CBPE: not calibrated: " + (why_no_cbpe or "no score and label for every row were sent"))
    lines.extend(f"Warning: {w}" for w in _strings(answer.get("warnings")))
    return "\n".join(lines)


def _strings(values: Iterable[Any] | None) -> list[str]:
    return [str(v) for v in values or ()]
