"""The strict wire model of a spec file: what `driftline.yaml` may say, field by field, with its checks.

Every section refuses unknown fields and names the fix; the `drift:` and `slos:` sections live in
`spec.drift` and `spec.slos`, the `alerting:` block in `spec.alerting`. Nothing here reads files:
checking explain model files is `spec.files`' job, loading is `spec.loading`'s.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from analyzers.performance import metrics_for
from analyzers.registry import FEATURE_KINDS
from slo.links import check_absolute, grafana_base
from spec.alerting import AlertingSpec
from spec.drift import DriftSpec
from spec.fields import NAME_RE, Misplaced, Strict, hint
from spec.prices import PricesSpec
from spec.retention import RetentionSpec
from spec.retrains import RetrainsSpec
from spec.slos import SLOSpec
from spec.tensors import TensorSpec, tensor_problems

#: Environment variable naming the folder that explain model files are taken from, instead of the spec's.
MODELS_DIR_ENV = "DRIFTLINE_MODELS_DIR"
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")


class FeatureSpec(Strict):
    """One model input."""

    name: str = Field(pattern=NAME_RE, description="Feature name as the SDK sends it.")
    type: Literal["numeric", "categorical", "text", "embedding"] = Field(
        description="numeric and categorical features get drift; text is only redacted and stored."
    )
    pii: bool = Field(False, description="Personal data: the SDK hashes or drops it before sending.")


class PredictionSpec(Strict):
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


class ExplainSpec(Strict):
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


class ModelSpec(Strict):
    """A monitored model."""

    name: str = Field(pattern=NAME_RE, description="Model name as the SDK sends it.")
    features: tuple[FeatureSpec, ...] = Field(min_length=1, description="Declared inputs.")
    prediction: PredictionSpec = Field(description="What the model outputs.")
    slices: tuple[str, ...] = Field((), description="Columns to break performance down by.")
    drift: DriftSpec = Field(default_factory=DriftSpec, description="Drift settings.")
    version: str | None = Field(None, description="The version expected in production, if pinned.")
    runbook_url: str | None = Field(
        None,
        description="Absolute http(s) link put on this model's alerts instead of the shipped runbooks.",
    )
    explain: ExplainSpec | None = Field(None, description="SHAP attributions computed by the collector.")
    project: str = Field(
        "default",
        pattern=NAME_RE,
        description="The project the model belongs to: only its tokens may touch it.",
    )
    tensors: TensorSpec | None = Field(
        None, description="How a model server's named v2 tensors map to features, prediction and score."
    )
    prices: PricesSpec | None = Field(
        None, description="Price table: what compute, tokens and calls cost; exported as spend per version."
    )
    retrains: RetrainsSpec | None = Field(
        None, description="Retrain-rate objective: at most `max` retrains per `per`; more files a ticket."
    )

    @field_validator("runbook_url")
    @classmethod
    def _absolute_runbook(cls, v: str | None) -> str | None:
        """The link is opened from a pager or a phone: a repository path or a host alone opens nowhere."""
        if v is None:
            return v
        return check_absolute(v, "runbook_url", "https://wiki.example.com/runbooks/credit")

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
                if f is None or f.type not in FEATURE_KINDS or f.pii:
                    raise ValueError(
                        f"drift.multivariate.features: {name!r} is not a declared numeric or categorical, non-PII "
                        "feature (embedding features get their own test automatically)"
                    )
        self._check_impact()
        return self

    def _check_impact(self) -> None:
        """The impact gate reads attributions only where they are computed, and a metric the model has."""
        impact = self.drift.impact
        if impact is None:
            return
        if impact.attribution_share is not None and self.explain is None:
            raise ValueError(
                "drift.impact.attribution_share weighs drift by SHAP attributions, which need explain: add "
                "explain: {model: ..., sha256: ...} or drop attribution_share"
            )
        known = (*metrics_for(self.prediction.type), *(() if self.prediction.type == "regression" else
                                                        ("estimated_accuracy",)))
        if impact.metric is not None and impact.metric not in known:
            raise ValueError(
                f"drift.impact.metric: {impact.metric!r} is not computed for a {self.prediction.type} model; "
                f"use one of {', '.join(known)}"
            )


class GrafanaSpec(Strict):
    """The Grafana the generated dashboards live in, as people open it."""

    url: str | None = Field(
        None,
        description="Grafana's base URL as people open it, such as https://grafana.example.com: every alert "
        "links its dashboard under it. Unset: alerts carry no dashboard link.",
    )

    @field_validator("url")
    @classmethod
    def _base(cls, v: str | None) -> str | None:
        return None if v is None else grafana_base(v, "grafana.url")


class SpecFile(Strict):
    """The whole file, version 1."""

    version: Literal[1] = Field(1, description="Spec format version.")
    models: tuple[ModelSpec, ...] = Field(min_length=1)
    slos: tuple[SLOSpec, ...] = ()
    alerting: AlertingSpec = Field(default_factory=AlertingSpec)
    grafana: GrafanaSpec = Field(default_factory=GrafanaSpec)
    retention: RetentionSpec = Field(
        default_factory=RetentionSpec, description="How long stored data is kept, per kind."
    )

    @model_validator(mode="after")
    def _cross_references(self) -> SpecFile:
        model_names = [m.name for m in self.models]
        for i, m in enumerate(self.models):
            if model_names.index(m.name) != i:
                raise Misplaced(
                    ("models", i, "name"), m.name, f"model {m.name!r} is declared twice: model names must be unique"
                )
            declared = {f.name for f in m.features}
            for j, s in enumerate(m.slices):
                if s not in declared:
                    raise Misplaced(
                        ("models", i, "slices", j),
                        s,
                        f"model {m.name!r}: slice {s!r} is not a declared feature{hint(s, declared)}",
                    )
            for loc, value, msg in tensor_problems(m.tensors, [f.name for f in m.features]) if m.tensors else ():
                raise Misplaced(("models", i, "tensors", *loc), value, f"model {m.name!r}: {msg}")
        slo_names = [s.name for s in self.slos]
        for i, slo in enumerate(self.slos):
            if slo_names.index(slo.name) != i:
                raise Misplaced(
                    ("slos", i, "name"), slo.name, f"slo {slo.name!r} is declared twice: SLO names must be unique"
                )
            if slo.model not in model_names:
                raise Misplaced(
                    ("slos", i, "model"),
                    slo.model,
                    f"slo {slo.name!r}: model {slo.model!r} is not declared{hint(slo.model, model_names)}",
                )
            features = [f.name for m in self.models if m.name == slo.model for f in m.features]
            if slo.feature is not None and slo.feature not in features:
                raise Misplaced(
                    ("slos", i, "feature"),
                    slo.feature,
                    f"slo {slo.name!r}: feature {slo.feature!r} is not declared by model {slo.model!r}"
                    f"{hint(slo.feature, features)}",
                )
        for i, c in enumerate(self.alerting.canary_rollback):
            if c.model not in model_names:
                raise Misplaced(
                    ("alerting", "canary_rollback", i, "model"),
                    c.model,
                    f"canary_rollback: model {c.model!r} is not declared{hint(c.model, model_names)}",
                )
        return self
