"""The spec file (`driftline.yaml`): a strict wire model, its loader, and the resolved frozen model.

Only `ResolvedSpec` reaches the collector and the generators. Loading errors name the line, the
field path, the bad value and the fix, so `driftline check` can print them as they are.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sdk.wire import DEFAULT_LATENCY_BOUNDS
from slo import definition as slo_definition
from slo import windows as slo_windows
from slo.definition import SLO
from spec.alerting import Alerting, AlertingSpec, resolve_alerting

NAME_RE = r"^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$"
#: Largest spec file read: a spec is a few kilobytes, and the parse should stay bounded.
MAX_SPEC_BYTES = 1 << 20
#: Values a spec may hold once YAML aliases are expanded: an alias bomb (`&b [*a, *a, ...]` nested a few
#: levels) is refused here instead of being expanded into billions of values.
MAX_SPEC_NODES = 100_000
#: Environment variable naming the folder that explain model files are taken from, instead of the spec's.
MODELS_DIR_ENV = "DRIFTLINE_MODELS_DIR"
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_DURATION_RE = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """Seconds in a Prometheus-style duration such as `30s`, `5m`, `1h`, `30d`."""
    m = _DURATION_RE.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration: write a number and a unit, like 30s, 5m, 1h or 30d")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def _duration(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{v!r} is not a duration: write a number and a unit, like 30s, 5m, 1h or 30d")
    if parse_duration(v) <= 0:
        raise ValueError(f"{v!r} must be longer than zero")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureSpec(_Strict):
    """One model input."""

    name: str = Field(pattern=NAME_RE, description="Feature name as the SDK sends it.")
    type: Literal["numeric", "categorical", "text", "embedding"] = Field(
        description="numeric and categorical features get drift; text is only redacted and stored."
    )
    pii: bool = Field(False, description="Personal data: the SDK hashes or drops it before sending.")


class PredictionSpec(_Strict):
    """What the model outputs."""

    type: Literal["binary", "multiclass", "regression"] = Field(description="Kind of prediction.")
    positive_class: int | str | bool | None = Field(1, description="Binary only: the positive label.")
    decision_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Binary only: a score at or above it is the positive class. CBPE uses it for records "
        "that carry a score but no prediction; records with a prediction are judged by that prediction.",
    )


DriftMetric = Literal["psi", "kl", "kl_reverse", "js", "jeffreys", "hellinger", "chi2", "ks", "wasserstein"]
#: Hypothesis tests: their thresholds are p-value levels, so alert sits below warn.
P_VALUE_TESTS = frozenset({"chi2", "ks"})


class ThresholdSpec(_Strict):
    """Warn and alert levels of one statistic (p-value levels for chi2 and ks, where alert < warn)."""

    warn: float = Field(gt=0)
    alert: float = Field(gt=0)


def _check_levels(metric: str, warn: float, alert: float, where: str) -> None:
    if metric in P_VALUE_TESTS:
        if alert >= warn:
            raise ValueError(
                f"{where}: {metric} is a test judged on its corrected p-value, so alert ({alert}) must be below "
                f"warn ({warn}), such as warn: 0.05, alert: 0.01"
            )
    elif warn >= alert:
        raise ValueError(f"{where}: warn ({warn}) must be below alert ({alert}): lower warn or raise alert")


class DriftSpec(_Strict):
    """How drift is measured for one model."""

    window: Annotated[str, Field(description="Evaluation window (event time), e.g. 1h.")] = "1h"
    metrics: tuple[DriftMetric, ...] = Field(
        ("psi", "kl", "js"), min_length=1, description="Statistics computed on every window."
    )
    warn: float = Field(0.1, gt=0, description="Value of the first metric at which a feature warns.")
    alert: float = Field(0.25, gt=0, description="Value of the first metric at which a feature alerts.")
    thresholds: dict[DriftMetric, ThresholdSpec] = Field(
        default_factory=dict, description="Per-statistic warn/alert; others keep their registered defaults."
    )
    bins: int = Field(10, ge=2, le=100, description="Quantile bins fitted on the reference.")
    min_count: int = Field(30, ge=1, description="Fewer current values than this is insufficient data.")
    correction: Literal["benjamini-hochberg", "bonferroni", "none"] = Field(
        "benjamini-hochberg", description="How p-value tests are corrected across a window's features."
    )
    multivariate: MultivariateSpec | None = Field(
        None, description="Joint (multivariate and embedding) drift with alibi-detect; off when absent."
    )

    _check_window = field_validator("window")(classmethod(lambda cls, v: _duration(v)))

    @model_validator(mode="after")
    def _warn_below_alert(self) -> DriftSpec:
        _check_levels(self.metrics[0], self.warn, self.alert, f"the first metric ({self.metrics[0]})")
        for metric, t in self.thresholds.items():
            _check_levels(metric, t.warn, t.alert, f"thresholds.{metric}")
        return self


class ExplainSpec(_Strict):
    """SHAP attributions computed by the collector for a registered tree model (scikit-learn, XGBoost,
    LightGBM): prediction attributions per sampled record, loss attributions on labelled ones."""

    model: str = Field(
        description="Path of the model file (.joblib or .pkl), relative to the spec file's folder (or to "
        "DRIFTLINE_MODELS_DIR when set) and inside it. Loaded in a worker process: unpickling runs code."
    )
    sha256: str = Field(
        description="SHA-256 of the model file, as `sha256sum` prints it: a file with another digest is "
        "never loaded."
    )
    features: tuple[str, ...] | None = Field(
        None, description="The model's input columns in order; default: the declared numeric features."
    )
    class_index: int | None = Field(None, ge=0, description="Output explained for a multi-output model.")
    background: int = Field(
        100, ge=10, le=1000, description="Reference rows the loss attributions integrate over."
    )
    min_count: int = Field(30, ge=1, description="Fewer attributions than this is insufficient data.")
    alert: float = Field(0.01, gt=0, lt=1, description="Corrected KS p-value below which attributions moved.")
    min_effect: float = Field(
        0.1, gt=0, description="And the smallest change, as a share of the reference's total mean |SHAP|."
    )

    @field_validator("model")
    @classmethod
    def _relative_inside(cls, v: str) -> str:
        """Only a relative path without `..` can stay inside the models folder (symbolic links are checked
        when the file is resolved)."""
        if not v.strip() or "\x00" in v:
            raise ValueError(
                "write the model file's path relative to the spec file's folder, such as churn.joblib"
            )
        if Path(v).is_absolute():
            raise ValueError(
                "an absolute path may load a file from anywhere: copy the file into the spec file's folder "
                f"(or {MODELS_DIR_ENV}) and write its path relative to it"
            )
        if ".." in Path(v).parts:
            raise ValueError(
                "'..' leads out of the spec file's folder: copy the file into that folder "
                f"(or {MODELS_DIR_ENV}) and write its path relative to it"
            )
        return v

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, v: str) -> str:
        if not isinstance(v, str) or not _SHA256_RE.match(v):
            raise ValueError("not a SHA-256: write the 64 hexadecimal digits `sha256sum <model file>` prints")
        return v.lower()


class MultivariateSpec(_Strict):
    """Drift of the joint distribution (alibi-detect MMD or LSDD with a permutation test), needs the
    `multivariate` extra. One test over the tabular features, and one per embedding feature."""

    method: Literal["mmd", "lsdd"] = Field("mmd", description="Kernel two-sample statistic.")
    features: tuple[str, ...] | None = Field(
        None, description="Tabular features tested jointly; default: the numeric and categorical ones."
    )
    max_samples: int = Field(500, ge=20, le=5000, description="Rows per side; kernel tests cost O(n^2).")
    n_permutations: int = Field(100, ge=10, le=10000, description="Permutations behind the p-value.")
    p_value: float = Field(0.05, gt=0, lt=1, description="Level below which the window has drifted.")


class ModelSpec(_Strict):
    """A monitored model."""

    name: str = Field(pattern=NAME_RE, description="Model name as the SDK sends it.")
    features: tuple[FeatureSpec, ...] = Field(min_length=1, description="Declared inputs.")
    prediction: PredictionSpec = Field(description="What the model outputs.")
    slices: tuple[str, ...] = Field((), description="Columns to break performance down by.")
    drift: DriftSpec = Field(default_factory=DriftSpec, description="Drift settings.")
    version: str | None = Field(None, description="The version expected in production, if pinned.")
    runbook_url: str | None = Field(None, description="Link put on this model's alerts.")
    explain: ExplainSpec | None = Field(None, description="SHAP attributions computed by the collector.")
    project: str = Field(
        "default",
        pattern=NAME_RE,
        description="The project the model belongs to: only its tokens may touch it.",
    )

    @model_validator(mode="after")
    def _check_features(self) -> ModelSpec:
        """Feature names are unique; explained and jointly tested features are declared, of a usable type."""
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature names must be unique; repeated: {', '.join(dupes)}")
        kinds = {f.name: f for f in self.features}
        if self.explain is not None and self.explain.features is not None:
            for name in self.explain.features:
                f = kinds.get(name)
                if f is None or f.type != "numeric" or f.pii:
                    raise ValueError(
                        f"explain.features: {name!r} is not a declared numeric, non-PII feature; tree models are "
                        "explained on numeric columns: declare it or encode it upstream"
                    )
        mv = self.drift.multivariate
        if mv is not None and mv.features is not None:
            for name in mv.features:
                f = kinds.get(name)
                if f is None or f.type not in ("numeric", "categorical") or f.pii:
                    raise ValueError(
                        f"drift.multivariate.features: {name!r} is not a declared numeric or categorical, non-PII "
                        "feature (embedding features get their own test automatically)"
                    )
        return self


class BurnWindowSpec(_Strict):
    """One row of an SLO's burn-rate alerting policy."""

    severity: Literal["page", "ticket"] = Field(
        description="page wakes someone; ticket waits for office hours."
    )
    long: str = Field(description="Long window, e.g. 1h: the burn must have lasted this long.")
    short: str = Field(description="Short window, e.g. 5m: the burn must still be going on.")
    factor: float | None = Field(None, gt=0, description="Burn rate that fires, e.g. 14.4.")
    budget_percent: float | None = Field(
        None,
        gt=0,
        le=100,
        description="Or: the share of the period's budget the long window may spend, e.g. 2.",
    )

    _check_windows = field_validator("long", "short")(classmethod(lambda cls, v: _duration(v)))

    @model_validator(mode="after")
    def _factor_or_share(self) -> BurnWindowSpec:
        if (self.factor is None) == (self.budget_percent is None):
            raise ValueError(
                "give exactly one of factor (a burn rate such as 14.4) or budget_percent (such as 2)"
            )
        return self


class SLOAlertingSpec(_Strict):
    """How one SLO alerts; by default the SRE workbook's windows scaled to the SLO's period."""

    windows: tuple[BurnWindowSpec, ...] | None = Field(
        None, description="Replaces the default page and ticket windows."
    )
    min_events: int | None = Field(
        None,
        ge=0,
        description="Events a long window must hold before it may alert (0: no gate). Default: enough that"
        " one bad event alone stays under the window's threshold.",
    )

    @field_validator("windows")
    @classmethod
    def _some_windows(cls, v: tuple[BurnWindowSpec, ...] | None) -> tuple[BurnWindowSpec, ...] | None:
        if v is not None and not v:
            raise ValueError("an empty list alerts on nothing: list at least one window, or remove windows")
        return v


class SLOSpec(_Strict):
    """A service-level objective over one model: an SLI, an objective over a rolling period, and alerting."""

    name: str = Field(pattern=NAME_RE, description="Unique SLO name; the `slo` label on rules and alerts.")
    model: str = Field(description="The declared model the SLO watches.")
    sli: Literal["availability", "latency", "accuracy", "drift", "data_quality", "freshness"] = Field(
        description="What is measured: calls that succeed, calls under threshold_ms, accuracy at target,"
        " windows without drift, valid records, or data newer than max_age."
    )
    objective: float = Field(gt=0, lt=100, description="Percent of good events, strictly below 100.")
    window: str = Field("30d", description="Rolling SLO period, e.g. 7d, 28d, 30d, 90d.")
    budgeting: Literal["occurrences", "timeslices"] | None = Field(
        None,
        validate_default=True,
        description="OpenSLO budgeting: count bad events, or bad timeslices. Default: the SLI's natural one.",
    )
    timeslice: str = Field("1m", description="timeslices: the length of one slice.")
    threshold_ms: float | None = Field(
        None, validate_default=True, description="latency SLI: a latency histogram bucket bound, in ms."
    )
    target: float | None = Field(
        None,
        validate_default=True,
        description="timeslices: the share a slice must reach to be good (accuracy: the accuracy, e.g. 0.9).",
    )
    max_age: str | None = Field(
        None, validate_default=True, description="freshness SLI: the oldest acceptable newest data, e.g. 15m."
    )
    source: Literal["records", "labels"] | None = Field(
        None, validate_default=True, description="freshness SLI: watch records (default) or labels."
    )
    alerting: SLOAlertingSpec | None = Field(
        None, validate_default=True, description="Burn-rate windows and the minimum-traffic gate."
    )

    _check_window = field_validator("window", "timeslice")(classmethod(lambda cls, v: _duration(v)))

    @field_validator("budgeting")
    @classmethod
    def _budgeting_fits_the_sli(cls, v: str | None, info: ValidationInfo) -> str | None:
        sli = info.data.get("sli")
        if v is not None and sli in slo_definition.BUDGETING and v not in slo_definition.BUDGETING[sli]:
            raise ValueError(
                f"{_a(sli)} SLO counts timeslices only: write budgeting: timeslices or remove budgeting"
            )
        return v

    @field_validator("threshold_ms")
    @classmethod
    def _threshold_on_the_bucket_grid(cls, v: float | None, info: ValidationInfo) -> float | None:
        sli = info.data.get("sli")
        if sli is None:
            return v
        if sli != "latency":
            if v is not None:
                raise ValueError(f"threshold_ms is for latency SLOs and this one is {sli}: remove it")
            return v
        if v is None:
            raise PydanticCustomError(
                "missing",
                "a latency SLO needs threshold_ms, a latency bucket bound in milliseconds such as 200",
            )
        if _latency_bound(v) is None:
            raise ValueError(f"{v:g} ms is not a latency bucket bound: {_nearest_bounds(v)}")
        return v

    @field_validator("target")
    @classmethod
    def _target_where_slices_need_one(cls, v: float | None, info: ValidationInfo) -> float | None:
        sli, budgeting = info.data.get("sli"), info.data.get("budgeting")
        if sli is None or "budgeting" not in info.data:
            return v
        budgeting = budgeting or slo_definition.BUDGETING[sli][0]
        if sli in ("drift", "freshness"):
            if v is not None:
                where = "the model's drift.alert threshold" if sli == "drift" else "max_age"
                raise ValueError(f"{_a(sli)} SLO judges each slice by {where}: remove target")
        elif budgeting == "occurrences":
            if v is not None:
                raise ValueError(
                    "target is the per-slice goal of timeslices budgeting: remove it, or add budgeting: timeslices"
                )
        elif v is None:
            example = "the accuracy a slice must reach, such as 0.9" if sli == "accuracy" else "such as 0.99"
            raise PydanticCustomError(
                "missing", f"{_a(sli)} SLO counting timeslices needs a target, {example}"
            )
        elif not 0 < v <= 1:
            raise ValueError(f"{v:g} is not a share: write a target above 0 and at most 1, such as 0.9")
        return v

    @field_validator("max_age", "source")
    @classmethod
    def _freshness_only(cls, v: str | None, info: ValidationInfo) -> str | None:
        sli = info.data.get("sli")
        if sli is None:
            return v
        field = info.field_name
        if sli != "freshness":
            if v is not None:
                raise ValueError(f"{field} is for freshness SLOs and this one is {sli}: remove it")
            return v
        if field == "max_age":
            if v is None:
                raise PydanticCustomError(
                    "missing",
                    "a freshness SLO needs max_age, the age of the newest data that is still fresh, such as 15m",
                )
            return _duration(v)
        return v

    @field_validator("alerting")
    @classmethod
    def _policy_can_fire(cls, v: SLOAlertingSpec | None, info: ValidationInfo) -> SLOAlertingSpec | None:
        if {"objective", "window", "sli"} <= info.data.keys():
            _policy(info.data["objective"], info.data["window"], v, gated=True)
        return v


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _latency_bound(threshold_ms: float) -> float | None:
    """The latency bucket bound (seconds) equal to a threshold in milliseconds, if there is one."""
    return next(
        (b for b in DEFAULT_LATENCY_BOUNDS if math.isclose(b * 1000, threshold_ms, rel_tol=1e-9)), None
    )


def _nearest_bounds(threshold_ms: float) -> str:
    below = [b * 1000 for b in DEFAULT_LATENCY_BOUNDS if b * 1000 < threshold_ms]
    above = [b * 1000 for b in DEFAULT_LATENCY_BOUNDS if b * 1000 > threshold_ms]
    if below and above:
        return f"use {below[-1]:g} or {above[0]:g}, the nearest bounds"
    if below:
        return f"use {below[-1]:g}, the largest bound"
    return f"use {above[0]:g}, the smallest bound"


def _policy(
    objective: float, window: str, alerting: SLOAlertingSpec | None, gated: bool
) -> tuple[slo_windows.BurnWindow, ...]:
    rules = None
    if alerting is not None and alerting.windows:
        rules = tuple(
            slo_windows.WindowRule(
                severity=w.severity,
                long_seconds=parse_duration(w.long),
                short_seconds=parse_duration(w.short),
                budget_share=None if w.budget_percent is None else w.budget_percent / 100,
                factor=w.factor,
            )
            for w in alerting.windows
        )
    return slo_windows.policy(
        objective,
        parse_duration(window),
        rules,
        min_events=alerting.min_events if alerting else None,
        gated=gated,
    )


class SpecFile(_Strict):
    """The whole file, version 1."""

    version: Literal[1] = Field(1, description="Spec format version.")
    models: tuple[ModelSpec, ...] = Field(min_length=1)
    slos: tuple[SLOSpec, ...] = ()
    alerting: AlertingSpec = Field(default_factory=AlertingSpec)

    @model_validator(mode="after")
    def _cross_references(self) -> SpecFile:
        model_names = [m.name for m in self.models]
        for name in sorted({n for n in model_names if model_names.count(n) > 1}):
            raise ValueError(f"model {name!r} is declared twice: model names must be unique")
        for m in self.models:
            declared = {f.name for f in m.features}
            for s in m.slices:
                if s not in declared:
                    raise ValueError(
                        f"model {m.name!r}: slice {s!r} is not a declared feature{_hint(s, declared)}"
                    )
        slo_names = [s.name for s in self.slos]
        for name in sorted({n for n in slo_names if slo_names.count(n) > 1}):
            raise ValueError(f"slo {name!r} is declared twice: SLO names must be unique")
        for slo in self.slos:
            if slo.model not in model_names:
                raise ValueError(
                    f"slo {slo.name!r}: model {slo.model!r} is not declared{_hint(slo.model, model_names)}"
                )
        return self


def _hint(bad: str, choices: Any) -> str:
    close = difflib.get_close_matches(bad, list(choices), n=1)
    return (
        f" (did you mean {close[0]!r}?)" if close else f"; declared: {', '.join(sorted(choices)) or 'none'}"
    )


# --------------------------------------------------------------------------------------------------
# Resolved model: what the rest of the code sees.


@dataclass(frozen=True)
class Feature:
    name: str
    type: str
    pii: bool


@dataclass(frozen=True)
class Drift:
    window_seconds: int
    metrics: tuple[str, ...]
    warn: float
    alert: float
    bins: int
    min_count: int
    thresholds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    correction: str = "benjamini-hochberg"

    def levels(self) -> dict[str, tuple[float, float]]:
        """(warn, alert) per statistic: the spec's warn/alert for the first, then explicit per-metric ones."""
        return {self.metrics[0]: (self.warn, self.alert), **self.thresholds}


@dataclass(frozen=True)
class Model:
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
        return tuple(f.name for f in self.features if f.type == "embedding" and not f.pii)

    @property
    def drift_features(self) -> tuple[Feature, ...]:
        """Features whose distribution is compared with the reference."""
        return tuple(f for f in self.features if f.type in ("numeric", "categorical") and not f.pii)

    @property
    def pii_features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.pii)


@dataclass(frozen=True)
class ResolvedSpec:
    models: tuple[Model, ...]
    raw: SpecFile
    slos: tuple[SLO, ...] = ()
    alerting: Alerting = field(default_factory=lambda: resolve_alerting(AlertingSpec()))

    def model(self, name: str) -> Model | None:
        return next((m for m in self.models if m.name == name), None)

    def slo(self, name: str) -> SLO | None:
        return next((s for s in self.slos if s.name == name), None)


def _explain_at(e: ExplainSpec | None, base: Path | None) -> ExplainSpec | None:
    """The explain section with its model path resolved (symbolic links followed) in the models folder."""
    if e is None or base is None:
        return e
    return e.model_copy(update={"model": str((base / e.model).resolve())})


def models_folder(base: Path | None, models_dir: str | Path | None = None) -> Path:
    """Where explain model files are taken from: `models_dir`, else DRIFTLINE_MODELS_DIR, else the spec file's
    folder (the current folder for a spec that is no file)."""
    given = models_dir if models_dir is not None else os.environ.get(MODELS_DIR_ENV) or None
    return Path(given) if given is not None else (base if base is not None else Path("."))


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's bytes, as `sha256sum` prints it."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _model_file_problems(spec: SpecFile, doc: Any, root: Path, require_files: bool) -> list[str]:
    """Each explain model file must resolve inside `root` (no symbolic link out of it), and, where it
    exists (always, with `require_files`), have the pinned SHA-256; one line per problem."""
    problems: list[str] = []
    inside = root.resolve()
    for i, m in enumerate(spec.models):
        if m.explain is None:
            continue
        where = ("models", i, "explain")
        line = _line_of(doc, (*where, "model"))
        at = f"{line}: " if line else " "
        target = (root / m.explain.model).resolve()
        if not target.is_relative_to(inside):
            problems.append(
                f"{at}models.{i}.explain.model: {m.explain.model!r} leads to {target}, outside {inside} (through "
                f"a symbolic link); fix: copy the model file into {inside} and name it there"
            )
        elif not target.exists():
            if require_files:
                problems.append(
                    f"{at}models.{i}.explain.model: no such file {target}; fix: save the model there or "
                    "correct the path"
                )
        elif not target.is_file():
            problems.append(
                f"{at}models.{i}.explain.model: {target} is not a regular file; fix: name the model file"
            )
        else:
            actual = sha256_of(target)
            if actual != m.explain.sha256:
                line = _line_of(doc, (*where, "sha256")) or line
                problems.append(
                    f"{line}: models.{i}.explain.sha256: {m.explain.model} has SHA-256 {actual}, not the pinned "
                    f"{m.explain.sha256}, so it is not loaded; fix: if you trust this file, write sha256: {actual}"
                )
    return problems


def _own_errors(errors: list[Any]) -> list[Any]:
    """The errors without pydantic's echo: a list whose items failed is also reported as too short."""
    return [
        e
        for e in errors
        if e["type"] != "too_short"
        or not any(len(o["loc"]) > len(e["loc"]) and o["loc"][: len(e["loc"])] == e["loc"] for o in errors)
    ]


def _pin_hint(doc: Any, err: Mapping[str, Any], root: Path) -> str:
    """For a missing explain.sha256: the digest of the file the spec names, ready to paste, when it is a
    regular file inside the models folder."""
    loc = tuple(err["loc"])
    if err["type"] != "missing" or loc[-1:] != ("sha256",) or len(loc) < 2 or loc[-2] != "explain":
        return ""
    node: Any = _strip_lines(doc)
    for part in loc[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return ""
    name = node.get("model") if isinstance(node, dict) else None
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        return ""
    try:
        target = (root / name).resolve()
        if not target.is_relative_to(root.resolve()) or not target.is_file():
            return ""
        return f" (the file there now has sha256: {sha256_of(target)})"
    except (OSError, ValueError):
        return ""


def resolve(spec: SpecFile, base: Path | None = None) -> ResolvedSpec:
    """Map the validated wire model to the frozen model the generators and collector use; relative paths
    in the spec (explain.model) are taken from `base`, the spec file's folder."""
    models = tuple(
        Model(
            name=m.name,
            features=tuple(Feature(f.name, f.type, f.pii) for f in m.features),
            prediction_type=m.prediction.type,
            positive_class=m.prediction.positive_class,
            slices=m.slices,
            drift=Drift(
                window_seconds=parse_duration(m.drift.window),
                metrics=m.drift.metrics,
                warn=m.drift.warn,
                alert=m.drift.alert,
                bins=m.drift.bins,
                min_count=m.drift.min_count,
                thresholds={k: (t.warn, t.alert) for k, t in m.drift.thresholds.items()},
                correction=m.drift.correction,
            ),
            version=m.version,
            runbook_url=m.runbook_url,
            explain=_explain_at(m.explain, base),
            multivariate=m.drift.multivariate,
            decision_threshold=m.prediction.decision_threshold,
            project=m.project,
        )
        for m in spec.models
    )
    by_name = {m.name: m for m in models}
    slos = tuple(_resolve_slo(s, by_name[s.model]) for s in spec.slos)
    return ResolvedSpec(models=models, raw=spec, slos=slos, alerting=resolve_alerting(spec.alerting))


def _resolve_slo(s: SLOSpec, model: Model) -> SLO:
    """An SLO with its budgeting, burn windows and the model's drift threshold, version and runbook filled in."""
    budgeting = s.budgeting or slo_definition.BUDGETING[s.sli][0]
    return SLO(
        name=s.name,
        model=s.model,
        sli=s.sli,
        objective=s.objective,
        period_seconds=parse_duration(s.window),
        budgeting=budgeting,
        windows=_policy(s.objective, s.window, s.alerting, gated=budgeting == "occurrences"),
        timeslice_seconds=parse_duration(s.timeslice),
        threshold_seconds=None if s.threshold_ms is None else _latency_bound(s.threshold_ms),
        target=s.target,
        drift_metric=model.drift.metrics[0] if s.sli == "drift" else None,
        drift_threshold=model.drift.alert if s.sli == "drift" else None,
        max_age_seconds=None if s.max_age is None else parse_duration(s.max_age),
        freshness_source=s.source or "records",
        version=model.version,
        runbook_url=model.runbook_url,
        evaluation_seconds=model.drift.window_seconds if s.sli in ("accuracy", "drift") else None,
    )


class SpecError(ValueError):
    """A spec file that cannot be used; `problems` holds one line per mistake."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        return "\n".join(f"{self.source}:{p}" for p in self.problems)


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping key, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    lines = {loader.construct_object(k, deep=True): k.start_mark.line + 1 for k, _ in node.value}
    mapping["__lines__"] = lines
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_lines(v) for k, v in obj.items() if k not in ("__lines__", "__line__")}
    if isinstance(obj, list):
        return [_strip_lines(v) for v in obj]
    return obj


def _line_of(doc: Any, loc: tuple[Any, ...]) -> int | None:
    """The source line of the deepest part of `loc` that exists in the parsed document."""
    line, node = None, doc
    for part in loc:
        if isinstance(node, dict):
            line = node.get("__lines__", {}).get(part, node.get("__line__", line))
            if part not in node:
                break
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, dict):
                line = node.get("__line__", line)
        else:
            break
    return line


_FIELD_FIXES = {
    "objective": "write the percentage of good events, above 0 and below 100, such as 99.9",
}
#: Fixes of a missing field, where "add it" is not enough.
_MISSING_FIXES = {
    "sha256": "pin the model file: add sha256: with the 64 hexadecimal digits `sha256sum <model file>` prints",
}
_FIXES = {
    "extra_forbidden": "remove it or check its spelling",
    "missing": "add it",
    "literal_error": "use one of the allowed values",
}


def _describe(doc: Any, err: dict[str, Any]) -> str:
    loc = tuple(p for p in err["loc"] if p not in ("__root__",))
    path = ".".join(str(p) for p in loc) or "(top level)"
    line = _line_of(doc, loc)
    msg = err["msg"].removeprefix("Value error, ")
    fix = _FIELD_FIXES.get(str(loc[-1]) if loc else "", _FIXES.get(err["type"], ""))
    if err["type"] == "extra_forbidden" and loc:
        fix = _suggest_field(loc)
    if err["type"] == "missing" and loc:
        fix = _MISSING_FIXES.get(str(loc[-1]), fix)
    bad = "" if err["type"] in ("missing",) else f" (got {_short(err.get('input'))})"
    where = f"{line}: " if line else " "
    return f"{where}{path}: {msg}{bad}" + (f"; fix: {fix}" if fix else "")


def _suggest_field(loc: tuple[Any, ...]) -> str:
    bad = str(loc[-1])
    owner: type[BaseModel] = SpecFile
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = owner.model_fields.get(str(part))
        if field is None:
            break
        ann = field.annotation
        inner = next(
            (a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)),
            None,
        )
        if inner is None:
            break
        owner = inner
    close = difflib.get_close_matches(bad, list(owner.model_fields), n=1)
    return f"did you mean {close[0]!r}?" if close else f"allowed fields: {', '.join(owner.model_fields)}"


def _short(v: Any) -> str:
    v = _strip_lines(v)
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_yaml(text: str, source: str) -> Any:
    """The YAML document, bounded: at most MAX_SPEC_NODES values once aliases are expanded, no recursive
    alias, no nesting deeper than the parser's stack; every refusal is one SpecError line."""
    loader = None
    try:
        loader = _LineLoader(text)  # its reader refuses control characters right away
        node = loader.get_single_node()
        if node is None:
            return None
        _bounded(node, source)
        return loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        at = text.count("\n", 0, exc.position) + 1
        raise SpecError(
            source,
            [f"{at}: not valid YAML: character #x{exc.character:04x} is not allowed in YAML ({exc.reason})"],
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}: " if mark else " "
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(source, [f"{line}not valid YAML: {' '.join(str(problem).split())}"]) from None
    except RecursionError:
        raise SpecError(
            source, [" not a usable spec: the YAML is nested too deeply; a spec is a few levels deep"]
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _bounded(root: yaml.Node, source: str) -> None:
    """Count the values the document expands to (an alias counts its anchor's whole subtree each time),
    visiting each distinct node once, so an alias bomb is measured without being expanded."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            children = _children(node)
            sizes[key] = min(1 + sum(sizes[id(c)] for c in children), MAX_SPEC_NODES + 1)
            if sizes[key] > MAX_SPEC_NODES:
                raise SpecError(
                    source,
                    [
                        f"{node.start_mark.line + 1}: not a usable spec: its aliases expand to more than "
                        f"{MAX_SPEC_NODES:,} values (an alias bomb); write the repeated parts out, or alias less"
                    ],
                )
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise SpecError(
                source,
                [
                    f"{node.start_mark.line + 1}: not a usable spec: an alias refers to the node that contains it"
                ],
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load_spec_text(
    text: str,
    source: str = "<spec>",
    base: Path | None = None,
    *,
    models_dir: str | Path | None = None,
    require_files: bool = False,
) -> ResolvedSpec:
    """Parse and validate spec YAML; raises SpecError listing every mistake with its line.

    Explain model files are resolved in `models_folder(base, models_dir)` and checked against their pinned
    SHA-256 where they exist; `require_files` (for `driftline check`) also refuses a missing one."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(
            source,
            [f" not a usable spec: {len(text):,} characters, more than {MAX_SPEC_BYTES:,} a spec may have"],
        )
    doc = _parse_yaml(text, source)
    if not isinstance(doc, dict):
        raise SpecError(source, [" the file must be a mapping with a `models:` list"])
    root = models_folder(base, models_dir)
    try:
        spec = SpecFile.model_validate(_strip_lines(doc))
    except ValidationError as exc:
        errors: list[Any] = _own_errors(exc.errors())
        raise SpecError(source, [_describe(doc, e) + _pin_hint(doc, e, root) for e in errors]) from None
    problems = _model_file_problems(spec, doc, root, require_files)
    if problems:
        raise SpecError(source, problems)
    return resolve(spec, root)


def load_spec(
    path: str | Path, *, models_dir: str | Path | None = None, require_files: bool = False
) -> ResolvedSpec:
    """Load a spec file from disk: UTF-8, at most MAX_SPEC_BYTES, YAML bounded as `load_spec_text` says."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(str(p), [f" cannot read the file: {exc.strerror or exc}"]) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(
            str(p), [f" not a usable spec: larger than {MAX_SPEC_BYTES:,} bytes; a spec is a few kilobytes"]
        )
    return load_spec_text(
        _utf8(data, str(p)), source=str(p), base=p.parent, models_dir=models_dir, require_files=require_files
    )


def _utf8(data: bytes, source: str) -> str:
    """The file's text; anything but UTF-8 is refused with where it goes wrong and how to fix it."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError(
            source, [" the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8"]
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SpecError(
            source,
            [
                f"{line}: the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                "save it as UTF-8"
            ],
        ) from None
