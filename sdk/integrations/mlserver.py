"""MLServer: `DriftlineRuntime` runs another MLServer runtime and reports each inference through a Driftline
`Monitor`, configured in model-settings.json alone (no code change):

    {"name": "iris", "implementation": "sdk.integrations.mlserver.DriftlineRuntime",
     "parameters": {"uri": "./model.joblib", "extra": {"driftline": {
         "runtime": "mlserver_sklearn.SKLearnModel", "collector": "http://driftline:8650",
         "model": "iris", "version": "v3", "feature_names": ["sepal_length", "..."], "sample_rate": 0.01}}}}

The token comes from the DRIFTLINE_TOKEN environment variable (never from the settings file). `mlserver` is
imported when the class is first looked up, so `import sdk` stays standard-library only. Like every SDK hook
it never raises into serving: a payload it cannot read is served and counted, its rows not sampled.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from ..monitor import Monitor
from ._tensors import feature_rows, predictions, record_ids

_cache: dict[str, type] = {}


def _import(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def monitor_from(conf: dict[str, Any], name: str, version: str | None) -> Monitor:
    """The Monitor a runtime's `driftline` settings describe (model and version default to MLServer's)."""
    return Monitor(
        str(conf.get("model") or name),
        str(conf.get("version") or version or "unversioned"),
        collector=conf.get("collector") or os.environ.get("DRIFTLINE_COLLECTOR"),
        token=os.environ.get("DRIFTLINE_TOKEN"),
        sample_rate=float(conf.get("sample_rate", 0.01)),
        redact=tuple(conf.get("redact", ())),
        flush_interval=float(conf.get("flush_interval", 1.0)),
    )


def _runtime_class() -> type:
    """Build `DriftlineRuntime` on MLServer's `MLModel` (imported here, on first use)."""
    from mlserver import MLModel  # lazily: only MLServer's process has it, `import sdk` stays stdlib
    from mlserver.types import InferenceRequest, InferenceResponse  # (the same)

    class DriftlineRuntime(MLModel):
        """Wraps the runtime named in `parameters.extra.driftline.runtime`; observes its `predict`."""

        async def load(self) -> bool:
            extra = (self.settings.parameters.extra or {}) if self.settings.parameters else {}
            conf = dict(extra.get("driftline") or {})
            self._inner = _import(str(conf["runtime"]))(self.settings)
            self._names = conf.get("feature_names")
            self._monitor = monitor_from(conf, self.name, self.version)
            self.ready = bool(await self._inner.load())
            return self.ready

        async def unload(self) -> bool:
            self._monitor.close()
            return bool(await self._inner.unload())

        async def predict(self, payload: InferenceRequest) -> InferenceResponse:
            try:
                rows: list[dict[str, Any]] | None = feature_rows(payload.inputs, self._names)
            except Exception:  # a payload we cannot read is still served and counted
                rows = None
            n = len(rows) if rows else 1
            with self._monitor.observe(ids=record_ids(payload.id, n), features=rows) as obs:
                response = await self._inner.predict(payload)
                if rows:
                    y = predictions(response.outputs, n)
                    if y is not None:
                        obs.predictions(y)
            return response

    return DriftlineRuntime


def __getattr__(name: str) -> Any:
    """`DriftlineRuntime`, built on first lookup (MLServer finds it by its import path)."""
    if name == "DriftlineRuntime":
        if name not in _cache:
            _cache[name] = _runtime_class()
        return _cache[name]
    raise AttributeError(name)
