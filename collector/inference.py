"""Open Inference Protocol v2 tensors (Triton, KServe v2, MLServer) to the rows of a record batch.

A request's named input tensors become each row's features and a response's output tensors its prediction
and score, through the model's `tensors:` section of the spec (`spec.tensors`). Everything refused is an
`InputError` naming the tensor and the fix; the rows then go through the same ingest as the SDK's records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from collector.service import InputError
from spec import Model
from spec.tensors import TensorSpec

_INTS = {f"{s}INT{b}" for s in ("", "U") for b in (8, 16, 32, 64)}
_FLOATS = {"FP16", "FP32", "FP64", "BF16"}
#: Every datatype the protocol defines that a record can hold: numbers, booleans and text (BYTES).
DATATYPES = frozenset({"BOOL", "BYTES", *_INTS, *_FLOATS})
#: Deepest nesting of a tensor's `data` read (a tensor has a few dimensions, not thousands).
MAX_RANK = 8
_NO_SPEC = TensorSpec()


@dataclass(frozen=True)
class Tensor:
    """One named tensor, its data flattened row-major."""

    name: str
    shape: tuple[int, ...]
    datatype: str
    values: list[Any]

    @property
    def rows(self) -> int:
        """The first dimension: one row per prediction (a scalar tensor is one row)."""
        return self.shape[0] if self.shape else 1

    @property
    def width(self) -> int:
        """Values per row: the product of the dimensions after the first."""
        return math.prod(self.shape[1:])

    def column(self, j: int) -> list[Any]:
        """The `j`th value of every row."""
        w = self.width
        return self.values[j::w] if w else []


def _flatten(data: Any, loc: list[str | int], depth: int = 0) -> list[Any]:
    """Nested lists to one row-major list; anything deeper than MAX_RANK is refused."""
    if not isinstance(data, list):
        return [data]
    if depth >= MAX_RANK:
        raise InputError(422, loc, f"data is nested deeper than {MAX_RANK} levels: send it flat, row-major")
    if not any(isinstance(v, list) for v in data):
        return data
    out: list[Any] = []
    for v in data:
        out += _flatten(v, loc, depth + 1)
    return out


def _value(v: Any, datatype: str) -> Any:
    """A JSON value checked against its tensor's datatype; a mismatch raises TypeError."""
    if datatype == "BYTES":
        if isinstance(v, str):
            return v
    elif datatype == "BOOL":
        if isinstance(v, bool):
            return v
    elif datatype in _INTS:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    elif isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    raise TypeError(type(v).__name__)


def decode(payload: Any, key: str, loc: list[str | int]) -> dict[str, Tensor]:
    """The `inputs` or `outputs` of a v2 body as named tensors; every malformed part is a 422 naming it."""
    if not isinstance(payload, dict) or not isinstance(payload.get(key), list):
        raise InputError(
            422,
            [*loc, key],
            f"a v2 inference body has a list {key!r} of tensors: {{'name', 'shape', 'datatype', 'data'}}",
        )
    out: dict[str, Tensor] = {}
    for i, t in enumerate(payload[key]):
        at = [*loc, key, i]
        if not isinstance(t, dict):
            raise InputError(422, at, "a tensor is an object with name, shape, datatype and data")
        name, shape, datatype, data = (t.get(k) for k in ("name", "shape", "datatype", "data"))
        if not isinstance(name, str) or not name:
            raise InputError(422, [*at, "name"], "every tensor needs a name")
        if name in out:
            raise InputError(422, [*at, "name"], f"tensor {name!r} is sent twice: send each tensor once")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise InputError(
                422, [*at, "shape"], f"tensor {name!r}: shape must be a list of non-negative integers"
            )
        if datatype not in DATATYPES:
            raise InputError(
                422,
                [*at, "datatype"],
                f"tensor {name!r}: datatype {datatype!r} is not a numeric, BOOL or BYTES type of the v2 protocol "
                f"(one of {', '.join(sorted(DATATYPES))})",
            )
        if data is None:
            raise InputError(
                422, [*at, "data"], f"tensor {name!r} has no data: send it in JSON, not as binary data"
            )
        flat = _flatten(data, [*at, "data"])
        if len(flat) != math.prod(shape):
            raise InputError(
                422,
                [*at, "data"],
                f"tensor {name!r}: shape {shape} holds {math.prod(shape)} values but data has {len(flat)}: "
                "send one value per element, row-major",
            )
        try:
            values = [_value(v, datatype) for v in flat]
        except TypeError as exc:
            raise InputError(
                422,
                [*at, "data"],
                f"tensor {name!r}: a {exc} value in {datatype} data: send {datatype} values",
            ) from None
        out[name] = Tensor(name, tuple(shape), datatype, values)
    return out


def _one_column(t: Tensor, loc: list[str | int], what: str) -> list[Any]:
    if t.width != 1:
        raise InputError(
            422,
            loc,
            f"tensor {t.name!r} of shape {list(t.shape)} has {t.width} values per row: {what} takes one",
        )
    return t.values


def features(model: Model, inputs: dict[str, Tensor], loc: list[str | int]) -> list[dict[str, Any]]:
    """Each row's features from the named input tensors, mapped by the spec (or by the defaults)."""
    spec = model.tensors or _NO_SPEC
    declared = [f.name for f in model.features]
    mapping: dict[str, str | tuple[str, ...]]
    if spec.inputs is not None:
        mapping = spec.inputs
        where = f"models[{model.name}].tensors.inputs"
    elif len(inputs) == 1 and next(iter(inputs.values())).width == len(declared) > 1:
        mapping = {next(iter(inputs)): tuple(declared)}
        where = "the declared features"
    else:
        mapping = {n: n for n in inputs if n in declared}
        where = "the declared features"
    for name in inputs:
        if name not in mapping:
            raise InputError(
                422,
                [*loc, "inputs", name],
                f"unknown tensor name {name!r}: it is not in {where} ({', '.join(sorted(mapping)) or 'none'}); "
                f"map it under models[].tensors.inputs in the spec",
            )
    missing = sorted(set(mapping) - set(inputs))
    if missing:
        raise InputError(
            422, [*loc, "inputs"], f"input tensor {missing[0]!r} is missing: the spec maps it to features"
        )
    rows = {t.rows for t in inputs.values()}
    if len(rows) > 1:
        raise InputError(
            422,
            [*loc, "inputs"],
            f"input tensors have different row counts {sorted(rows)}: send one row per prediction",
        )
    n = rows.pop() if rows else 0
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for name, target in mapping.items():
        t = inputs[name]
        names = (target,) if isinstance(target, str) else target
        if t.width != len(names):
            raise InputError(
                422,
                [*loc, "inputs", name],
                f"tensor {name!r} of shape {list(t.shape)} has {t.width} columns, the spec maps {len(names)} "
                f"features ({', '.join(names)}): send one column per feature",
            )
        for j, feature in enumerate(names):
            for row, v in zip(out, t.column(j), strict=True):
                row[feature] = v
    return out


def outputs(model: Model, tensors: dict[str, Tensor], loc: list[str | int]) -> list[tuple[Any, float | None]]:
    """Each row's (prediction, score) from the named output tensors."""
    spec = model.tensors or _NO_SPEC
    for mapped in (spec.prediction, spec.score):
        if mapped is not None and mapped not in tensors:
            raise InputError(
                422,
                [*loc, "outputs"],
                f"output tensor {mapped!r} named in the spec is missing (sent: {', '.join(sorted(tensors)) or 'none'})",
            )
    pred_name = spec.prediction
    if pred_name is None:
        rest = [n for n in tensors if n != spec.score]
        if len(rest) > 1:
            raise InputError(
                422,
                [*loc, "outputs"],
                f"several output tensors ({', '.join(rest)}): name the prediction's in models[].tensors.prediction",
            )
        pred_name = rest[0] if rest else None
    preds = (
        _one_column(tensors[pred_name], [*loc, "outputs", pred_name], "a prediction") if pred_name else None
    )
    scores: list[Any] | None = None
    if spec.score is not None:
        t = tensors[spec.score]
        col = spec.score_column if spec.score_column is not None else (1 if t.width == 2 else 0)
        if col >= t.width or (spec.score_column is None and t.width > 2):
            raise InputError(
                422,
                [*loc, "outputs", spec.score],
                f"score tensor {t.name!r} has {t.width} columns: name the positive class's in "
                "models[].tensors.score_column",
            )
        if t.datatype not in _FLOATS:
            raise InputError(
                422,
                [*loc, "outputs", spec.score],
                f"score tensor {t.name!r} is {t.datatype}: a score is a float",
            )
        scores = t.column(col)
    n = {len(x) for x in (preds, scores) if x is not None}
    if len(n) > 1:
        raise InputError(422, [*loc, "outputs"], f"output tensors have different row counts {sorted(n)}")
    rows = n.pop() if n else 0
    return [(preds[i] if preds else None, scores[i] if scores else None) for i in range(rows)]


def record_ids(request_id: str, n: int) -> list[str]:
    """Record ids of a request's rows: the request id for one row, `<id>-<row>` for each of several (labels
    join on these)."""
    return [request_id] if n == 1 else [f"{request_id}-{i}" for i in range(n)]


def slices(model: Model, row: dict[str, Any]) -> dict[str, Any] | None:
    """The declared slice columns of a row, as the SDK's users pass them."""
    out = {s: row[s] for s in model.slices if s in row}
    return out or None
