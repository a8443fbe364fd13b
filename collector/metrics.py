"""What `/metrics` exports: totals kept in memory (rebuilt from storage on start) and a prometheus-client collector."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry


@dataclass
class _Histogram:
    bounds: tuple[float, ...]
    counts: list[int]  # per bucket, len(bounds) + 1
    total: float = 0.0


@dataclass
class MetricsState:
    """Thread-safe running totals; the API thread adds, the scrape reads a consistent snapshot."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    predictions: dict[tuple[str, str, str], int] = field(default_factory=dict)
    latency: dict[tuple[str, str], _Histogram] = field(default_factory=dict)
    dropped: dict[tuple[str, str], int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    current_version: dict[str, tuple[float, str]] = field(default_factory=dict)
    drift: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    performance: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    labelled: dict[tuple[str, str, str], int] = field(default_factory=dict)
    last_received: dict[tuple[str, str], float] = field(default_factory=dict)
    records: dict[tuple[str, str, str], int] = field(default_factory=dict)
    quality: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    attribution: dict[tuple[str, str, str, str], tuple[float, bool]] = field(default_factory=dict)
    slo_remaining: dict[str, float] = field(default_factory=dict)
    slo_burn: dict[tuple[str, str], float] = field(default_factory=dict)
    #: Evaluation steps that failed and were skipped, by (model, stage): the other models went on.
    evaluation_failures: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Cardinality limits: versions exported per model (the most recently active ones; an older one's
    #: series leave /metrics, its data stays stored) and slice values per model on the performance gauge
    #: (the first seen). Each version pushed out and each slice value refused is counted in `limited`.
    max_versions: int = 20
    max_slices: int = 100
    limited: dict[tuple[str, str], int] = field(default_factory=dict)
    _versions: dict[str, OrderedDict[str, None]] = field(default_factory=dict)
    _slices: dict[str, set[str]] = field(default_factory=dict)
    _refused_slices: dict[str, set[str]] = field(default_factory=dict)

    def _touch(self, model: str, version: str) -> None:
        """Mark a version active (under the lock); beyond `max_versions`, the least recently active
        version of the model leaves every exported series, so memory and /metrics stay bounded."""
        seen = self._versions.setdefault(model, OrderedDict())
        if version in seen:
            seen.move_to_end(version)
            return
        seen[version] = None
        while len(seen) > self.max_versions:
            old, _ = seen.popitem(last=False)
            self._forget(model, old)
            self._count_limited(model, "version")

    def _exported(self, model: str, version: str) -> bool:
        """Whether a computed value of this version is exported (under the lock): a version active
        recently, or a new one while there is room; never reorders or pushes out active versions."""
        seen = self._versions.setdefault(model, OrderedDict())
        if version in seen:
            return True
        if len(seen) < self.max_versions:
            seen[version] = None
            return True
        return False

    def _slice_exported(self, model: str, slice_: str) -> bool:
        """Whether a slice value of the model is exported (under the lock); the first `max_slices` are."""
        admitted = self._slices.setdefault(model, set())
        if slice_ in admitted:
            return True
        if len(admitted) < self.max_slices:
            admitted.add(slice_)
            return True
        refused = self._refused_slices.setdefault(model, set())
        if slice_ not in refused and len(refused) < 10 * self.max_slices:  # counted once each, memory bounded
            refused.add(slice_)
            self._count_limited(model, "slice")
        return False

    def _count_limited(self, model: str, kind: str) -> None:
        self.limited[(model, kind)] = self.limited.get((model, kind), 0) + 1

    def _forget(self, model: str, version: str) -> None:
        """Drop every exported series of one model version (its totals restart if it comes back)."""
        tables: tuple[dict[Any, Any], ...] = (
            self.predictions,
            self.latency,
            self.dropped,
            self.labelled,
            self.records,
            self.drift,
            self.performance,
            self.quality,
            self.attribution,
        )
        for series in tables:
            for key in [k for k in series if k[0] == model and k[1] == version]:
                del series[key]

    def bounds_for(self, model: str, version: str) -> tuple[float, ...] | None:
        with self.lock:
            h = self.latency.get((model, version))
            return h.bounds if h else None

    def add_stats(
        self,
        *,
        model: str,
        version: str,
        ok: int,
        error: int,
        bounds: Iterable[float],
        counts: list[int],
        latency_sum: float,
        dropped: int,
        end: float,
    ) -> None:
        with self.lock:
            self._touch(model, version)
            for outcome, n in (("ok", ok), ("error", error)):
                key = (model, version, outcome)
                self.predictions[key] = self.predictions.get(key, 0) + n
            h = self.latency.get((model, version))
            if h is None:
                h = self.latency[(model, version)] = _Histogram(tuple(bounds), [0] * len(counts))
            h.counts = [a + b for a, b in zip(h.counts, counts, strict=True)]
            h.total += latency_sum
            self.dropped[(model, version)] = self.dropped.get((model, version), 0) + dropped
            if end >= self.current_version.get(model, (float("-inf"), ""))[0]:
                self.current_version[model] = (end, version)

    def add_labels(self, model: str, n: int) -> None:
        with self.lock:
            self.labels[model] = self.labels.get(model, 0) + n

    def set_drift(self, values: dict[tuple[str, str, str, str], float]) -> None:
        with self.lock:
            self.drift.update({k: v for k, v in values.items() if self._exported(k[0], k[1])})

    def set_performance(self, values: dict[tuple[str, str, str, str], float]) -> None:
        with self.lock:
            self.performance.update(
                {
                    k: v
                    for k, v in values.items()
                    if self._exported(k[0], k[1]) and self._slice_exported(k[0], k[2])
                }
            )

    def add_labelled(self, outcomes: dict[tuple[str, str, str], int]) -> None:
        """Labelled predictions by (model, version, "correct" | "incorrect")."""
        with self.lock:
            for key, n in outcomes.items():
                if self._exported(key[0], key[1]):
                    self.labelled[key] = self.labelled.get(key, 0) + n

    def received(self, model: str, kind: str, when: float) -> None:
        """Note that records or labels of `model` arrived at unix time `when`."""
        with self.lock:
            key = (model, kind)
            self.last_received[key] = max(when, self.last_received.get(key, when))

    def add_records(self, model: str, version: str, total: int, invalid: int) -> None:
        """Records received, split into valid and invalid against the declared schema."""
        with self.lock:
            self._touch(model, version)
            for outcome, n in (("valid", total - invalid), ("invalid", invalid)):
                key = (model, version, outcome)
                self.records[key] = self.records.get(key, 0) + n

    def set_quality(self, values: dict[tuple[str, str, str, str], float]) -> None:
        with self.lock:
            self.quality.update({k: v for k, v in values.items() if self._exported(k[0], k[1])})

    def set_attributions(self, values: dict[tuple[str, str, str, str], tuple[float, bool]]) -> None:
        """(model, version, feature, kind) -> (mean |SHAP|, whether it drifted from the reference)."""
        with self.lock:
            self.attribution.update({k: v for k, v in values.items() if self._exported(k[0], k[1])})

    def add_evaluation_failure(self, model: str, stage: str) -> None:
        """Count one evaluation step (a stage of one window, or placing a record in its window) that failed."""
        with self.lock:
            key = (model, stage)
            self.evaluation_failures[key] = self.evaluation_failures.get(key, 0) + 1

    def set_slos(self, remaining: dict[str, float], burn: dict[tuple[str, str], float]) -> None:
        with self.lock:
            self.slo_remaining, self.slo_burn = dict(remaining), dict(burn)


class DriftlineCollector:
    """A prometheus-client custom collector over a MetricsState (metric names from DESIGN.md)."""

    def __init__(self, state: MetricsState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        s = self.state
        with s.lock:
            predictions = dict(s.predictions)
            latency = {k: _Histogram(h.bounds, list(h.counts), h.total) for k, h in s.latency.items()}
            dropped = dict(s.dropped)
            labels = dict(s.labels)
            versions = {m: v for m, (_, v) in s.current_version.items()}
            drift = dict(s.drift)
            performance = dict(s.performance)
            labelled = dict(s.labelled)
            records = dict(s.records)
            quality = dict(s.quality)
            attribution = dict(s.attribution)
            last = dict(s.last_received)
            remaining = dict(s.slo_remaining)
            burn = dict(s.slo_burn)
            limited = dict(s.limited)

        c = CounterMetricFamily(
            "driftline_predictions",
            "Model calls seen by the SDK, by outcome (ok or error).",
            labels=["model", "version", "outcome"],
        )
        for key, n in sorted(predictions.items()):
            c.add_metric(list(key), n)
        yield c

        h = HistogramMetricFamily(
            "driftline_prediction_latency_seconds",
            "Latency of model calls measured by the SDK.",
            labels=["model", "version"],
        )
        for (model, version), hist in sorted(latency.items()):
            cumulative, running = [], 0
            for bound, n in zip([*hist.bounds, float("inf")], hist.counts, strict=True):
                running += n
                cumulative.append((_le(bound), running))
            h.add_metric([model, version], cumulative, hist.total)
        yield h

        d = CounterMetricFamily(
            "driftline_sdk_dropped",
            "Samples the SDK dropped (queue full or rejected batches).",
            labels=["model", "version"],
        )
        for mv, n in sorted(dropped.items()):
            d.add_metric(list(mv), n)
        yield d

        lab = CounterMetricFamily("driftline_labels", "Ground-truth labels received.", labels=["model"])
        for model, n in sorted(labels.items()):
            lab.add_metric([model], n)
        yield lab

        info = GaugeMetricFamily(
            "driftline_model_version_info",
            "1 for the version each model serves now (newest SDK stats).",
            labels=["model", "version"],
        )
        for model, version in sorted(versions.items()):
            info.add_metric([model, version], 1)
        yield info

        g = GaugeMetricFamily(
            "driftline_feature_drift",
            "Drift of a feature in the newest complete event-time window against the reference.",
            labels=["model", "version", "feature", "metric"],
        )
        for series, v in sorted(drift.items()):
            g.add_metric(list(series), v)
        yield g

        p = GaugeMetricFamily(
            "driftline_model_performance",
            "Realized performance (accuracy, precision, recall, f1, roc_auc, log_loss, ece; mae, rmse, mape) "
            "in the newest complete window whose labels matured.",
            labels=["model", "version", "slice", "metric"],
        )
        for series, v in sorted(performance.items()):
            p.add_metric(list(series), v)
        yield p

        lp = CounterMetricFamily(
            "driftline_labelled_predictions",
            "Predictions whose label arrived, by whether the prediction was correct (accuracy SLIs).",
            labels=["model", "version", "outcome"],
        )
        for key3, n in sorted(labelled.items()):
            lp.add_metric(list(key3), n)
        yield lp

        for kind in ("record", "label"):
            ts = GaugeMetricFamily(
                f"driftline_last_{kind}_timestamp_seconds",
                f"Unix time the collector last received a {kind} of the model (freshness SLIs).",
                labels=["model"],
            )
            for (model, k), when in sorted(last.items()):
                if k == kind + "s":
                    ts.add_metric([model], when)
            yield ts

        rec = CounterMetricFamily(
            "driftline_records",
            "Sampled records received, valid or invalid against the declared schema (data-quality SLIs).",
            labels=["model", "version", "outcome"],
        )
        for key3, n in sorted(records.items()):
            rec.add_metric(list(key3), n)
        yield rec

        fa = GaugeMetricFamily(
            "driftline_feature_attribution",
            "Mean |SHAP| of a feature in the newest complete window (kind: prediction or loss).",
            labels=["model", "version", "feature", "kind"],
        )
        fd = GaugeMetricFamily(
            "driftline_attribution_drift",
            "1 when a feature's attributions moved from the reference's in the newest complete window.",
            labels=["model", "version", "feature", "kind"],
        )
        for key4, (mean_abs, drifted) in sorted(attribution.items()):
            fa.add_metric(list(key4), mean_abs)
            fd.add_metric(list(key4), 1.0 if drifted else 0.0)
        yield fa
        yield fd

        dq = GaugeMetricFamily(
            "driftline_data_quality",
            "Share of values failing a data-quality check in the newest complete window (feature * = record).",
            labels=["model", "version", "feature", "check"],
        )
        for key4, v in sorted(quality.items()):
            dq.add_metric(list(key4), v)
        yield dq

        rem = GaugeMetricFamily(
            "driftline_slo_error_budget_remaining",
            "Share of the SLO's error budget left over its period (negative once broken).",
            labels=["slo"],
        )
        for slo, v in sorted(remaining.items()):
            rem.add_metric([slo], v)
        yield rem

        br = GaugeMetricFamily(
            "driftline_slo_burn_rate",
            "Error-budget burn rate of the SLO over a window.",
            labels=["slo", "window"],
        )
        for key2, v in sorted(burn.items()):
            br.add_metric(list(key2), v)
        yield br

        cl = CounterMetricFamily(
            "driftline_cardinality_limited",
            "Model versions (kind=version) pushed off /metrics by newer ones, beyond the versions exported per "
            "model, and slice values (kind=slice) not exported, beyond the slice values per model.",
            labels=["model", "kind"],
        )
        for key2, n in sorted(limited.items()):
            cl.add_metric(list(key2), n)
        yield cl

        with s.lock:
            failures = dict(s.evaluation_failures)
        ef = CounterMetricFamily(
            "driftline_evaluation_failures",
            "Evaluation steps that failed and were skipped (logged once per distinct error), by model and "
            "stage: window, drift, performance, quality, attributions, multivariate drift, export or slos.",
            labels=["model", "stage"],
        )
        for key2, n in sorted(failures.items()):
            ef.add_metric(list(key2), n)
        yield ef


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def make_registry(state: MetricsState) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DriftlineCollector(state))
    return registry
