"""The spec file (`driftline.yaml`): a strict wire model, its loader, and the resolved frozen model.

Only `ResolvedSpec` reaches the collector and the generators. Loading errors name the line, the
field path, the bad value and the fix, so `driftline check` can print them as they are.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

NAME_RE = r"^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$"
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


class DriftSpec(_Strict):
    """How drift is measured for one model."""

    window: Annotated[str, Field(description="Evaluation window (event time), e.g. 1h.")] = "1h"
    metrics: tuple[Literal["psi", "kl", "kl_reverse", "js"], ...] = Field(
        ("psi", "kl", "js"), description="Statistics computed on every window."
    )
    warn: float = Field(0.1, gt=0, description="Value of the first metric at which a feature warns.")
    alert: float = Field(0.25, gt=0, description="Value of the first metric at which a feature alerts.")
    bins: int = Field(10, ge=2, le=100, description="Quantile bins fitted on the reference.")
    min_count: int = Field(30, ge=1, description="Fewer current values than this is insufficient data.")

    _check_window = field_validator("window")(classmethod(lambda cls, v: _duration(v)))

    @model_validator(mode="after")
    def _warn_below_alert(self) -> DriftSpec:
        if self.warn >= self.alert:
            raise ValueError(
                f"warn ({self.warn}) must be below alert ({self.alert}): lower warn or raise alert"
            )
        return self


class ModelSpec(_Strict):
    """A monitored model."""

    name: str = Field(pattern=NAME_RE, description="Model name as the SDK sends it.")
    features: tuple[FeatureSpec, ...] = Field(min_length=1, description="Declared inputs.")
    prediction: PredictionSpec = Field(description="What the model outputs.")
    slices: tuple[str, ...] = Field((), description="Columns to break performance down by.")
    drift: DriftSpec = Field(default_factory=DriftSpec, description="Drift settings.")
    version: str | None = Field(None, description="The version expected in production, if pinned.")
    runbook_url: str | None = Field(None, description="Link put on this model's alerts.")

    @model_validator(mode="after")
    def _unique_features(self) -> ModelSpec:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature names must be unique; repeated: {', '.join(dupes)}")
        return self


class SLOSpec(_Strict):
    """A service-level objective (the SLO issue gives these their rules)."""

    name: str = Field(pattern=NAME_RE)
    model: str
    sli: Literal["availability", "latency", "accuracy", "drift", "data_quality", "freshness"]
    objective: float = Field(gt=0, lt=100, description="Percent of good events, strictly below 100.")
    window: str = Field("30d", description="Rolling SLO period.")
    threshold_ms: float | None = Field(None, gt=0, description="latency SLI: the good/bad threshold.")
    target: float | None = Field(None, description="accuracy SLI: the per-window target.")

    _check_window = field_validator("window")(classmethod(lambda cls, v: _duration(v)))


class ReceiverSpec(_Strict):
    """A paging or chat receiver; secrets are named by environment variable, never inline."""

    name: str = Field(pattern=NAME_RE)
    pagerduty: dict[str, Any] | None = None
    opsgenie: dict[str, Any] | None = None
    slack: dict[str, Any] | None = None
    email: dict[str, Any] | None = None
    webhook: dict[str, Any] | None = None


class AlertingSpec(_Strict):
    """Routing of pages and tickets."""

    receivers: tuple[ReceiverSpec, ...] = ()
    page: str | None = None
    ticket: str | None = None


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

    def model(self, name: str) -> Model | None:
        return next((m for m in self.models if m.name == name), None)


def resolve(spec: SpecFile) -> ResolvedSpec:
    """Map the validated wire model to the frozen model the generators and collector use."""
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
            ),
            version=m.version,
            runbook_url=m.runbook_url,
        )
        for m in spec.models
    )
    return ResolvedSpec(models=models, raw=spec)


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
    "threshold_ms": "write the latency threshold in milliseconds, such as 200",
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


def load_spec_text(text: str, source: str = "<spec>") -> ResolvedSpec:
    """Parse and validate spec YAML; raises SpecError listing every mistake with its line."""
    try:
        doc = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}: " if mark else " "
        raise SpecError(source, [f"{line}not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(doc, dict):
        raise SpecError(source, [" the file must be a mapping with a `models:` list"])
    try:
        spec = SpecFile.model_validate(_strip_lines(doc))
    except ValidationError as exc:
        raise SpecError(source, [_describe(doc, e) for e in exc.errors()]) from None  # type: ignore[arg-type]
    return resolve(spec)


def load_spec(path: str | Path) -> ResolvedSpec:
    """Load a spec file from disk."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise SpecError(str(p), [f" cannot read the file: {exc.strerror}"]) from None
    return load_spec_text(text, source=str(p))
