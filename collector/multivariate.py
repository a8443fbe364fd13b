"""Multivariate and embedding drift in the collector: a reference sample stored with the reference, and
per window one kernel two-sample test (alibi-detect MMD or LSDD) over the tabular features jointly plus
one per embedding feature, stored as drift points (feature `*` for the joint test)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from analyzers._values import spread
from analyzers.multivariate import DetectorCache, MultivariateDetector, VectorSchema, encode, fit_schema
from collector import db, repository
from spec import Model

log = logging.getLogger("driftline.multivariate")
#: The drift point's feature for the joint test of the tabular features.
JOINT = "*"


def groups(model: Model) -> dict[str, dict[str, str]]:
    """Each test's features and kinds: the tabular ones jointly under `*`, each embedding on its own."""
    kinds = {f.name: f.type for f in model.features}
    out: dict[str, dict[str, str]] = {}
    if model.multivariate is None:
        return out
    if model.multivariate_features:
        out[JOINT] = {name: kinds[name] for name in model.multivariate_features}
    for name in model.embedding_features:
        out[name] = {name: "embedding"}
    return out


def reference_sample(
    model: Model, columns: Mapping[str, Sequence[Any]]
) -> tuple[dict[str, Any] | None, list[str]]:
    """Per test: the vector schema fitted on the whole reference and an evenly spaced sample of its rows
    (at most `max_samples`, what the detector keeps); and warnings for tests that cannot be set up."""
    if model.multivariate is None:
        return None, []
    out: dict[str, Any] = {}
    warnings: list[str] = []
    for group, kinds in groups(model).items():
        missing = [k for k in kinds if k not in columns]
        if missing:
            warnings.append(f"no multivariate drift for {group}: the reference lacks {', '.join(missing)}")
            continue
        cols = {k: list(columns[k]) for k in kinds}
        n = len(next(iter(cols.values())))
        keep = spread(n, model.multivariate.max_samples).tolist()
        try:
            schema = fit_schema(cols, kinds=kinds)
        except ValueError as exc:
            warnings.append(f"no multivariate drift for {group}: {exc}")
            continue
        out[group] = {"schema": schema.to_dict(), "rows": {k: [v[i] for i in keep] for k, v in cols.items()}}
    return out or None, warnings


def _one_cpu_thread() -> None:
    """On CPU, torch's kernels run on one thread: with two, a test stalls whenever the API holds a core
    (bench/README.md: 0.04-2.6 s instead of a steady 0.07-0.09 s at 250 rows)."""
    import torch  # optional heavy extra (alibi-detect's backend): imported only when a detector is fitted

    if not torch.cuda.is_available():
        torch.set_num_threads(1)


def evaluate_window(s: Session, cache: DetectorCache, model: Model | None, key: Any) -> int:
    """Test the window's records against the reference sample, one test per group; returns points stored."""
    if model is None or model.multivariate is None:
        return 0
    ref = repository.latest_reference(s, model=key.model, version=key.version)
    stored = ((ref.sample or {}).get("multivariate") or {}) if ref is not None else {}
    if ref is None or not stored:
        return 0
    mv = model.multivariate
    rows = repository.window_records(s, model=key.model, version=key.version, start=key.start, end=key.end)
    now = db.utcnow()
    points = []
    for group, saved in stored.items():
        schema = VectorSchema.from_dict(saved["schema"])

        def fit(saved: dict[str, Any] = saved, schema: VectorSchema = schema) -> MultivariateDetector:
            _one_cpu_thread()
            return MultivariateDetector(
                encode(saved["rows"], schema),
                mv.method,
                p_val=mv.p_value,
                n_permutations=mv.n_permutations,
                max_samples=mv.max_samples,
                min_count=min(model.drift.min_count, mv.max_samples),
            )

        detector = cache.get((ref.id, group, mv.method, mv.n_permutations, mv.max_samples), fit)
        result = detector.test(encode(rows, schema) if rows else np.zeros((0, schema.dim), np.float32))
        status = {"drift": "alert", "ok": "ok"}.get(result.status, "insufficient_data")
        points.append(
            {
                "model": key.model,
                "version": key.version,
                "feature": group,
                "metric": mv.method,
                "window_seconds": key.seconds,
                "window_start": key.start,
                "window_end": key.end,
                "value": None if not np.isfinite(result.distance) else result.distance,
                "status": status,
                "n_reference": result.n_reference,
                "n_current": result.n_current,
                "reference_id": ref.id,
                "computed_at": now,
                "p_value": result.p_value,
                "p_adjusted": None,
                "correction": None,
            }
        )
    repository.upsert_drift(s, rows=points)
    return len(points)
