"""What `/metrics` exports: totals kept in memory (rebuilt from storage on start) and a prometheus-client collector."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from contract import (
    ATTRIBUTION_DRIFT,
    CARDINALITY_LIMITED,
    COMPUTE_SECONDS,
    COST,
    DATA_QUALITY,
    DRIFT_SLICE,
    EVALUATION_FAILURES,
    FEATURE_AGE,
    FEATURE_ATTRIBUTION,
    FEATURE_DRIFT,
    FEATURE_DRIFT_MDE,
    GENAI_EVAL_AGREEMENT,
    GENAI_EVALS,
    GENAI_FINISH_REASONS,
    GENAI_TPOT,
    GENAI_TTFT,
    INFERENCE_UNPAIRED,
    LABELLED_PREDICTIONS,
    LABELS,
    LAST_RECEIVED,
    LEASE_HELD,
    MODEL_EVENTS,
    MODEL_PERFORMANCE,
    MODEL_PERFORMANCE_BOUND,
    MODEL_VERSION_INFO,
    PREDICTION_LATENCY,
    PREDICTIONS,
    RECORDS,
    RETENTION_DELETED,
    SDK_DROPPED,
    SERIES,
    SLO_BURN_RATE,
    SLO_ERROR_BUDGET_REMAINING,
    TOKENS,
    WINDOWS_EVALUATED,
    Series,
)
from sdk.wire import FEATURE_AGE_BOUNDS, GENAI_TPOT_BOUNDS, GENAI_TTFT_BOUNDS
from spec.prices import Prices

#: Label values of a per-window gauge: model, version, feature (or slice), metric (or check, kind), window.
WindowSample = tuple[str, str, str, str, str]


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
    #: Per-window gauges are keyed (model, version, feature | slice | check, metric | check | kind, window).
    drift: dict[WindowSample, float] = field(default_factory=dict)
    performance: dict[WindowSample, float] = field(default_factory=dict)
    #: Minimum detectable effect beside each drift value; the performance interval, keyed with its bound.
    drift_mde: dict[WindowSample, float] = field(default_factory=dict)
    performance_bounds: dict[tuple[str, str, str, str, str, str], float] = field(default_factory=dict)
    #: (model, version, window) -> (window start, feature, slice, share): the slice behind a drift incident.
    drift_slices: dict[tuple[str, str, str], tuple[Any, str, str, float]] = field(default_factory=dict)
    labelled: dict[tuple[str, str, str], int] = field(default_factory=dict)
    last_received: dict[tuple[str, str], float] = field(default_factory=dict)
    records: dict[tuple[str, str, str], int] = field(default_factory=dict)
    quality: dict[WindowSample, float] = field(default_factory=dict)
    attribution: dict[WindowSample, tuple[float, bool]] = field(default_factory=dict)
    slo_remaining: dict[str, float] = field(default_factory=dict)
    slo_burn: dict[tuple[str, str], float] = field(default_factory=dict)
    #: Evaluation steps that failed and were skipped, by (model, stage): the other models went on.
    evaluation_failures: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Reported events (retrain, deploy, rollback) by (model, kind).
    events: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Inference-logger halves dropped without their other half, by (model, half).
    unpaired: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Windows this collector evaluated, by model; leases this collector holds (1) or stands by for (0);
    #: rows retention deleted, by table.
    windows_evaluated: dict[str, int] = field(default_factory=dict)
    lease_held: dict[str, int] = field(default_factory=dict)
    retention_deleted: dict[str, int] = field(default_factory=dict)
    #: Usage per (model, version): [compute seconds, input tokens, output tokens], for cost.
    usage: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    #: Feature ages per (model, version, feature), as histograms over `sdk.wire.FEATURE_AGE_BOUNDS`.
    feature_ages: dict[tuple[str, str, str], _Histogram] = field(default_factory=dict)
    #: LLM calls per (model, version): time to first token and per output token; finish reasons by reason.
    genai_ttft: dict[tuple[str, str], _Histogram] = field(default_factory=dict)
    genai_tpot: dict[tuple[str, str], _Histogram] = field(default_factory=dict)
    finish_reasons: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: Eval verdicts by (model, version, name, source, verdict); judge-human agreement by (..., name, outcome).
    evals: dict[tuple[str, str, str, str, str], int] = field(default_factory=dict)
    eval_agreement: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    #: Price tables by model (`spec.prices`): a priced model's versions export their spend (COST).
    prices: dict[str, Prices] = field(default_factory=dict)
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
            self.usage,
            self.feature_ages,
            self.genai_ttft,
            self.genai_tpot,
            self.finish_reasons,
            self.evals,
            self.eval_agreement,
            self.labelled,
            self.records,
            self.drift,
            self.drift_mde,
            self.performance,
            self.performance_bounds,
            self.drift_slices,
            self.quality,
            self.attribution,
        )
        for series in tables:
            for key in [k for k in series if k[0] == model and k[1] == version]:
                del series[key]

    def bounds_for(self, model: str, version: str) -> tuple[float, ...] | None:
        """The latency bucket bounds the version reported first (None before its first stats)."""
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
        """Add one SDK stats interval of a version: calls by outcome, latency buckets, drops; track its newest."""
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

    def add_usage(
        self, *, model: str, version: str, compute_seconds: float, input_tokens: int, output_tokens: int
    ) -> None:
        """Add what one stats interval's calls used (compute seconds, tokens) to the version's totals."""
        with self.lock:
            self._touch(model, version)
            acc = self.usage.setdefault((model, version), [0.0, 0, 0])
            acc[0] += compute_seconds
            acc[1] += input_tokens
            acc[2] += output_tokens

    def add_feature_ages(self, *, model: str, version: str, ages: dict[str, Any]) -> None:
        """Add one stats interval's feature-age histograms ({feature: {"counts", "sum"}}) of a version."""
        with self.lock:
            self._touch(model, version)
            for feature, h in ages.items():
                key = (model, version, feature)
                acc = self.feature_ages.get(key)
                if acc is None:
                    acc = self.feature_ages[key] = _Histogram(FEATURE_AGE_BOUNDS, [0] * len(h["counts"]))
                acc.counts = [a + b for a, b in zip(acc.counts, h["counts"], strict=True)]
                acc.total += h["sum"]

    def add_genai(self, *, model: str, version: str, genai: dict[str, Any]) -> None:
        """Add one stats interval's LLM-call histograms and finish reasons (sdk/wire.py ``genai``) of a version."""
        with self.lock:
            self._touch(model, version)
            for name, table, bounds in (
                ("ttft", self.genai_ttft, GENAI_TTFT_BOUNDS),
                ("tpot", self.genai_tpot, GENAI_TPOT_BOUNDS),
            ):
                h = genai.get(name)
                if not h:
                    continue
                acc = table.get((model, version))
                if acc is None:
                    acc = table[(model, version)] = _Histogram(bounds, [0] * (len(bounds) + 1))
                acc.counts = [a + b for a, b in zip(acc.counts, h["counts"], strict=True)]
                acc.total += h["sum"]
            for reason, n in (genai.get("finish_reasons") or {}).items():
                key = (model, version, reason)
                self.finish_reasons[key] = self.finish_reasons.get(key, 0) + n

    def add_evals(self, verdicts: Mapping[tuple[str, str, str, str, str], int],
                  agreement: Mapping[tuple[str, str, str, str], int]) -> None:
        """Add newly stored eval verdicts and judge-human pairs (`collector.evals`)."""
        with self.lock:
            tables: tuple[tuple[dict[Any, int], Mapping[Any, int]], ...] = (
                (self.evals, verdicts),
                (self.eval_agreement, agreement),
            )
            for table, counts in tables:
                for key, n in counts.items():
                    if self._exported(key[0], key[1]):
                        table[key] = table.get(key, 0) + n

    def _costs(self) -> dict[tuple[str, str, str], float]:
        """Spend per (model, version, currency) of every priced model's versions (under the lock)."""
        calls: dict[tuple[str, str], int] = {}
        for (model, version, _), n in self.predictions.items():
            calls[(model, version)] = calls.get((model, version), 0) + n
        out = {}
        for (model, version), n in calls.items():
            prices = self.prices.get(model)
            if prices is None:
                continue
            seconds, tin, tout = self.usage.get((model, version), (0.0, 0, 0))
            rates = prices.rates_for(version)
            cost = rates.cost(calls=n, compute_seconds=seconds, input_tokens=tin, output_tokens=tout)
            out[(model, version, prices.currency)] = cost
        return out

    def add_labels(self, model: str, n: int) -> None:
        """Count `n` ground-truth labels received for `model`."""
        with self.lock:
            self.labels[model] = self.labels.get(model, 0) + n

    def set_drift(self, values: dict[WindowSample, float]) -> None:
        """(model, version, feature, metric, window) -> drift of the newest complete window, for exported versions."""
        with self.lock:
            self.drift.update({k: v for k, v in values.items() if self._exported(k[0], k[1])})

    def set_performance(self, values: dict[WindowSample, float]) -> None:
        """(model, version, slice, metric, window) -> realized performance, for exported versions and slice values."""
        with self.lock:
            self.performance.update(
                {
                    k: v
                    for k, v in values.items()
                    if self._exported(k[0], k[1]) and self._slice_exported(k[0], k[2])
                }
            )

    def set_drift_mde(self, values: dict[WindowSample, float]) -> None:
        """(model, version, feature, metric, window) -> the drift value's minimum detectable effect."""
        with self.lock:
            self.drift_mde.update({k: v for k, v in values.items() if self._exported(k[0], k[1])})

    def set_performance_bounds(self, values: dict[tuple[str, str, str, str, str, str], float]) -> None:
        """(model, version, slice, metric, window, "lower" | "upper") -> the performance interval's bound."""
        with self.lock:
            self.performance_bounds.update(
                {
                    k: v
                    for k, v in values.items()
                    if self._exported(k[0], k[1]) and self._slice_exported(k[0], k[2])
                }
            )

    def set_drift_slice(self, key: tuple[str, str, str], start: Any, feature: str, slice_: str, share: float) -> None:
        """The slice explaining the drift of (model, version, window) in the window from `start`; an older
        window than the one exported is ignored."""
        with self.lock:
            if self._exported(key[0], key[1]) and (key not in self.drift_slices or start >= self.drift_slices[key][0]):
                self.drift_slices[key] = (start, feature, slice_, share)

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

    def set_quality(self, values: dict[WindowSample, float]) -> None:
        """(model, version, feature, check, window) -> share of values failing the check, for exported versions."""
        with self.lock:
            self.quality.update({k: v for k, v in values.items() if self._exported(k[0], k[1])})

    def set_attributions(self, values: dict[WindowSample, tuple[float, bool]]) -> None:
        """(model, version, feature, kind, window) -> (mean |SHAP|, whether it drifted from the reference)."""
        with self.lock:
            self.attribution.update({k: v for k, v in values.items() if self._exported(k[0], k[1])})

    def add_evaluation_failure(self, model: str, stage: str) -> None:
        """Count one evaluation step (a stage of one window, or placing a record in its window) that failed."""
        with self.lock:
            key = (model, stage)
            self.evaluation_failures[key] = self.evaluation_failures.get(key, 0) + 1

    def add_event(self, model: str, kind: str, n: int = 1) -> None:
        """Count `n` reported events of one kind (retrain, deploy, rollback) for `model`."""
        with self.lock:
            self.events[(model, kind)] = self.events.get((model, kind), 0) + n

    def add_unpaired(self, model: str, half: str) -> None:
        """Count one inference-logger half (request or response) dropped without its other half."""
        with self.lock:
            self.unpaired[(model, half)] = self.unpaired.get((model, half), 0) + 1

    def set_slos(self, remaining: dict[str, float], burn: dict[tuple[str, str], float]) -> None:
        """Replace the SLO gauges: budget remaining per SLO and burn rate per (SLO, window)."""
        with self.lock:
            self.slo_remaining, self.slo_burn = dict(remaining), dict(burn)

    def add_windows_evaluated(self, model: str, n: int = 1) -> None:
        """Count `n` windows of `model` this collector evaluated."""
        with self.lock:
            self.windows_evaluated[model] = self.windows_evaluated.get(model, 0) + n

    def set_lease(self, name: str, held: bool) -> None:
        """Whether this collector holds lease `name`; standing by, it exports none of the gauges computed
        from the shared store (drift, performance, quality, attributions, SLOs): the holder does."""
        with self.lock:
            self.lease_held[name] = int(held)
            if not held:
                self.drift, self.performance, self.quality, self.attribution = {}, {}, {}, {}
                self.slo_remaining, self.slo_burn = {}, {}

    def add_retention_deleted(self, table: str, n: int) -> None:
        """Count `n` rows of `table` deleted by retention."""
        with self.lock:
            self.retention_deleted[table] = self.retention_deleted.get(table, 0) + n


class DriftlineCollector:
    """A prometheus-client custom collector over a MetricsState; names, help and labels from `contract`."""

    def __init__(self, state: MetricsState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        """One family per series of `contract.SERIES`, in its order, from one consistent snapshot."""
        rows = _snapshot(self.state)
        for series in SERIES:
            yield _family(series, sorted(rows[series].items()))


#: The prometheus-client family class for each kind of series the collector exports.
_FAMILIES: dict[str, type[CounterMetricFamily] | type[GaugeMetricFamily] | type[HistogramMetricFamily]] = {
    "counter": CounterMetricFamily,
    "gauge": GaugeMetricFamily,
    "histogram": HistogramMetricFamily,
}


def _snapshot(s: MetricsState) -> dict[Series, dict[Any, Any]]:
    """Every exported series' samples by label values, copied under the lock so a scrape is consistent.

    A histogram's value is a copy of its `_Histogram`; every other value is the sample's number.
    """
    with s.lock:
        rows: dict[Series, dict[Any, Any]] = {  # keys: tuples of label values
            PREDICTIONS: dict(s.predictions),
            PREDICTION_LATENCY: {
                k: _Histogram(h.bounds, list(h.counts), h.total) for k, h in s.latency.items()
            },
            SDK_DROPPED: dict(s.dropped),
            COMPUTE_SECONDS: {k: u[0] for k, u in s.usage.items()},
            TOKENS: {
                (*k, direction): u[i] for k, u in s.usage.items() for i, direction in ((1, "input"), (2, "output"))
            },
            COST: s._costs(),
            FEATURE_AGE: {k: _Histogram(h.bounds, list(h.counts), h.total) for k, h in s.feature_ages.items()},
            GENAI_TTFT: {k: _Histogram(h.bounds, list(h.counts), h.total) for k, h in s.genai_ttft.items()},
            GENAI_TPOT: {k: _Histogram(h.bounds, list(h.counts), h.total) for k, h in s.genai_tpot.items()},
            GENAI_FINISH_REASONS: dict(s.finish_reasons),
            GENAI_EVALS: dict(s.evals),
            GENAI_EVAL_AGREEMENT: dict(s.eval_agreement),
            LABELS: {(model,): n for model, n in s.labels.items()},
            MODEL_VERSION_INFO: {(model, version): 1 for model, (_, version) in s.current_version.items()},
            FEATURE_DRIFT: dict(s.drift),
            FEATURE_DRIFT_MDE: dict(s.drift_mde),
            MODEL_PERFORMANCE: dict(s.performance),
            MODEL_PERFORMANCE_BOUND: dict(s.performance_bounds),
            DRIFT_SLICE: {(*k, f, sl): share for k, (_, f, sl, share) in s.drift_slices.items()},
            LABELLED_PREDICTIONS: dict(s.labelled),
            RECORDS: dict(s.records),
            FEATURE_ATTRIBUTION: {k: mean_abs for k, (mean_abs, _) in s.attribution.items()},
            ATTRIBUTION_DRIFT: {k: 1.0 if drifted else 0.0 for k, (_, drifted) in s.attribution.items()},
            DATA_QUALITY: dict(s.quality),
            SLO_ERROR_BUDGET_REMAINING: {(slo,): v for slo, v in s.slo_remaining.items()},
            SLO_BURN_RATE: dict(s.slo_burn),
            CARDINALITY_LIMITED: dict(s.limited),
            EVALUATION_FAILURES: dict(s.evaluation_failures),
            MODEL_EVENTS: dict(s.events),
            INFERENCE_UNPAIRED: dict(s.unpaired),
            WINDOWS_EVALUATED: {(m,): n for m, n in s.windows_evaluated.items()},
            LEASE_HELD: {(name,): held for name, held in s.lease_held.items()},
            RETENTION_DELETED: {(t,): n for t, n in s.retention_deleted.items()},
        }
        for kind, series in LAST_RECEIVED.items():
            rows[series] = {(model,): when for (model, k), when in s.last_received.items() if k == kind}
    return rows


def _family(series: Series, samples: list[tuple[tuple[str, ...], Any]]) -> Metric:
    """The prometheus-client family of one series holding `samples` (label values, value), in order."""
    family = _FAMILIES[series.kind](series.family, series.help, labels=list(series.labels))
    for label_values, value in samples:
        if isinstance(family, HistogramMetricFamily):
            family.add_metric(list(label_values), _cumulative(value), value.total)
        else:
            family.add_metric(list(label_values), value)
    return family


def _cumulative(hist: _Histogram) -> list[tuple[str, float]]:
    """A histogram's buckets as prometheus-client takes them: (upper bound, cumulative count), +Inf last."""
    cumulative: list[tuple[str, float]] = []
    running = 0
    for bound, n in zip([*hist.bounds, float("inf")], hist.counts, strict=True):
        running += n
        cumulative.append((_le(bound), running))
    return cumulative


def _le(bound: float) -> str:
    """A bucket bound as its `le` label value, written as it always has been (`repr`, `+Inf`)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


def make_registry(state: MetricsState) -> CollectorRegistry:
    """A registry exposing only Driftline's series (no process or platform collectors) over `state`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DriftlineCollector(state))
    return registry
