"""SHAP for models registered in the spec (`explain:`), computed in a worker process.

shap's tree code holds the GIL for seconds on a few hundred rows (interventional Tree SHAP: 1.9 s for
200 rows, measured), which would stall the API's threads; a one-process pool keeps the collector
answering. The worker loads the model once per reference (whose rows are the background).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from analyzers.explain import Attributions, TreeAttributor, load_model
from analyzers.performance import same_class
from spec import Model

log = logging.getLogger("driftline.explain")

_setup: tuple[Any, ...] = ()  # the worker's model path and SHA-256, feature names, background, class index
_attributor: Any = None  # its TreeAttributor, built on first use


def _init(
    path: str, sha256: str, names: tuple[str, ...], background: np.ndarray | None, class_index: int | None
) -> None:
    global _setup
    _setup = (path, sha256, names, background, class_index)
    threading.Thread(
        target=_exit_with, args=(os.getppid(),), name="driftline-parent-watch", daemon=True
    ).start()


def _exit_with(parent: int) -> None:
    """End this worker when the collector that started it is gone (killed, so it could not shut the pool
    down): an orphaned worker would hold the model's memory forever."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _worker_attributor() -> Any:
    """Load the model on first use, not in the pool's initializer: an initializer's exception only breaks
    the pool, while this one reaches the caller with its message (say, which file is missing, or that its
    SHA-256 is not the one the spec pins: such a file is never unpickled)."""
    global _attributor
    if _attributor is None:
        path, sha256, names, background, class_index = _setup
        model = load_model(path, sha256=sha256)
        _attributor = TreeAttributor(model, names, background=background, class_index=class_index)
    return _attributor


def _explain(x: np.ndarray) -> Attributions:
    return _worker_attributor().explain(x)


def _explain_loss(x: np.ndarray, y: np.ndarray) -> Attributions:
    return _worker_attributor().explain_loss(x, y)


def matrix(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(X, usable): rows as a float matrix in `names` order, and which rows have a finite number in every
    column (only those are explained: a tree model's attributions of a missing value mean little)."""
    x = np.full((len(rows), len(names)), np.nan)
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            v = row.get(name)
            if isinstance(v, int | float) and not isinstance(v, bool):
                x[i, j] = v
    return x, np.isfinite(x).all(axis=1)


def loss_labels(labels: Sequence[Any], model: Model) -> np.ndarray:
    """Labels as the loss needs them: 0/1 (positive class) for binary models, floats for regressors."""
    if model.prediction_type == "binary":
        pos = 1 if model.positive_class is None else model.positive_class
        return np.array([1.0 if same_class(y, pos) else 0.0 for y in labels])
    return np.array([float(y) for y in labels])


class ModelExplainer:
    """One registered model in a worker process, with one reference's rows as its background."""

    def __init__(self, model: Model, background: np.ndarray | None) -> None:
        assert model.explain is not None
        self.names = model.explain_features
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),  # forking a threaded server is unsafe
            initializer=_init,
            initargs=(
                model.explain.model,
                model.explain.sha256,
                self.names,
                background,
                model.explain.class_index,
            ),
        )

    def explain(self, x: np.ndarray) -> Attributions:
        """Attributions of the model's output for rows `x`, computed in the worker process."""
        return self._pool.submit(_explain, x).result()

    def explain_loss(self, x: np.ndarray, y: np.ndarray) -> Attributions:
        """Attributions of the model's loss for rows `x` with labels `y`, in the worker process."""
        return self._pool.submit(_explain_loss, x, y).result()

    def close(self) -> None:
        """Stop the worker now: a running shap call is not waited for, the process is terminated."""
        processes = list(getattr(self._pool, "_processes", {}).values())  # private, hence the fallback
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            p.terminate()


class Explainers:
    """Worker per (model, reference id), started on first use and replaced when the reference changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: dict[str, tuple[int | None, ModelExplainer]] = {}

    def get(self, model: Model, reference_id: int | None, background: np.ndarray | None) -> ModelExplainer:
        """The model's worker for this reference, started (or restarted for a new reference) on demand."""
        with self._lock:
            held = self._workers.get(model.name)
            if held is not None and held[0] == reference_id:
                return held[1]
            if held is not None:
                held[1].close()
            worker = ModelExplainer(model, background)
            self._workers[model.name] = (reference_id, worker)
            return worker

    def close(self) -> None:
        """Stop every model's worker process."""
        with self._lock:
            for _, worker in self._workers.values():
                worker.close()
            self._workers.clear()
