"""Turning the caller's ids, features, predictions and slices into rows of plain Python values.

numpy, pandas, polars, pyarrow, torch and DLPack producers (CuPy, JAX) are recognised by the module
their type comes from (or the DLPack methods it has) and are never imported here. Only the sampled rows
are ever selected or copied: a DataFrame, Table or array takes the picked rows only, and a device tensor
is indexed on its own device and only the picked rows leave it, without blocking (`sdk.device`: their
values are `DeviceValue` / `DeviceRow` placeholders until the shipping thread reads them). `plain`
(JSON scalars, NaN → None) runs later, on the background thread.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .device import DeviceRow, DeviceValue, HostRows, adopt, dlpack_rows, is_dlpack, torch_rows

_SCALAR_TYPES = (str, bytes, int, float, bool, type(None))


def _lib(x: object) -> str:
    """``"numpy"``, ``"torch"``, ``"pandas"``, ``"polars"``, ``"pyarrow"`` or another top-level module name."""
    return type(x).__module__.partition(".")[0]


def is_scalar(v: object) -> bool:
    """True for one value (str, number, numpy scalar, 0-d array or tensor, mapping), False for a column."""
    if isinstance(v, _SCALAR_TYPES):
        return True
    lib = _lib(v)
    if lib == "polars" or lib == "pyarrow":  # their getattr of a missing ndim costs ~5 us
        return type(v).__name__.endswith("Scalar")
    if getattr(v, "ndim", 1) == 0:
        return True
    return not (hasattr(v, "__len__") or hasattr(v, "__dlpack__")) or isinstance(v, Mapping)


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
    if lib == "torch":  # every id is hashed, so ids on a device are all copied: keep them on the host
        return ids.detach().cpu().reshape(-1).tolist()  # type: ignore[attr-defined]
    if lib in ("numpy", "pandas"):
        return ids.tolist()  # type: ignore[attr-defined]
    if lib == "polars":
        return ids.to_list()  # type: ignore[attr-defined]
    if lib == "pyarrow":
        return ids.to_pylist()  # type: ignore[attr-defined]
    if is_dlpack(ids) and hasattr(ids, "tolist"):
        return ids.tolist()
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
    if lib in ("numpy", "torch") or (lib not in _COLUMNAR and is_dlpack(features)):
        shape = features.shape  # type: ignore[attr-defined]
        structured = getattr(getattr(features, "dtype", None), "names", None)
        return int(shape[0]) if len(shape) > 1 or (len(shape) == 1 and structured) else 1
    if lib == "pandas" and hasattr(features, "columns"):
        return len(features)  # type: ignore[arg-type]
    if lib == "polars" and hasattr(features, "columns"):
        return int(features.height)  # type: ignore[attr-defined]
    if lib == "pyarrow" and hasattr(features, "column_names"):
        return int(features.num_rows)  # type: ignore[attr-defined]
    return 1


_COLUMNAR = ("pandas", "polars", "pyarrow")
#: Up to this many picked rows, polars and pyarrow inputs are read row by row instead of gathered.
_FEW = 16
_KNOWN = ("numpy", "torch", *_COLUMNAR)


def _rows_of(seq: Any, lib: str, picked: list[int]) -> list[Any] | HostRows:
    """A column's (or matrix's) items at ``picked``: host lists, or `HostRows` still leaving a device."""
    if lib == "numpy":
        return seq[picked].tolist()
    if lib == "torch":
        return torch_rows(seq, picked, False)
    if lib == "pandas":
        if _lib(seq.dtype) == "numpy":  # a view of the column: only the picked items are copied
            return seq.to_numpy()[picked].tolist()
        return seq.iloc[picked].to_numpy().tolist()
    if lib == "polars":  # a few items one by one (~0.2 us each) beat a gather (~15 us)
        return [seq[i] for i in picked] if len(picked) <= _FEW else seq[picked].to_list()
    if lib == "pyarrow":  # Array, ChunkedArray: likewise, scalars against take (~15 us)
        return [seq[i].as_py() for i in picked] if len(picked) <= _FEW else seq.take(picked).to_pylist()
    if lib == "dlpack":
        return dlpack_rows(seq, picked, False)
    if is_dlpack(seq):
        return _rows_of(*adopt(seq), picked)
    return [seq[i] for i in picked]


def take(seq: Any, picked: list[int], reduce: Callable[[Any], Any] | None = None) -> list[Any]:
    """The items of a column at the ``picked`` positions, selected before anything is copied.

    Items still on a device are `DeviceValue` placeholders; ``reduce`` maps each item (a row of a
    2-D column) to its value, now or when a placeholder is read.
    """
    if isinstance(seq, list | tuple | range):
        out = [seq[i] for i in picked]
    else:
        got = _rows_of(seq, _lib(seq), picked)
        if isinstance(got, HostRows):
            return [DeviceValue(got, j, reduce) for j in range(len(picked))]
        out = got
    if reduce is not None:  # it only changes rows (lists): no call for a plain item
        return [reduce(v) if type(v) is list else v for v in out]
    return out


def _named(row: Sequence[Any], names: Sequence[str] | None) -> dict[str, Any]:
    if names is not None and len(names) == len(row):
        return dict(zip(names, row, strict=False))  # the lengths are equal: no check per item
    k = 0 if names is None else len(names)
    return {(names[j] if names is not None and j < k else f"f{j}"): v for j, v in enumerate(row)}


def feature_rows(
    features: Any, picked: list[int], n: int, names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """One ``{feature: raw value}`` dict per picked row, for every supported features shape."""
    m = len(picked)
    if features is None:
        return [{} for _ in picked]
    if isinstance(features, list | tuple):
        if _is_flat(features):
            row = _named(features, names)
            return [dict(row) for _ in picked]
        return [_list_row(features[i], names) for i in picked]
    lib = _lib(features)
    if lib == "numpy":  # before the Mapping ABC check (~0.5 us), as torch below
        fields = features.dtype.names
        if fields:
            return [dict(zip(fields, r, strict=True)) for r in features[picked].tolist()]
        if features.ndim <= 1:
            row = _named(features.reshape(-1).tolist(), names)
            return [dict(row) for _ in picked]
        if m == 1 and features.ndim == 2:  # a low rate's usual one row: basic indexing, ~4x fancy
            return [_named(features[picked[0]].tolist(), names)]
        return [_named(r, names) for r in features[picked].reshape(m, -1).tolist()]
    if lib == "torch":
        return _tensor_rows(features, picked, names, True)
    if isinstance(features, Mapping):
        if _is_columns(features, n):
            keys = [str(k) for k in features]
            cols = [take(v, picked) for v in features.values()]
            return [dict(zip(keys, row, strict=True)) for row in zip(*cols, strict=True)]
        return [{str(k): v for k, v in features.items()} for _ in picked]
    if lib not in _KNOWN and is_dlpack(features):
        features, lib = adopt(features)
        if lib == "numpy":
            return feature_rows(features, picked, n, names)
    if lib in _COLUMNAR:
        return _frame_rows(features, picked, names, lib)
    if lib == "torch" or lib == "dlpack":  # adopted DLPack producers
        return _tensor_rows(features, picked, names, lib == "torch")
    raise TypeError(f"unsupported features type {type(features).__qualname__}")


def _list_row(r: Any, names: Sequence[str] | None) -> dict[str, Any]:
    """One row of a list of rows: a list or tuple of values, or a mapping."""
    t = type(r)
    if t is list or t is tuple or not isinstance(r, Mapping):
        return _named(r, names)
    return {str(k): v for k, v in r.items()}


def _frame_rows(
    features: Any, picked: list[int], names: Sequence[str] | None, lib: str
) -> list[dict[str, Any]]:
    """Rows of a pandas, polars or pyarrow frame (only the picked rows are taken), or of a 1-D column."""
    if lib == "pandas":
        if hasattr(features, "columns"):
            keys = [str(c) for c in features.columns]
            # object dtype keeps each column's own type (ints stay ints beside floats); ~15x itertuples
            rows = features.take(picked).to_numpy(dtype=object).tolist()
            return [dict(zip(keys, r, strict=True)) for r in rows]
        row = {str(k): v for k, v in features.items()}
        return [dict(row) for _ in picked]
    if lib == "polars" and hasattr(features, "columns"):
        keys = [str(c) for c in features.columns]
        few = len(picked) <= _FEW  # row(i) is ~1 us, a gather ~25 us
        rows = [features.row(i) for i in picked] if few else features[picked].rows()
        return [dict(zip(keys, r, strict=True)) for r in rows]
    if lib == "pyarrow" and hasattr(features, "column_names"):  # Table, RecordBatch
        if len(picked) > _FEW // 4:  # take is ~110 us, one row's scalars ~0.4 us a column
            return features.take(picked).to_pylist()
        keys = [str(c) for c in features.column_names]
        cols = features.columns
        return [{k: c[i].as_py() for k, c in zip(keys, cols, strict=True)} for i in picked]
    # a polars Series or pyarrow Array is one row, as a 1-D numpy array is
    values = features.to_list() if lib == "polars" else features.to_pylist()
    row = _named(values, names)
    return [dict(row) for _ in picked]


def _tensor_rows(
    features: Any, picked: list[int], names: Sequence[str] | None, torch: bool
) -> list[dict[str, Any]]:
    """Rows of a torch tensor or DLPack array; on a device, placeholders that the shipping thread fills."""
    m = len(picked)
    one = len(features.shape) <= 1  # one row of features: every picked row is that row
    src = features.reshape((1, -1)) if one else features
    at = [0] if one else picked
    got = torch_rows(src, at, True) if torch else dlpack_rows(src, at, True)

    def build(r: Sequence[Any]) -> dict[str, Any]:
        return _named(r, names)

    if isinstance(got, HostRows):
        return [DeviceRow(got, 0 if one else j, build) for j in range(m)]  # type: ignore[misc]
    if one:
        return [build(got[0]) for _ in picked]
    return [build(r) for r in got]


def _label(v: Any) -> Any:
    """A prediction row's value: a 1-element row's element, a longer row's arg-max column."""
    if isinstance(v, list):
        return v[0] if len(v) == 1 else max(range(len(v)), key=v.__getitem__)
    return v


def _positive(v: Any) -> Any:
    """A score row's positive-class probability: column 1 (column 0 of a 1-element row)."""
    if isinstance(v, list):
        return v[1] if len(v) > 1 else v[0]
    return v


def prediction_values(y: Any, picked: list[int]) -> list[Any]:
    """Predictions at the picked rows; a scalar is every row's, a 2-D row is its arg-max column."""
    t = type(y)
    if t is list or t is tuple:  # the common cases first, without the scalar checks
        return [_label(v) if type(v) is list else v for v in (y[i] for i in picked)]
    if _lib(y) == "numpy" and y.ndim == 1:
        return y[picked].tolist()
    if y is None or is_scalar(y):
        return [y] * len(picked)
    return take(y, picked, _label)


def score_values(scores: Any, picked: list[int]) -> list[Any]:
    """Positive-class scores at the picked rows: a 1-D column as is, a 2-D row's column 1."""
    if scores is None or is_scalar(scores):
        return [scores] * len(picked)
    return take(scores, picked, _positive)


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
    if t is DeviceValue:
        return plain(v.get())
    lib = _lib(v)
    if lib == "numpy" or lib == "torch":
        return plain(v.tolist())
    if lib == "pandas" and t.__name__ in ("NAType", "NaTType"):
        return None
    if lib == "pyarrow" and hasattr(v, "as_py"):
        return plain(v.as_py())
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
    if type(v) is DeviceValue:
        v = v.get()
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
