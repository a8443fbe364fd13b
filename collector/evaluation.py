"""The evaluation loop: re-evaluates every event-time window that received data, stores and exports drift.

Windows follow event time (when a prediction happened): a record that arrives late lands in its own
window, and that window is evaluated again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from analyzers.binning import FeatureReference
from analyzers.drift import DriftValue, correct_p_values, feature_drift
from analyzers.estimation import Calibrator, estimate_accuracy
from analyzers.multivariate import DetectorCache
from analyzers.performance import DEFAULT_RESAMPLES, LabelledRow, PerformanceValue, window_performance
from analyzers.quality import window_quality
from collector import attributions, db, multivariate, repository
from collector.explainers import Explainers
from collector.metrics import MetricsState
from collector.slos import SLOReport, gauges, slo_reports
from driftline.spec import Drift, ResolvedSpec

log = logging.getLogger("driftline.evaluation")

#: Records are stamped `received_at` before their transaction commits; looking back this far on each
#: tick catches those that committed after the previous tick read past their stamp.
COMMIT_GRACE = dt.timedelta(seconds=30)
DEFAULT_DRIFT = Drift(
    window_seconds=3600, metrics=("psi", "kl", "js"), warn=0.1, alert=0.25, bins=10, min_count=30
)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MULTIVARIATE_METRICS = ("mmd", "lsdd")


def window_start(ts: dt.datetime, seconds: int) -> dt.datetime:
    """Start of the aligned window of `seconds` holding event time `ts`."""
    epoch = int(ts.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC)


@dataclass(frozen=True)
class WindowKey:
    model: str
    version: str
    start: dt.datetime
    seconds: int

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.seconds)


class Evaluator:
    """Finds windows touched since the last tick, computes their drift, stores it and updates /metrics."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        spec: ResolvedSpec | None,
        state: MetricsState,
        clock: Callable[[], dt.datetime] = db.utcnow,
        *,
        max_slice_values: int = 20,
        min_label_coverage: float = 0.5,
        bootstrap_resamples: int = DEFAULT_RESAMPLES,
    ) -> None:
        self.sessions = sessions
        self.bootstrap_resamples = bootstrap_resamples
        self.max_slice_values = max_slice_values
        self.min_label_coverage = min_label_coverage
        self.spec = spec
        self.state = state
        self.clock = clock
        self.watermark = EPOCH
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self.slo_reports: list[SLOReport] = []
        self.explainers = Explainers()
        self.detectors = DetectorCache()

    def drift_settings(self, model: str) -> Drift:
        m = self.spec.model(model) if self.spec else None
        return m.drift if m else DEFAULT_DRIFT

    def tick(self) -> list[WindowKey]:
        """One evaluation pass; returns the windows it evaluated."""
        with self._lock:
            now = self.clock()
            with self.sessions() as s:
                touched = repository.touched_windows(
                    s, received_after=self.watermark - COMMIT_GRACE, received_until=now
                )
            keys = set()
            for model, version, ts in touched:
                seconds = self.drift_settings(model).window_seconds
                keys.add(WindowKey(model, version, window_start(ts, seconds), seconds))
            for key in sorted(keys, key=lambda k: (k.model, k.version, k.start)):
                self.evaluate(key)
            self.watermark = now
            self.export(now)
            self.refresh_slos(now)
            return sorted(keys, key=lambda k: (k.model, k.version, k.start))

    def evaluate(self, key: WindowKey) -> int:
        """Compute and store the drift and realized performance of one window; returns points stored."""
        return (
            self._drift(key)
            + self._performance(key)
            + self._quality(key)
            + self._attributions(key)
            + self._multivariate(key)
        )

    def _attributions(self, key: WindowKey) -> int:
        # a broken model file must not stop drift and performance of this or any other window
        return self._optional("attributions", attributions.evaluate_window, self.explainers, key)

    def _multivariate(self, key: WindowKey) -> int:
        # e.g. the multivariate extra is not installed: the rest of the window still counts
        return self._optional("multivariate drift", multivariate.evaluate_window, self.detectors, key)

    def _optional(self, what: str, evaluate: Callable[..., int], cache: object, key: WindowKey) -> int:
        """Run an optional per-window analysis in its own transaction; a failure is logged once, never raised."""
        m = self.spec.model(key.model) if self.spec else None
        try:
            with self.sessions() as s:
                n = evaluate(s, cache, m, key)
                s.commit()
            return n
        except Exception as exc:
            self._fail_once(f"{what} of {key.model}", exc)
            return 0

    def _fail_once(self, what: str, exc: Exception) -> None:
        """Log a failing optional analysis with its traceback once per distinct error, not every window."""
        key = f"{what}: {type(exc).__name__}: {exc}"
        if key not in self._warned:
            self._warned.add(key)
            log.error("%s failed (logged once; skipped for every window until fixed)", what, exc_info=exc)

    def _quality(self, key: WindowKey) -> int:
        m = self.spec.model(key.model) if self.spec else None
        if m is None:
            return 0
        declared = {f.name: f.type for f in m.features if not f.pii}
        with self.sessions() as s:
            rows = repository.window_records(
                s, model=key.model, version=key.version, start=key.start, end=key.end
            )
            ref = repository.latest_reference(s, model=key.model, version=key.version)
            refs = {k: FeatureReference.from_dict(v) for k, v in ref.features.items()} if ref else None
            pii = set(m.pii_features)
            records = [{k: v for k, v in r.items() if k not in pii} for r in rows]
            now = db.utcnow()
            points = [
                {
                    "model": key.model,
                    "version": key.version,
                    "feature": q.feature,
                    "check": q.check,
                    "window_start": key.start,
                    "window_end": key.end,
                    "count": q.count,
                    "total": q.total,
                    "computed_at": now,
                }
                for q in window_quality(declared, refs, records)
            ]
            repository.upsert_quality(s, rows=points)
            s.commit()
        return len(points)

    def _performance(self, key: WindowKey) -> int:
        m = self.spec.model(key.model) if self.spec else None
        with self.sessions() as s:
            joined = repository.window_labelled(
                s, model=key.model, version=key.version, start=key.start, end=key.end
            )
            values = window_performance(
                [LabelledRow(p, y, sl or {}, sc) for p, y, sl, sc in joined],
                prediction_type=m.prediction_type if m else "binary",
                positive_class=m.positive_class if m and m.positive_class is not None else 1,
                resamples=self.bootstrap_resamples,
                slice_columns=m.slices if m else (),
                max_slice_values=self.max_slice_values,
                min_coverage=self.min_label_coverage,
            )
            estimate = self._estimate(s, key)
            if estimate is not None:
                values = (*values, estimate)
            now = db.utcnow()
            rows = [
                {
                    "model": key.model,
                    "version": key.version,
                    "slice": v.slice,
                    "metric": v.metric,
                    "window_start": key.start,
                    "window_end": key.end,
                    "value": v.value,
                    "lower": v.lower,
                    "upper": v.upper,
                    "support": v.support,
                    "total": v.total,
                    "status": v.status,
                    "computed_at": now,
                }
                for v in values
            ]
            repository.upsert_performance(s, rows=rows)
            s.commit()
        return len(rows)

    def _estimate(self, s: Session, key: WindowKey) -> PerformanceValue | None:
        """CBPE's accuracy estimate from the window's scores, when the reference carries a calibration."""
        ref = repository.latest_reference(s, model=key.model, version=key.version)
        if ref is None or not ref.calibration:
            return None
        scored = repository.window_scored(
            s, model=key.model, version=key.version, start=key.start, end=key.end
        )
        m = self.spec.model(key.model) if self.spec else None
        # judged by the model's stored prediction, as realized accuracy is; the threshold only for rows
        # that carry a score and no prediction
        est = estimate_accuracy(
            Calibrator.from_dict(ref.calibration),
            [sc for _, sc in scored],
            threshold=m.decision_threshold if m else 0.5,
            predictions=[p for p, _ in scored],
            positive_class=m.positive_class if m and m.positive_class is not None else 1,
        )
        status: Literal["ok", "insufficient_data"] = "ok" if est.status == "ok" else "insufficient_data"
        return PerformanceValue(
            "all", "estimated_accuracy", est.value, est.lower, est.upper, est.n, est.n, status
        )

    def _drift(self, key: WindowKey) -> int:
        settings = self.drift_settings(key.model)
        with self.sessions() as s:
            ref = repository.latest_reference(s, model=key.model, version=key.version)
            if ref is None:
                if key.model not in self._warned:
                    self._warned.add(key.model)
                    log.warning("model %s has no reference yet: POST /v1/references to get drift", key.model)
                return 0
            rows = repository.window_records(
                s, model=key.model, version=key.version, start=key.start, end=key.end
            )
            features = self._features(key.model, list(ref.features))
            now = db.utcnow()
            points = []
            values: list[DriftValue] = []
            for name in features:
                reference = FeatureReference.from_dict(ref.features[name])
                values.extend(window_drift(reference, [r.get(name) for r in rows], settings))
            # p-value tests are corrected across this window's features, one family per statistic
            if settings.correction != "none":
                values = list(correct_p_values(values, settings.correction))
            points = [
                {
                    "model": key.model,
                    "version": key.version,
                    "feature": v.feature,
                    "metric": v.metric,
                    "window_start": key.start,
                    "window_end": key.end,
                    "value": v.value if v.value == v.value else None,
                    "status": v.status,
                    "n_reference": v.n_reference,
                    "n_current": v.n_current,
                    "reference_id": ref.id,
                    "computed_at": now,
                    "p_value": _finite(v.p_value),
                    "p_adjusted": _finite(v.p_adjusted),
                    "correction": v.correction,
                }
                for v in values
            ]
            repository.upsert_drift(s, rows=points)
            s.commit()
        return len(points)

    def _features(self, model: str, in_reference: list[str]) -> list[str]:
        m = self.spec.model(model) if self.spec else None
        if m is None:
            return sorted(in_reference)
        return [f.name for f in m.drift_features if f.name in in_reference]

    def refresh_slos(self, now: dt.datetime) -> list[SLOReport]:
        """Recompute every SLO's budget and burn rates and update their gauges."""
        slos = self.spec.slos if self.spec else ()
        with self.sessions() as s:
            reports = slo_reports(s, slos, now)
        self.slo_reports = reports
        self.state.set_slos(*gauges(reports))
        return reports

    def export(self, now: dt.datetime) -> None:
        """Set the drift and performance gauges to the newest complete windows with enough data."""
        with self.sessions() as s:
            points = repository.latest_drift(s, complete_before=now)
            perf = repository.latest_performance(s, complete_before=now)
            quality = repository.latest_quality(s, complete_before=now)
            explained = repository.latest_attributions(s, complete_before=now)
        self.state.set_attributions(
            {
                (a.model, a.version, a.feature, a.kind): (a.mean_abs or 0.0, a.status == "drift")
                for a in explained
            }
        )
        self.state.set_quality({(q.model, q.version, q.feature, q.check): q.count / q.total for q in quality})
        drift = {(p.model, p.version, p.feature, p.metric): p.value for p in points if p.value is not None}
        # the kernel tests' distances have no fixed scale; their p-values are what alerts compare
        drift.update(
            {
                (p.model, p.version, p.feature, f"{p.metric}_p_value"): p.p_value
                for p in points
                if p.metric in MULTIVARIATE_METRICS and p.p_value is not None
            }
        )
        self.state.set_drift(drift)
        self.state.set_performance(
            {(p.model, p.version, p.slice, p.metric): p.value for p in perf if p.value is not None}
        )


def _finite(x: float | None) -> float | None:
    return None if x is None or x != x else x


def window_drift(
    reference: FeatureReference, values: list[object], settings: Drift
) -> tuple[DriftValue, ...]:
    """Every configured statistic of one feature: the histogram ones from one pair of histograms, KS and
    Wasserstein from the raw values. The spec's warn/alert apply to the first metric (and per-metric
    `thresholds` to theirs); the rest keep their registered defaults, on their own scales."""
    return feature_drift(
        reference, values, settings.metrics, min_count=settings.min_count, thresholds=settings.levels()
    )


class EvaluationLoop:
    """Runs `Evaluator.tick` every `interval` seconds on a daemon thread until stopped."""

    def __init__(self, evaluator: Evaluator, interval: float) -> None:
        self.evaluator = evaluator
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="driftline-evaluation", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.evaluator.tick()
            except Exception:  # the loop must outlive one bad window or a storage outage
                log.exception("evaluation tick failed; retrying next interval")
