"""Turning the caller's ids, features, predictions and slices into rows of plain Python values.

numpy, pandas and torch are recognised by the module their type comes from and are never imported
here. Only the sampled rows are ever selected or copied: a tensor is indexed on its own device and
only the selected rows are moved to the CPU. `plain` (JSON scalars, NaN → None) runs later, on the
background thread.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

_SCALAR_TYPES = (str, bytes, int, float, bool, type(None))


def _lib(x: object) -> str:
    """``"numpy"``, ``"torch"``, ``"pandas"`` or another top-level module name of ``type(x)``."""
    return type(x).__module__.partition(".")[0]


def is_scalar(v: object) -> bool:
    """True for one value (str, number, numpy scalar, 0-d array or tensor, mapping), False for a column."""
    if isinstance(v, _SCALAR_TYPES):
        return True
    if getattr(v, "ndim", 1) == 0:
        return True
    return not hasattr(v, "__len__") or isinstance(v, Mapping)


def _is_flat(seq: Sequence[Any]) -> bool:
    """A non-empty list of scalars: one row's feature values, not a list of rows."""
    return len(seq) > 0 and is_scalar(seq[0]) and not isinstance(seq[0], Mapping)


def id_list(ids: object) -> Sequence[Any]:
    """The ids as a sequence: a single id becomes a one-element tuple; arrays become lists."""
    if isinstance(ids, list | tuple):
        return ids
    if is_scalar(ids):
        return (ids,)
    lib = _lib(ids)
    if lib == "torch":
        return ids.detach().cpu().reshape(-1).tolist()  # type: ignore[attr-defined]
    if lib in ("numpy", "pandas"):
        return ids.tolist()  # type: ignore[attr-defined]
    return list(ids)  # type: ignore[call-overload]


def _is_columns(d: Mapping[Any, Any], n: int | None) -> bool:
    if not d:
        return False
    for v in d.values():
        if is_scalar(v):
            return False
        if n is not None and len(v) != n:
            return False
    return n is not None or len({len(v) for v in d.values()}) == 1


def row_count(features: object) -> int:
    """How many rows ``features`` holds (1 for a single row or for no features)."""
    if features is None:
        return 1
    if isinstance(features, Mapping):
        return len(next(iter(features.values()))) if _is_columns(features, None) else 1
    if isinstance(features, list | tuple):
        return 1 if _is_flat(features) else len(features)
    lib = _lib(features)
    if lib in ("numpy", "torch"):
        shape = features.shape  # type: ignore[attr-defined]
        structured = getattr(features.dtype, "names", None)  # type: ignore[attr-defined]
        return int(shape[0]) if len(shape) > 1 or (len(shape) == 1 and structured) else 1
    if lib == "pandas" and hasattr(features, "columns"):
        return len(features)  # type: ignore[arg-type]
    return 1


def take(seq: Any, picked: list[int]) -> list[Any]:
    """The items of a column at the ``picked`` positions, selected before anything is copied."""
    if isinstance(seq, list | tuple | range):
        return [seq[i] for i in picked]
    lib = _lib(seq)
    if lib == "torch":
        return seq[picked].detach().cpu().tolist()
    if lib == "numpy":
        return seq[picked].tolist()
    if lib == "pandas":
        return seq.iloc[picked].to_numpy().tolist()
    return [seq[i] for i in picked]


def _named(row: Sequence[Any], names: Sequence[str] | None) -> dict[str, Any]:
    if names is not None and len(names) == len(row):
        return dict(zip(names, row, strict=True))
    k = 0 if names is None else len(names)
    return {(names[j] if names is not None and j < k else f"f{j}"): v for j, v in enumerate(row)}


def feature_rows(
    features: Any, picked: list[int], n: int, names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """One ``{feature: raw value}`` dict per picked row, for every supported features shape."""
    m = len(picked)
    if features is None:
        return [{} for _ in picked]
    if isinstance(features, Mapping):
        if _is_columns(features, n):
            keys = [str(k) for k in features]
            cols = [take(v, picked) for v in features.values()]
            return [dict(zip(keys, row, strict=True)) for row in zip(*cols, strict=True)]
        return [{str(k): v for k, v in features.items()} for _ in picked]
    if isinstance(features, list | tuple):
        if _is_flat(features):
            row = _named(features, names)
            return [dict(row) for _ in picked]
        rows = [features[i] for i in picked]
        return [
            {str(k): v for k, v in r.items()} if isinstance(r, Mapping) else _named(r, names) for r in rows
        ]
    lib = _lib(features)
    if lib == "numpy":
        fields = features.dtype.names
        if fields:
            return [dict(zip(fields, r, strict=True)) for r in features[picked].tolist()]
        if features.ndim <= 1:
            row = _named(features.reshape(-1).tolist(), names)
            return [dict(row) for _ in picked]
        return [_named(r, names) for r in features[picked].reshape(m, -1).tolist()]
    if lib == "torch":
        if features.dim() <= 1:
            row = _named(features.detach().cpu().reshape(-1).tolist(), names)
            return [dict(row) for _ in picked]
        sub = features[picked].detach().cpu()
        return [_named(r, names) for r in sub.reshape(m, -1).tolist()]
    if lib == "pandas":
        if hasattr(features, "columns"):
            sub = features.iloc[picked]
            keys = [str(c) for c in sub.columns]
            return [dict(zip(keys, r, strict=True)) for r in sub.itertuples(index=False, name=None)]
        row = {str(k): v for k, v in features.items()}
        return [dict(row) for _ in picked]
    raise TypeError(f"unsupported features type {type(features).__qualname__}")


def prediction_values(y: Any, picked: list[int]) -> list[Any]:
    """Predictions at the picked rows; a scalar is every row's, a 2-D row is its arg-max column."""
    if y is None or is_scalar(y):
        return [y] * len(picked)
    out = take(y, picked)
    for j, v in enumerate(out):
        if isinstance(v, list):
            out[j] = v[0] if len(v) == 1 else max(range(len(v)), key=v.__getitem__)
    return out


def score_values(scores: Any, picked: list[int]) -> list[Any]:
    """Positive-class scores at the picked rows: a 1-D column as is, a 2-D row's column 1."""
    if scores is None or is_scalar(scores):
        return [scores] * len(picked)
    out = take(scores, picked)
    for j, v in enumerate(out):
        if isinstance(v, list):
            out[j] = v[1] if len(v) > 1 else v[0]
    return out


def slice_rows(slices: Mapping[str, Any] | None, picked: list[int]) -> list[dict[str, Any]] | None:
    """One ``{slice: raw value}`` dict per picked row; a scalar value applies to every row."""
    if not slices:
        return None
    keys = [str(k) for k in slices]
    cols = [[v] * len(picked) if is_scalar(v) else take(v, picked) for v in slices.values()]
    return [dict(zip(keys, row, strict=True)) for row in zip(*cols, strict=True)]


def plain(v: Any) -> Any:
    """A JSON scalar for ``v``: NaN and infinities → None, numpy/torch scalars → Python, lists → JSON text."""
    t = type(v)
    if t is str:
        return v.replace("\x00", "") if "\x00" in v else v
    if v is None or t is bool or t is int:
        return v
    if t is float:
        return v if math.isfinite(v) else None
    lib = _lib(v)
    if lib == "numpy" or lib == "torch":
        return plain(v.tolist())
    if lib == "pandas" and t.__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(v, int):  # IntEnum and other subclasses (bool cannot be subclassed)
        return int(v)
    if isinstance(v, float):
        return plain(float(v))
    if isinstance(v, str):
        return plain(str.__str__(v))
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace").replace("\x00", "")
    if isinstance(v, _dt.datetime | _dt.date | _dt.time):
        return v.isoformat()
    if isinstance(v, list | tuple | dict | set | frozenset):
        return json.dumps(_nested(v), separators=(",", ":"), default=str)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "__float__"):
        try:
            return plain(float(v))
        except (TypeError, ValueError):
            pass
    return plain(str(v))


def _nested(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _nested(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        return [_nested(x) for x in v]
    return plain(v)


def plain_feature(v: Any) -> Any:
    """A JSON value for a feature: like `plain`, but lists (embeddings) and dicts keep their structure,
    since the collector stores any JSON feature and judges its type as a data-quality check."""
    lib = _lib(v)
    if (lib == "numpy" or lib == "torch") and getattr(v, "ndim", 0) > 0:
        return _nested(v.tolist())
    if isinstance(v, list | tuple | dict):
        return _nested(v)
    return plain(v)


def plain_score(v: Any) -> float | None:
    """A finite float for a score, or None."""
    v = plain(v)
    if v is None or isinstance(v, str):
        return None
    return float(v) if math.isfinite(float(v)) else None
