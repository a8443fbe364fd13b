"""Rows of features and predictions from the request and response objects model servers pass around:
Open Inference Protocol v2 tensors (MLServer's RequestInput, KServe's InferInput: `name`, `shape`,
`datatype`, `data` or `as_numpy()`) and KServe's v1 bodies (`{"instances": [...]}`, `{"predictions": [...]}`).

Standard library only: the objects are read by their attributes, never imported. The rules are the
collector's defaults for `POST /v1/inference/{model}` (docs/api.md): a single 2-D input's columns are the
features in order, tensors of one value per row are features named like the tensor, and the first output
tensor is the prediction. Record ids are the request id for one row and `<id>-<row>` for several, as the
collector makes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def _flat(data: Any) -> list[Any]:
    """A tensor's values, flattened row-major (nested lists, numpy arrays, or MLServer's TensorData)."""
    if hasattr(data, "tolist"):
        data = data.tolist()
    data = getattr(data, "root", data)
    if not isinstance(data, list | tuple):
        return [data]
    out: list[Any] = []
    for v in data:
        out += _flat(v) if isinstance(v, list | tuple) or hasattr(v, "tolist") else [v]
    return out


def _tensor(t: Any) -> tuple[str, list[int], list[Any]]:
    """(name, shape, flat values) of a v2 tensor object."""
    data = t.as_numpy() if hasattr(t, "as_numpy") else t.data
    values = _flat(data)
    shape = [int(d) for d in t.shape] or [1]
    return str(t.name), shape, values


def _bytes(v: Any) -> Any:
    return v.decode(errors="replace") if isinstance(v, bytes) else v


def feature_rows(inputs: Sequence[Any], names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One dict of features per row from v2 input tensors; a 2-D input's columns take `names` (in order)
    or `<tensor>_<column>`."""
    rows: list[dict[str, Any]] = []
    for t in inputs:
        name, shape, values = _tensor(t)
        n = shape[0]
        width = math.prod(shape[1:]) if len(shape) > 1 else 1
        if not rows:
            rows = [{} for _ in range(n)]
        if len(rows) != n or len(values) != n * width:
            raise ValueError(f"tensor {name!r} of shape {shape} does not match the other inputs' rows")
        cols = list(names) if names is not None and width > 1 else None
        if cols is not None and len(cols) != width:
            raise ValueError(f"tensor {name!r} has {width} columns but {len(cols)} feature names were given")
        for i, row in enumerate(rows):
            for j in range(width):
                key = name if width == 1 else (cols[j] if cols else f"{name}_{j}")
                row[key] = _bytes(values[i * width + j])
    return rows


def predictions(outputs: Sequence[Any], n: int) -> list[Any] | None:
    """The first output tensor's value per row (a row of several values stays a list); None when the
    response has no output or another row count."""
    if not outputs:
        return None
    _, shape, values = _tensor(outputs[0])
    if shape[0] != n or not values:
        return None
    width = len(values) // n
    if width == 1:
        return [_bytes(v) for v in values]
    return [values[i * width : (i + 1) * width] for i in range(n)]


def record_ids(request_id: str | None, n: int) -> list[str] | None:
    """The ids the collector gives the rows of request `request_id`; None (generated ids) without one."""
    if not request_id:
        return None
    return [request_id] if n == 1 else [f"{request_id}-{i}" for i in range(n)]


def v1_rows(instances: Any, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows of KServe's v1 `instances`: lists (columns named by `names` or `f_<column>`) or dicts."""
    rows: list[dict[str, Any]] = []
    for inst in _flat_rows(instances):
        if isinstance(inst, dict):
            rows.append(dict(inst))
        else:
            values = _flat(inst)
            cols = list(names) if names is not None else [f"f_{j}" for j in range(len(values))]
            rows.append(dict(zip(cols, values, strict=False)))
    return rows


def _flat_rows(instances: Any) -> list[Any]:
    if hasattr(instances, "tolist"):
        instances = instances.tolist()
    return list(instances) if isinstance(instances, list | tuple) else [instances]


def v1_predictions(result: Any, n: int) -> list[Any] | None:
    """Per-row predictions of a v1 answer: `{"predictions": [...]}` or the bare list or array."""
    if isinstance(result, dict):
        result = result.get("predictions")
    if result is None:
        return None
    values = _flat_rows(result)
    return values if len(values) == n else None
