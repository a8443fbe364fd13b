"""Attributions computed where the model lives: the ``Monitor(explainer=...)`` hook and a shap adapter.

An explainer takes the feature dicts of a batch of sampled records and returns one attribution dict
per record, ``{"base": 0.12, "values": {"income": 0.31, "region": -0.05}}`` (``base`` may be None, an
entry may be None for a record it does not explain). The SDK calls it on its background thread,
once per outgoing batch, so a slow explainer delays shipping, never a serving call. Standard library
only at import: numpy and shap are imported by `shap_explainer`'s callable when it first runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: What ``Monitor(explainer=...)`` accepts: feature dicts in, one attribution dict (or None) per dict out.
Explainer = Callable[[list[dict[str, Any]]], Sequence[Mapping[str, Any] | None]]

#: Rows per call into shap. shap's C extension holds the GIL while it runs (interventional Tree SHAP
#: took 2 s for 200 rows with the serving thread stalled throughout); small calls let it switch.
DEFAULT_CHUNK_ROWS = 4


def checked_attributions(result: Any, n: int) -> list[dict[str, Any] | None]:
    """An explainer's result in wire shape: finite floats only, keys as strings of at most 128 characters.

    Raises TypeError or ValueError when it is not a sequence of ``n`` attribution dicts (or None). A NaN
    or infinite value is left out (JSON has no NaN); a non-finite base becomes None.
    """
    if isinstance(result, str | bytes | Mapping) or not isinstance(result, Sequence):
        raise TypeError(f"the explainer must return a list of attribution dicts, got {type(result).__name__}")
    if len(result) != n:
        raise ValueError(f"the explainer returned {len(result)} attributions for {n} records")
    return [None if item is None else _one(item) for item in result]


def _one(item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping) or not set(item) <= {"base", "values"}:
        raise TypeError(
            f'an attribution must be {{"base": number | None, "values": {{name: number}}}}, got {item!r}'
        )
    values = item.get("values")
    if not isinstance(values, Mapping):
        raise TypeError(f"attribution values must be a dict of feature name to number, got {values!r}")
    out: dict[str, float] = {}
    for key, value in values.items():
        number = _finite(value)
        if number is not None:
            out[str(key)[:128]] = number
    return {"base": _finite(item.get("base")), "values": out}


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool | str | bytes) or not hasattr(value, "__float__"):
        raise TypeError(f"attributions must be numbers, got {value!r}")
    number = float(value)
    return number if math.isfinite(number) else None


def shap_explainer(
    explainer: Any,
    feature_names: Sequence[str],
    *,
    class_index: int | None = None,
    encode: Callable[[list[dict[str, Any]]], Any] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Explainer:
    """Turn a shap explainer (``shap.TreeExplainer(model)``, ``shap.Explainer(...)``) or any callable
    that maps a feature matrix to a shap Explanation or an array of SHAP values into a Monitor explainer.

    ``feature_names`` name the matrix columns, in order. ``encode`` builds that matrix from the feature
    dicts (categoricals, one-hot columns); by default each name is read from each dict as a float, a
    missing or null value as NaN. ``class_index`` picks one output of a multi-output model (default:
    the last of two, the positive class; more outputs need it); a single output is used as it is. The
    rows are explained ``chunk_rows`` at a time so that shap's C code, which holds the GIL, stalls
    serving threads only briefly; the whole batch still runs on the SDK's background thread.
    """
    names = [str(n) for n in feature_names]
    if not names:
        raise ValueError("feature_names must name the explainer's input columns")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    if not callable(explainer):
        raise TypeError(f"explainer must be a shap explainer or a callable, got {type(explainer).__name__}")

    def explain(rows: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        import numpy as np  # the SDK stays stdlib-only: numpy comes with the explainer the caller passes

        x = np.asarray(encode(rows) if encode is not None else _matrix(rows, names), dtype=np.float64)
        if x.ndim != 2 or x.shape != (len(rows), len(names)):
            raise ValueError(f"the feature matrix has shape {x.shape}; expected ({len(rows)}, {len(names)})")
        out: list[dict[str, Any] | None] = []
        for start in range(0, len(rows), chunk_rows):
            values, base = _values_and_base(explainer(x[start : start + chunk_rows]), class_index)
            for row, b in zip(values.tolist(), base.tolist(), strict=True):
                out.append({"base": b, "values": dict(zip(names, row, strict=True))})
        return out

    return explain


def _matrix(rows: list[dict[str, Any]], names: list[str]) -> list[list[float]]:
    return [[math.nan if row.get(n) is None else float(row[n]) for n in names] for row in rows]


def _values_and_base(result: Any, class_index: int | None) -> tuple[Any, Any]:
    """(values n x features, base n) of one output from a shap Explanation, (values, base) or an array."""
    import numpy as np  # as above: only reached with a caller's shap explainer

    if hasattr(result, "values") and hasattr(result, "base_values"):
        values, base = np.asarray(result.values, np.float64), result.base_values
    elif isinstance(result, tuple) and len(result) == 2:
        values, base = np.asarray(result[0], np.float64), result[1]
    else:
        values, base = np.asarray(result, np.float64), None
    n = values.shape[0]
    base = (
        np.full(n, np.nan)
        if base is None
        else np.broadcast_to(np.asarray(base, np.float64), (n, *values.shape[2:]))
    )
    if values.ndim == 3:
        k = values.shape[2]
        index = class_index if class_index is not None else 1 if k == 2 else None
        if index is None:
            raise ValueError(f"the model has {k} outputs; pass class_index= to pick one")
        values, base = values[:, :, index], base[:, index]
    elif values.ndim != 2:
        raise ValueError(f"SHAP values have shape {values.shape}; expected (rows, features[, outputs])")
    return values, base.reshape(n)
