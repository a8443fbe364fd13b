"""KServe's Python model server: `monitored(model, monitor)` observes a `kserve.Model`'s `predict` through a
Driftline `Monitor`, for the v1 protocol (`{"instances": [...]}` in, `{"predictions": [...]}` out) and the
v2 one (`InferRequest` in, `InferResponse` out):

    model = MyModel("iris")            # a kserve.Model subclass, unchanged
    model.load()
    monitored(model, Monitor("iris", "v3", collector=..., token=os.environ["DRIFTLINE_TOKEN"]),
              feature_names=["sepal_length", ...])
    kserve.ModelServer().start([model])

The instance's `predict` is replaced by a wrapper of the same kind (sync or `async def`, which KServe
checks), so KServe's own preprocess, postprocess and metrics are untouched. Nothing here imports kserve;
like every SDK hook it never raises into serving: a payload it cannot read is served and counted only.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any, TypeVar

from ..monitor import Monitor
from ._tensors import feature_rows, predictions, record_ids, v1_predictions, v1_rows

M = TypeVar("M")


def _rows(payload: Any, names: Sequence[str] | None) -> tuple[list[dict[str, Any]] | None, str | None, bool]:
    """(feature rows, request id, v2?) of a predict payload; rows None when it cannot be read."""
    try:
        if isinstance(payload, dict):
            return v1_rows(payload.get("instances", payload.get("inputs")), names), None, False
        return feature_rows(payload.inputs, names), getattr(payload, "id", None), True
    except Exception:
        return None, None, False


def _predictions(result: Any, n: int, v2: bool) -> list[Any] | None:
    try:
        return predictions(result.outputs, n) if v2 else v1_predictions(result, n)
    except Exception:
        return None


def monitored(model: M, monitor: Monitor, feature_names: Sequence[str] | None = None) -> M:
    """Observe `model.predict` (a kserve.Model) with `monitor`; returns the same model."""
    inner = model.predict  # type: ignore[attr-defined]
    names = list(feature_names) if feature_names is not None else None

    if inspect.iscoroutinefunction(inner):

        @functools.wraps(inner)
        async def predict_async(payload: Any, *args: Any, **kwargs: Any) -> Any:
            rows, rid, v2 = _rows(payload, names)
            n = len(rows) if rows else 1
            with monitor.observe(ids=record_ids(rid, n), features=rows) as obs:
                result = await inner(payload, *args, **kwargs)
                y = _predictions(result, n, v2) if rows else None
                if y is not None:
                    obs.predictions(y)
            return result

        model.predict = predict_async  # type: ignore[attr-defined]
    else:

        @functools.wraps(inner)
        def predict(payload: Any, *args: Any, **kwargs: Any) -> Any:
            rows, rid, v2 = _rows(payload, names)
            n = len(rows) if rows else 1
            with monitor.observe(ids=record_ids(rid, n), features=rows) as obs:
                result = inner(payload, *args, **kwargs)
                y = _predictions(result, n, v2) if rows else None
                if y is not None:
                    obs.predictions(y)
            return result

        model.predict = predict  # type: ignore[attr-defined]
    return model
