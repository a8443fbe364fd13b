"""The evaluation loop: re-evaluates every event-time window that received data, stores and exports drift.

Windows follow event time (when a prediction happened): a record that arrives late lands in its own
window, and that window is evaluated again.

One bad window never blinds the rest: each stage of each window runs on its own; a failure is logged
once per distinct error, counted on /metrics (`contract.EVALUATION_FAILURES`, by model and stage) and
skipped. A window whose drift, performance or quality failed is tried again on the next `MAX_RETRIES`
ticks (a storage hiccup passes) and then left until new data for it arrives; an optional analysis
(attributions, multivariate drift) that fails is not retried (a missing extra fails every time).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from analyzers.aggregates import ESTIMATE, WindowCounts
from analyzers.binning import FeatureReference, Histogram
from analyzers.drift import DriftValue, correct_p_values, get_statistic, histogram_drift
from analyzers.estimation import estimate_from_sums
from analyzers.multivariate import DetectorCache
from analyzers.performance import DEFAULT_RESAMPLES, PerformanceValue
from analyzers.performance_summary import performance_from_summary
from collector import attributions, db, drift_slices, event_time, multivariate, repository
from collector.aggregation import NO_REFERENCE, Aggregator, rolled_up
from collector.explainers import Explainers
from collector.leases import Lease
from collector.metrics import MetricsState
from collector.retention import Retention
from collector.slos import SLOReport, gauges, slo_reports
from collector.upkeep import Changed, Span, Upkeep
from sdk.wire import DEFAULT_MAX_FUTURE_SKEW_SECONDS
from slo.windows import format_duration
from spec import DEFAULT_DRIFT, Drift, ResolvedSpec

log = logging.getLogger("driftline.evaluation")

#: Records per window that KS and Wasserstein read (the reservoir): below it they see every record; above
#: it, a seeded uniform sample of this many, whose KS distance is within about 1.36/sqrt(n) = 0.014 of the
#: whole window's at the 95% level.
RESERVOIR_SIZE = 10_000
MULTIVARIATE_METRICS = ("mmd", "lsdd")
#: Following ticks on which a window whose core evaluation failed is tried again.
MAX_RETRIES = 3
#: Distinct failures logged with a traceback; beyond them a failure is only counted.
MAX_LOGGED_FAILURES = 1000


def window_start(ts: dt.datetime, seconds: int) -> dt.datetime:
    """Start of the aligned window of `seconds` holding event time `ts`."""
    epoch = int(ts.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC)


@dataclass(frozen=True)
class WindowKey:
    """One event-time window of one model version: what the loop evaluates."""

    model: str
    version: str
    start: dt.datetime
    seconds: int

    @property
    def end(self) -> dt.datetime:
        """Where the window ends (exclusive)."""
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
        max_future_skew: float = DEFAULT_MAX_FUTURE_SKEW_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.max_future_skew = max_future_skew
        #: Windows whose core evaluation failed -> ticks tried so far.
        self.retry: dict[WindowKey, int] = {}
        self.bootstrap_resamples = bootstrap_resamples
        self.max_slice_values = max_slice_values
        self.min_label_coverage = min_label_coverage
        self.spec = spec
        self.state = state
        self.clock = clock
        self.aggregator = Aggregator(spec)
        self._summed: dict[WindowKey, tuple[int, WindowCounts]] = {}
        self.upkeep = Upkeep(sessions, self.aggregator, spec)
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self.slo_reports: list[SLOReport] = []
        self.explainers = Explainers()
        self.detectors = DetectorCache()
        #: Set where several collectors may share the database: ticks run only while it is held.
        self.lease: Lease | None = None
        self.retention = Retention(sessions, spec, state) if spec and spec.raw.retention.periods() else None

    def drift_settings(self, model: str) -> Drift:
        """The model's drift settings from the spec, or the defaults for a model the spec lacks."""
        m = self.spec.model(model) if self.spec else None
        return m.drift if m else DEFAULT_DRIFT

    def tick(self) -> list[WindowKey]:
        """One evaluation pass over the windows whose minutes changed since the last and those due a retry;
        returns them. A tick with nothing new reads one small table and refreshes the gauges.

        Only taking the changed minutes can fail the whole tick (storage is down): then they stay noted and
        the next tick takes them. They are deleted once their windows were evaluated, so the minutes of a
        tick cut short (the collector died) are evaluated by the next tick, here or in the next lease holder.
        """
        with self._lock:
            now = self.clock()
            if not self.lead():
                return []
            with self.sessions.begin() as s:
                pending = repository.claim_pending(s)
            # per window: its minutes that changed (None: all of them, to be brought up to date again)
            fresh: dict[WindowKey, Changed | None] = dict.fromkeys(
                self._rebuilt({(m, v) for m, v, _, _ in pending} | {(k.model, k.version) for k in self.retry})
            )
            for model, version, minute, kind in pending:
                for window in self._windows(model, version, minute, now):
                    changed = fresh.setdefault(window, Changed())
                    if changed is not None:
                        changed.minutes.add(minute)
                        if kind == "labels":
                            changed.labelled.add(minute)
            keys = sorted(
                set(fresh) | set(self.retry), key=lambda k: (k.model, k.version, k.seconds, k.start)
            )
            self.upkeep.new_tick()
            for key in keys:
                tries = 0 if key in fresh else self.retry.pop(key, 0)
                self.state.add_windows_evaluated(key.model)
                if not self._evaluate(key, fresh.get(key)):
                    self.retry.pop(key, None)
                elif tries < MAX_RETRIES:
                    self.retry[key] = tries + 1
                else:
                    self.retry.pop(key, None)
                    log.error(
                        "window %s %s %s failed %d times: left until new data for it arrives",
                        key.model,
                        key.version,
                        key.start.isoformat(),
                        tries + 1,
                    )
            if pending:
                with self.sessions.begin() as s:
                    repository.finish_pending(s)
            self._guarded("*", "export", self.export, now)
            self._guarded("*", "slos", self.refresh_slos, now)
            if self.retention is not None:
                self._guarded("*", "retention", self.retention.run, now)
            return keys

    def lead(self) -> bool:
        """Take or renew the lease, where there is one; True when this collector runs ticks. Standing by,
        it exports none of the gauges computed from the store: the holder does (docs/operations.md)."""
        if self.lease is None:
            return True
        held = self.lease.acquire()
        self.state.set_lease(self.lease.name, held)
        return held

    def _rebuilt(self, versions: set[tuple[str, str]]) -> set[WindowKey]:
        """Rebuild the aggregates of versions whose reference or declared features changed; returns every
        window of those versions, each to be evaluated again against what it is now compared with."""
        out: set[WindowKey] = set()
        for model, version in sorted(versions):
            try:
                with self.sessions() as s:
                    if not self.aggregator.stale(s, model, version):
                        continue
                with self.sessions.begin() as s:
                    self.aggregator.rebuild(s, model, version)
                with self.sessions() as s:
                    minutes = repository.aggregated_minutes(s, model=model, version=version)
            except Exception as exc:
                self._failed(model, "aggregates", exc)
                continue
            for minute in minutes:
                out.update(self._windows(model, version, minute, self.clock()))
        return out

    def _windows(self, model: str, version: str, ts: dt.datetime, now: dt.datetime) -> list[WindowKey]:
        """The windows, one per configured length, holding a touched record; none (counted) for one stored
        outside the event-time range before ingest refused such times, whose window cannot even be computed
        (9999-12-31 overflows)."""
        try:
            if event_time.out_of_range(ts, *event_time.bounds(now, self.max_future_skew)) is not None:
                # one message per model version, however many such rows: it is logged once
                raise ValueError(
                    f"records of version {version!r} stored before ingest checked event times lie outside "
                    "2000-01-01 .. the clock plus the allowed skew: they are not evaluated"
                )
            keys = [
                WindowKey(model, version, window_start(ts, n), n) for n in self.drift_settings(model).windows
            ]
            for key in keys:
                key.end  # noqa: B018 - computing the end is what overflows
            return keys
        except Exception as exc:
            self._failed(model, "window", exc)
            return []

    def evaluate(self, key: WindowKey) -> int:
        """Compute and store the drift and realized performance of one window; returns points stored."""
        self._summed.clear()
        self.upkeep.new_tick()
        self.upkeep.prepare(_span(key), None)
        return (
            self._drift(key)
            + self._performance(key)
            + self._quality(key)
            + self._attributions(key)
            + self._multivariate(key)
        )

    def _evaluate(self, key: WindowKey, changed: Changed | None) -> bool:
        """Every stage of one window, each on its own (a failure is logged, counted and skipped); returns
        whether a core stage (drift, performance, quality) failed, so the window is worth a retry. Its
        `changed` minutes (None: every one) are brought up to date first; if that fails, nothing is read."""
        try:
            self.upkeep.prepare(_span(key), changed)
        except Exception as exc:
            self._failed(key.model, "aggregates", exc)
            return True
        failed = False
        stages: list[tuple[str, Callable[[WindowKey], int]]] = [
            ("drift", self._drift),
            ("performance", self._performance),
            ("quality", self._quality),
        ]
        self._summed.clear()  # drift and quality share one read of the window's counts
        for stage, run in stages:
            try:
                run(key)
            except Exception as exc:
                self._failed(key.model, stage, exc)
                failed = True
        self._attributions(key)
        self._multivariate(key)
        self._optional("drift slice", drift_slices.evaluate_window, self, key)  # after drift: reads its points
        return failed

    def _guarded(
        self, model: str, stage: str, run: Callable[[dt.datetime], object], now: dt.datetime
    ) -> None:
        try:
            run(now)
        except Exception as exc:
            self._failed(model, stage, exc)

    def _failed(self, model: str, stage: str, exc: Exception) -> None:
        """Count a failed evaluation step on /metrics and log it once per distinct error."""
        self.state.add_evaluation_failure(model, stage)
        self._fail_once(f"{stage} of {model}", exc)

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
            self._failed(key.model, what, exc)
            return 0

    def _fail_once(self, what: str, exc: Exception) -> None:
        """Log a failing step with its traceback once per distinct error, not every window."""
        key = f"{what}: {type(exc).__name__}: {exc}"
        if key not in self._warned and len(self._warned) < MAX_LOGGED_FAILURES:
            self._warned.add(key)
            log.error("%s failed (logged once; skipped for every window until fixed)", what, exc_info=exc)

    def _counts(self, s: Session, key: WindowKey) -> tuple[int, WindowCounts]:
        """The window's reference id (0: none) and its counts summed over its minutes; refuses aggregates
        built on another reference than the one that applies (a rebuild is due: the window is retried)."""
        if key in self._summed:
            return self._summed[key]
        built = repository.aggregate_state(s, model=key.model, version=key.version)
        target = self.aggregator.target(s, key.model, key.version)
        if built != target:
            raise RuntimeError(
                f"the aggregates of {key.model} {key.version} are being rebuilt for reference {target[0]}"
            )
        counts = repository.window_counts(
            s,
            model=key.model,
            version=key.version,
            reference_id=target[0],
            start=key.start,
            end=key.end,
            hourly=rolled_up(key.seconds),
        )
        self._summed[key] = target[0], WindowCounts(counts)
        return self._summed[key]

    def _quality(self, key: WindowKey) -> int:
        declared, _ = self.aggregator.declared(key.model)
        if declared is None:
            return 0
        with self.sessions() as s:
            ref_id, counts = self._counts(s, key)
            refs = self.aggregator.references(s, ref_id) if ref_id != NO_REFERENCE else None
            now = db.utcnow()
            points = [
                {
                    "model": key.model,
                    "version": key.version,
                    "feature": q.feature,
                    "check": q.check,
                    "window_seconds": key.seconds,
                    "window_start": key.start,
                    "window_end": key.end,
                    "count": q.count,
                    "total": q.total,
                    "computed_at": now,
                }
                for q in counts.quality(declared, refs)
            ]
            repository.upsert_quality(s, rows=points)
            s.commit()
        return len(points)

    def _performance(self, key: WindowKey) -> int:
        """Realized performance of a window from its minutes' (or hours') summaries, with CBPE's estimate
        beside it."""
        m = self.spec.model(key.model) if self.spec else None
        with self.sessions() as s:
            summary, totals = repository.window_summary(
                s, model=key.model, version=key.version, start=key.start, end=key.end, hourly=rolled_up(key.seconds)
            )
            values = performance_from_summary(
                summary,
                totals,
                prediction_type=m.prediction_type if m else "binary",
                positive_class=m.positive_class if m and m.positive_class is not None else 1,
                resamples=self.bootstrap_resamples,
                slice_columns=self.aggregator.slice_columns(key.model),
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
                    "window_seconds": key.seconds,
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
        """CBPE's accuracy estimate, from the window's summed correctness probabilities, when the reference
        carries a calibration (ingest adds each scored record's to its minute)."""
        ref_id, _ = self._counts(s, key)
        if self.aggregator.calibrator(s, ref_id) is None:
            return None
        moments = repository.window_moments(
            s,
            model=key.model,
            version=key.version,
            reference_id=ref_id,
            start=key.start,
            end=key.end,
            features=[ESTIMATE],
            hourly=rolled_up(key.seconds),
        )
        n, total, squares, _, _ = moments.get(ESTIMATE, (0, 0.0, 0.0, None, None))
        est = estimate_from_sums(n, total, squares)
        status: Literal["ok", "insufficient_data"] = "ok" if est.status == "ok" else "insufficient_data"
        return PerformanceValue(
            "all", "estimated_accuracy", est.value, est.lower, est.upper, est.n, est.n, status
        )

    def _drift(self, key: WindowKey) -> int:
        settings = self.drift_settings(key.model)
        with self.sessions() as s:
            ref_id, counts = self._counts(s, key)
            if ref_id == NO_REFERENCE:
                if key.model not in self._warned:
                    self._warned.add(key.model)
                    log.warning("model %s has no reference yet: POST /v1/references to get drift", key.model)
                return 0
            references = self.aggregator.references(s, ref_id)
            features = self._features(key.model, list(references))
            sampled = [n for n in features if references[n].binning.kind == "numeric"]
            reservoir: list[Any] = []
            if sampled and any(get_statistic(m).input == "sample" for m in settings.metrics):
                reservoir = repository.window_sample(
                    s, model=key.model, version=key.version, start=key.start, end=key.end, size=RESERVOIR_SIZE
                )
            now = db.utcnow()
            values: list[DriftValue] = []
            for name in features:
                reference = references[name]
                sample = None
                if reservoir and reference.binning.kind == "numeric":
                    _, sample = reference.binning.histogram_and_sample([r.get(name) for r in reservoir])
                values.extend(window_drift(reference, counts.histogram(reference), settings, sample))
            # p-value tests are corrected across this window's features, one family per statistic
            if settings.correction != "none":
                values = list(correct_p_values(values, settings.correction))
            points = [
                {
                    "model": key.model,
                    "version": key.version,
                    "feature": v.feature,
                    "metric": v.metric,
                    "window_seconds": key.seconds,
                    "window_start": key.start,
                    "window_end": key.end,
                    "value": v.value if v.value == v.value else None,
                    "status": v.status,
                    "n_reference": v.n_reference,
                    "n_current": v.n_current,
                    "reference_id": ref_id,
                    "computed_at": now,
                    "p_value": _finite(v.p_value),
                    "p_adjusted": _finite(v.p_adjusted),
                    "correction": v.correction,
                    "mde": _finite(v.mde),
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
                (a.model, a.version, a.feature, a.kind, _label(a)): (a.mean_abs or 0.0, a.status == "drift")
                for a in explained
            }
        )
        self.state.set_quality(
            {(q.model, q.version, q.feature, q.check, _label(q)): q.count / q.total for q in quality}
        )
        drift = {
            (p.model, p.version, p.feature, p.metric, _label(p)): p.value
            for p in points
            if p.value is not None
        }
        # the kernel tests' distances have no fixed scale; their p-values are what alerts compare
        drift.update(
            {
                (p.model, p.version, p.feature, f"{p.metric}_p_value", _label(p)): p.p_value
                for p in points
                if p.metric in MULTIVARIATE_METRICS and p.p_value is not None
            }
        )
        self.state.set_drift(drift)
        self.state.set_drift_mde({_key(p, p.feature, p.metric): p.mde for p in points if p.mde is not None})
        self.state.set_performance_bounds(
            {(*_key(p, p.slice, p.metric), b): v for p in perf for b, v in (("lower", p.lower), ("upper", p.upper))
             if v is not None and p.value is not None}
        )
        self.state.set_performance(
            {(p.model, p.version, p.slice, p.metric, _label(p)): p.value for p in perf if p.value is not None}
        )


def _label(point: Any) -> str:
    """A stored point's window length as the `window` label spells it (1h, 1d)."""
    return format_duration(point.window_seconds)


def _key(point: Any, item: str, metric: str) -> tuple[str, str, str, str, str]:
    """A stored point's per-window gauge labels: model, version, feature or slice, metric, window."""
    return point.model, point.version, item, metric, _label(point)


def _span(key: WindowKey) -> Span:
    return Span(key.model, key.version, key.start, key.end)


def _finite(x: float | None) -> float | None:
    return None if x is None or x != x else x


def window_drift(
    reference: FeatureReference, current: Histogram, settings: Drift, sample: np.ndarray | None = None
) -> tuple[DriftValue, ...]:
    """Every configured statistic of one feature: the histogram ones from the window's summed histogram, KS
    and Wasserstein from the reservoir's finite values (`sample`; an empty one where there is none). The
    spec's warn/alert apply to the first metric (and per-metric `thresholds` to theirs); the rest keep
    their registered defaults, on their own scales."""
    needs_sample = any(get_statistic(m).input == "sample" for m in settings.metrics)
    if sample is None and needs_sample and reference.binning.kind == "numeric":
        sample = np.empty(0)
    return histogram_drift(
        reference,
        current,
        settings.metrics,
        min_count=settings.min_count,
        thresholds=settings.levels(),
        sample=sample,
    )


class EvaluationLoop:
    """Runs `Evaluator.tick` every `interval` seconds on a daemon thread until stopped."""

    def __init__(self, evaluator: Evaluator, interval: float) -> None:
        self.evaluator = evaluator
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="driftline-evaluation", daemon=True)

    def start(self) -> None:
        """Start ticking in the background thread."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop ticking and wait up to `timeout` seconds for the current tick to end."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.evaluator.tick()
            except Exception:  # the loop must outlive one bad window or a storage outage
                log.exception("evaluation tick failed; retrying next interval")
