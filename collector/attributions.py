"""Attributions in the collector: the reference's (stored with it) and each window's, with their drift.

Prediction attributions come with the records (the SDK's explainer) or are computed here for a model the
spec registers under `explain:`; loss attributions need the model and labels, so only registered models
get them. Per window and feature, mean |SHAP| and its drift against the reference are stored.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from analyzers._values import spread
from analyzers.explain import AttributionDrift, Attributions, attribution_drift
from collector import db, repository
from collector.explainers import Explainers, loss_labels, matrix
from spec import Model

log = logging.getLogger("driftline.attributions")

#: Reference rows explained at most (evenly spaced): enough for a KS test against a window's sample.
MAX_REFERENCE_ROWS = 2000
KINDS = ("prediction", "loss")


def reference_attributions(
    explainers: Explainers,
    model: Model,
    reference_id: int,
    columns: Mapping[str, Sequence[Any]],
    labels: Sequence[Any] | None,
    sent: Sequence[Mapping[str, Any]] | None,
) -> tuple[dict[str, Any] | None, list[list[float]] | None, list[str]]:
    """(attributions to store with the reference, background rows, warnings).

    `sent`: per-row attributions the client computed (SDK-side explainers), stored as they are. For a
    registered model the collector explains the reference rows itself: prediction attributions, and loss
    attributions when labels came with the reference."""
    warnings: list[str] = []
    if model.explain is None:
        if sent is None:
            return None, None, warnings
        sent_names = sorted({k for rec in sent for k in rec.get("values", {})})
        return {"features": sent_names, "prediction": list(sent)}, None, warnings
    names = model.explain_features
    missing = [n for n in names if n not in columns]
    if missing:
        warnings.append(f"no attributions: the reference lacks the explained features {', '.join(missing)}")
        return None, None, warnings
    n = len(columns[names[0]])
    rows = [{name: columns[name][i] for name in names} for i in range(n)]
    x, usable = matrix(rows, names)
    ok = np.flatnonzero(usable)
    keep = ok[spread(len(ok), MAX_REFERENCE_ROWS)]
    background = x[ok[spread(len(ok), model.explain.background)]]
    out: dict[str, Any] = {"features": list(names)}
    try:
        worker = explainers.get(model, reference_id, background)
        out["prediction"] = worker.explain(x[keep]).to_records()
        if labels is not None and model.prediction_type in ("binary", "regression"):
            y = loss_labels([labels[i] for i in keep], model)
            out["loss"] = worker.explain_loss(x[keep], y).to_records()
    except Exception as exc:  # the reference's binning is still good: keep it, say what failed
        log.exception("explaining the reference of %s failed", model.name)
        warnings.append(f"no attributions: {type(exc).__name__}: {exc}")
    return out, background.tolist(), warnings


def _points(key: Any, kind: str, drift: Sequence[AttributionDrift], now: dt.datetime) -> list[dict[str, Any]]:
    def finite(v: float | None) -> float | None:
        return None if v is None or not np.isfinite(v) else float(v)

    return [
        {
            "model": key.model,
            "version": key.version,
            "feature": d.feature,
            "kind": kind,
            "window_seconds": key.seconds,
            "window_start": key.start,
            "window_end": key.end,
            "mean_abs": finite(d.mean_abs_current),
            "mean": finite(d.mean_current),
            "reference_mean_abs": finite(d.mean_abs_reference),
            "reference_mean": finite(d.mean_reference),
            "statistic": finite(d.ks),
            "p_value": finite(d.p_value),
            "p_adjusted": finite(d.p_adjusted),
            "status": d.status,
            "n": d.n_current,
            "n_reference": d.n_reference,
            "computed_at": now,
        }
        for d in drift
    ]


def evaluate_window(s: Session, explainers: Explainers, model: Model | None, key: Any) -> int:
    """Explain the window's records that lack attributions (registered models), then store mean |SHAP|
    and attribution drift per feature and kind; returns points stored."""
    ref_id = repository.latest_reference_id(s, model=key.model, version=key.version)
    stored = (repository.reference_attributions(s, ref_id) if ref_id is not None else None) or {}
    if not stored and (model is None or model.explain is None):
        return 0
    ref = repository.reference_by_id(s, ref_id) if ref_id is not None else None
    rows = repository.window_explained(s, model=key.model, version=key.version, start=key.start, end=key.end)
    if not rows:
        return 0
    names: list[str] = list(stored.get("features") or [])
    current: dict[str, Attributions] = {}
    if model is not None and model.explain is not None and ref is not None:
        names = list(model.explain_features)
        background = np.array((ref.sample or {}).get("explain_background") or [], dtype=np.float64)
        worker = explainers.get(model, ref.id, background if background.size else None)
        x, usable = matrix([r.features for r in rows], names)
        todo = np.flatnonzero(usable & np.array([r.attributions is None for r in rows]))
        if len(todo):
            found = worker.explain(x[todo]).to_records()
            for i, a in zip(todo.tolist(), found, strict=True):
                r = rows[i]
                rows[i] = repository.ExplainedRow(r.record_id, r.ts, r.features, a, r.label)
            repository.set_attributions(
                s,
                model=key.model,
                rows=[(rows[i].record_id, rows[i].ts, rows[i].attributions or {}) for i in todo],
            )
        labelled = np.flatnonzero(usable & np.array([r.label is not None for r in rows]))
        if len(labelled) and "loss" in stored and model.prediction_type in ("binary", "regression"):
            y = loss_labels([rows[i].label for i in labelled], model)
            current["loss"] = worker.explain_loss(x[labelled], y)
    if not names:
        names = sorted({k for r in rows if r.attributions for k in r.attributions.get("values", {})})
    current["prediction"] = Attributions.from_records([r.attributions for r in rows if r.attributions], names)
    now = db.utcnow()
    points: list[dict[str, Any]] = []
    levels = (
        {
            "min_count": model.explain.min_count,
            "alert": model.explain.alert,
            "min_effect": model.explain.min_effect,
        }
        if model is not None and model.explain is not None
        else {}
    )
    for kind in KINDS:
        if kind not in current or not stored.get(kind):
            continue
        reference = Attributions.from_records(stored[kind], names, kind=kind)  # type: ignore[arg-type]
        drift = attribution_drift(reference, current[kind], **levels)  # type: ignore[arg-type]
        points.extend(_points(key, kind, drift, now))
    repository.upsert_attributions(s, rows=points)
    return len(points)
