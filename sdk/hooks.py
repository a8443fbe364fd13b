"""Observing a model without writing the with-block: a decorator for predict functions and a model proxy.

``@mon.observed`` wraps a ``predict(features) -> predictions`` function (sync or ``async def``) and
``mon.wrap(model)`` returns an `ObservedModel` whose scikit-learn-style ``predict`` and ``predict_proba``
are observed. Both call ``Monitor.observe`` exactly as serving code would, so they count, sample and
take request ids (`sdk.context`) the same way, and like it they never raise anything but the model's own
exception. Nothing here imports a framework: the model is only called, never inspected beyond
``classes_`` and ``feature_names_in_``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from .monitor import Monitor

F = TypeVar("F", bound=Callable[..., Any])


def _features_position(fn: Callable[..., Any]) -> tuple[int, str | None]:
    """Where the features are in a call of ``fn``: the first parameter that is not ``self`` or ``cls``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 0, None
    for i, p in enumerate(params):
        if p.name not in ("self", "cls") and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            return i, p.name
    return 0, None


@overload
def observed(mon: Monitor, fn: F, *, scores: bool = False, feature_names: Sequence[str] | None = None) -> F: ...


@overload
def observed(
    mon: Monitor, fn: None = None, *, scores: bool = False, feature_names: Sequence[str] | None = None
) -> Callable[[F], F]: ...


def observed(
    mon: Monitor, fn: Any = None, *, scores: bool = False, feature_names: Sequence[str] | None = None
) -> Any:
    """Decorate ``predict(features, ...) -> predictions`` so every call is observed (``Monitor.observed``).

    The features are the first argument (after ``self``), the predictions the return value; with
    ``scores=True`` the return value is class probabilities (one row per input row): the prediction is
    each row's arg-max column and the score its column 1. Works on ``async def`` functions too (the
    latency then includes what the function awaited). Usable bare (``@mon.observed``) or with options.
    """
    if fn is None:
        return lambda f: observed(mon, f, scores=scores, feature_names=feature_names)
    index, name = _features_position(fn)
    names = list(feature_names) if feature_names is not None else None

    def features_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return args[index] if len(args) > index else kwargs.get(name) if name is not None else None

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with mon.observe(features=features_of(args, kwargs), feature_names=names) as obs:
                y = await fn(*args, **kwargs)
                obs.predictions(y, y if scores else None)
            return y

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with mon.observe(features=features_of(args, kwargs), feature_names=names) as obs:
            y = fn(*args, **kwargs)
            obs.predictions(y, y if scores else None)
        return y

    return wrapper


class _ArgmaxLabels:
    """The predicted class of each row of a probability matrix, computed only for the rows asked for."""

    __slots__ = ("_classes", "_proba")

    def __init__(self, proba: Any, classes: Any) -> None:
        self._proba = proba
        self._classes = classes

    def __len__(self) -> int:
        return len(self._proba)

    def __getitem__(self, i: int) -> Any:
        row = self._proba[i]
        best = max(range(len(row)), key=row.__getitem__)
        return self._classes[best] if self._classes is not None else best


class ObservedModel:
    """A model whose ``predict`` and ``predict_proba`` are observed; every other attribute is the model's.

    ``predict(X)`` records its result as the predictions. ``predict_proba(X)`` records each row's most
    probable class (from ``classes_`` when the model has it) as the prediction and column 1 as the score,
    computed for the sampled rows only. Feature names come from a DataFrame's columns, else from
    ``feature_names``, else from the model's ``feature_names_in_``. ``wrapped`` is the model itself.
    """

    __slots__ = ("_mon", "_names", "wrapped")

    def __init__(self, mon: Monitor, model: Any, feature_names: Sequence[str] | None = None) -> None:
        object.__setattr__(self, "_mon", mon)
        object.__setattr__(self, "wrapped", model)
        names = feature_names if feature_names is not None else getattr(model, "feature_names_in_", None)
        object.__setattr__(self, "_names", [str(c) for c in names] if names is not None else None)

    def _predict(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        with self._mon.observe(features=X, feature_names=self._names) as obs:
            y = self.wrapped.predict(X, *args, **kwargs)
            obs.predictions(y)
        return y

    def _predict_proba(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        with self._mon.observe(features=X, feature_names=self._names) as obs:
            p = self.wrapped.predict_proba(X, *args, **kwargs)
            obs.predictions(_ArgmaxLabels(p, getattr(self.wrapped, "classes_", None)), p)
        return p

    def __getattr__(self, name: str) -> Any:
        # predict and predict_proba exist exactly when the model has them (hasattr answers as for it)
        attr = getattr(self.wrapped, name)
        if name == "predict" and callable(attr):
            return self._predict
        if name == "predict_proba" and callable(attr):
            return self._predict_proba
        return attr

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.wrapped, name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self.wrapped)) | {"wrapped"})

    def __repr__(self) -> str:
        return f"ObservedModel({self.wrapped!r})"
