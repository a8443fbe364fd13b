"""The resolved spec: the frozen model every layer above reads, and `resolve`, which builds it.

The wire model (`spec.document`) says what a file may contain; this says what it means, with every
default filled in, durations in seconds, SLO burn windows computed and model paths resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from analyzers.registry import FEATURE_KINDS
from slo import definition as slo_definition
from slo.definition import SLO
from slo.links import Links
from spec.alerting import Alerting, AlertingSpec, resolve_alerting
from spec.document import ExplainSpec, ModelSpec, SpecFile
from spec.drift import LOWER_IS_BETTER, DriftSpec, MultivariateSpec
from spec.fields import parse_duration
from spec.prices import Prices, resolve_prices
from spec.retrains import RetrainLimit, resolve_retrains
from spec.slos import SLOSpec, burn_policy, latency_bound, ttft_bound
from spec.tensors import TensorSpec


@dataclass(frozen=True)
class Feature:
    """One declared model input, as the collector redacts and measures it."""

    name: str
    type: str
    pii: bool


@dataclass(frozen=True)
class Drift:
    """How one model's drift is measured: the window, the registered statistics and their levels."""

    window_seconds: int
    metrics: tuple[str, ...]
    warn: float
    alert: float
    bins: int
    min_count: int
    thresholds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    correction: str = "benjamini-hochberg"
    #: Every evaluated window length, the alerting one (`window_seconds`) first; empty: that one alone.
    extra_windows: tuple[int, ...] = ()

    @property
    def windows(self) -> tuple[int, ...]:
        """Every evaluated window length in seconds, the one alerts and SLOs read first."""
        return (self.window_seconds, *self.extra_windows)

    def levels(self) -> dict[str, tuple[float, float]]:
        """(warn, alert) per statistic: the spec's warn/alert for the first, then explicit per-metric ones."""
        return {self.metrics[0]: (self.warn, self.alert), **self.thresholds}


@dataclass(frozen=True)
class Impact:
    """When a model's drift pages (`drift.impact`): the performance interval against a target, and/or drift
    weighted by attribution share against a level; drift without either opens a ticket only."""

    metric: str  # the performance metric whose 95% interval is read
    target: float | None
    attribution_share: float | None

    @property
    def lower_is_better(self) -> bool:
        """Whether the metric is an error (MAE, log loss...): it crosses its target from below."""
        return self.metric in LOWER_IS_BETTER


@dataclass(frozen=True)
class Model:
    """A monitored model as the collector and the generators see it: checked, defaults filled in."""

    name: str
    features: tuple[Feature, ...]
    prediction_type: str
    positive_class: int | str | bool | None
    slices: tuple[str, ...]
    drift: Drift
    version: str | None
    runbook_url: str | None
    explain: ExplainSpec | None = None
    multivariate: MultivariateSpec | None = None
    decision_threshold: float = 0.5
    project: str = "default"
    #: How v2 inference tensors map to features and outputs (`spec.tensors`); None: the defaults.
    tensors: TensorSpec | None = None
    prices: Prices | None = None
    retrains: RetrainLimit | None = None
    impact: Impact | None = None

    @property
    def explain_features(self) -> tuple[str, ...]:
        """The explained model's input columns, in order."""
        if self.explain is None:
            return ()
        if self.explain.features is not None:
            return self.explain.features
        return tuple(f.name for f in self.features if f.type == "numeric" and not f.pii)

    @property
    def multivariate_features(self) -> tuple[str, ...]:
        """Tabular features tested jointly (embedding features are tested one by one)."""
        if self.multivariate is None:
            return ()
        if self.multivariate.features is not None:
            return self.multivariate.features
        return tuple(f.name for f in self.drift_features)

    @property
    def embedding_features(self) -> tuple[str, ...]:
        """Embedding features, each tested on its own (PII ones never)."""
        return tuple(f.name for f in self.features if f.type == "embedding" and not f.pii)

    @property
    def drift_features(self) -> tuple[Feature, ...]:
        """Features whose distribution is compared with the reference."""
        return tuple(f for f in self.features if f.type in FEATURE_KINDS and not f.pii)

    @property
    def pii_features(self) -> tuple[str, ...]:
        """Features the SDK hashes or drops before sending."""
        return tuple(f.name for f in self.features if f.pii)


@dataclass(frozen=True)
class ResolvedSpec:
    """The whole spec, resolved: the models, SLOs and alerting the layers above agree on."""

    models: tuple[Model, ...]
    raw: SpecFile
    slos: tuple[SLO, ...] = ()
    alerting: Alerting = field(default_factory=lambda: resolve_alerting(AlertingSpec()))
    #: The bases of alert links (`grafana.url`, `alerting.runbook_base_url`); None: that link is left out.
    links: Links = field(default_factory=Links)

    def model(self, name: str) -> Model | None:
        """The declared model called `name`, or None."""
        return next((m for m in self.models if m.name == name), None)

    def slo(self, name: str) -> SLO | None:
        """The declared SLO called `name`, or None."""
        return next((s for s in self.slos if s.name == name), None)


def _explain_at(e: ExplainSpec | None, base: Path | None) -> ExplainSpec | None:
    """The explain section with its model path resolved (symbolic links followed) in the models folder."""
    if e is None or base is None:
        return e
    return e.model_copy(update={"model": str((base / e.model).resolve())})


def resolve(spec: SpecFile, base: Path | None = None) -> ResolvedSpec:
    """Map the validated wire model to the frozen model the generators and collector use; relative paths
    in the spec (explain.model) are taken from `base`, the spec file's folder."""
    models = tuple(_resolve_model(m, base) for m in spec.models)
    by_name = {m.name: m for m in models}
    slos = tuple(_resolve_slo(s, by_name[s.model]) for s in spec.slos)
    return ResolvedSpec(
        models=models,
        raw=spec,
        slos=slos,
        alerting=resolve_alerting(spec.alerting),
        links=Links(spec.grafana.url, spec.alerting.runbook_base_url),
    )


def resolve_drift(d: DriftSpec) -> Drift:
    """A model's drift settings with the window in seconds and the per-statistic levels as pairs."""
    windows = [parse_duration(w) for w in ((d.window,) if isinstance(d.window, str) else d.window)]
    return Drift(
        window_seconds=windows[0],
        extra_windows=tuple(windows[1:]),
        metrics=d.metrics,
        warn=d.warn,
        alert=d.alert,
        bins=d.bins,
        min_count=d.min_count,
        thresholds={k: (t.warn, t.alert) for k, t in d.thresholds.items()},
        correction=d.correction,
    )


#: Drift settings of a model the spec does not declare: the `drift:` section's defaults.
DEFAULT_DRIFT = resolve_drift(DriftSpec())


def _resolve_model(m: ModelSpec, base: Path | None) -> Model:
    """One declared model, frozen, with its explain model path resolved under `base`."""
    return Model(
        name=m.name,
        features=tuple(Feature(f.name, f.type, f.pii) for f in m.features),
        prediction_type=m.prediction.type,
        positive_class=m.prediction.positive_class,
        slices=m.slices,
        drift=resolve_drift(m.drift),
        version=m.version,
        runbook_url=m.runbook_url,
        explain=_explain_at(m.explain, base),
        multivariate=m.drift.multivariate,
        decision_threshold=m.prediction.decision_threshold,
        project=m.project,
        tensors=m.tensors,
        prices=resolve_prices(m.prices),
        retrains=resolve_retrains(m.retrains),
        impact=_impact(m),
    )


def _impact(m: ModelSpec) -> Impact | None:
    """The model's impact gate with its metric filled in: CBPE's estimate for classifiers, MAE for regressors."""
    i = m.drift.impact
    if i is None:
        return None
    default = "mae" if m.prediction.type == "regression" else "estimated_accuracy"
    return Impact(i.metric or default, i.target, i.attribution_share)


def _resolve_slo(s: SLOSpec, model: Model) -> SLO:
    """An SLO with its budgeting, burn windows and the model's drift threshold, version and runbook filled in."""
    # one feature's age is counted per call (occurrences); every other SLI starts from its natural method
    features = s.sli == "freshness" and s.source == "features"
    budgeting = s.budgeting or ("occurrences" if features else slo_definition.BUDGETING[s.sli][0])
    return SLO(
        name=s.name,
        model=s.model,
        sli=s.sli,
        objective=s.objective,
        period_seconds=parse_duration(s.window),
        budgeting=budgeting,
        windows=burn_policy(s.objective, s.window, s.alerting, gated=budgeting == "occurrences"),
        timeslice_seconds=parse_duration(s.timeslice),
        threshold_seconds=None
        if s.threshold_ms is None
        else (ttft_bound if s.sli == "time_to_first_token" else latency_bound)(s.threshold_ms),
        target=s.target,
        drift_metric=model.drift.metrics[0] if s.sli == "drift" else None,
        drift_threshold=model.drift.alert if s.sli == "drift" else None,
        max_age_seconds=None if s.max_age is None else parse_duration(s.max_age),
        freshness_source=s.source or "records",
        feature=s.feature,
        version=model.version,
        runbook_url=model.runbook_url,
        evaluation_seconds=model.drift.window_seconds if s.sli in ("accuracy", "drift") else None,
    )
