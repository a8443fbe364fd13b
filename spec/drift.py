"""A model's `drift:` section: which registered statistics run, their warn/alert levels, and joint drift.

Statistic names, which of them are hypothesis tests and the default set all come from
`analyzers.registry`, so a statistic registered there is valid here with no edit to the spec.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from analyzers.registry import DEFAULT_METRICS, STATISTICS
from spec.fields import Strict, check_duration, closest, parse_duration

#: Windows one model may list: each is evaluated again whenever one of its minutes changes.
MAX_WINDOWS = 4
#: The longest window: a rebuild brings every minute and hour of a window up to date at once.
MAX_WINDOW_SECONDS = 31 * 86400


def _allowed(names: tuple[str, ...]) -> str:
    """The valid names as pydantic lists a Literal's values: 'a', 'b' or 'c'."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _registered(v: Any) -> Any:
    """A statistic name the registry knows; else the error names the valid ones and the closest one."""
    if isinstance(v, str) and v in STATISTICS:
        return v
    ctx: dict[str, Any] = {"expected": _allowed(tuple(STATISTICS))}
    near = closest(v, STATISTICS)
    if near is not None:
        ctx["did_you_mean"] = near
    raise PydanticCustomError("literal_error", "Input should be {expected}", ctx)


#: A drift statistic's name, checked against `analyzers.registry.STATISTICS`.
StatisticName = Annotated[str, BeforeValidator(_registered)]


def is_test(metric: str) -> bool:
    """A hypothesis test: its levels are p-value levels, so alert sits below warn."""
    return STATISTICS[metric].test


class ThresholdSpec(Strict):
    """Warn and alert levels of one statistic (p-value levels for tests such as chi2 and ks, alert < warn)."""

    warn: float = Field(gt=0)
    alert: float = Field(gt=0)


def _check_levels(metric: str, warn: float, alert: float, where: str) -> None:
    if is_test(metric):
        if alert >= warn:
            raise ValueError(
                f"{where}: {metric} is a test judged on its corrected p-value, so alert ({alert}) must be below "
                f"warn ({warn}), such as warn: 0.05, alert: 0.01"
            )
    elif warn >= alert:
        raise ValueError(f"{where}: warn ({warn}) must be below alert ({alert}): lower warn or raise alert")


class MultivariateSpec(Strict):
    """Drift of the joint distribution (alibi-detect MMD or LSDD with a permutation test), needs the
    `multivariate` extra. One test over the tabular features, and one per embedding feature."""

    method: Literal["mmd", "lsdd"] = Field("mmd", description="Kernel two-sample statistic.")
    features: tuple[str, ...] | None = Field(
        None, description="Tabular features tested jointly; default: the numeric and categorical ones."
    )
    max_samples: int = Field(500, ge=20, le=5000, description="Rows per side; kernel tests cost O(n^2).")
    n_permutations: int = Field(100, ge=10, le=10000, description="Permutations behind the p-value.")
    p_value: float = Field(0.05, gt=0, lt=1, description="Level below which the window has drifted.")


#: Performance metrics where lower is better: their interval crosses a target from below.
LOWER_IS_BETTER = frozenset({"log_loss", "ece", "mae", "rmse", "mape"})


class ImpactSpec(Strict):
    """When drift pages: drift alone opens a ticket; it pages only with evidence that it hurts (either gate)."""

    metric: str | None = Field(
        None,
        description="Performance metric whose 95% interval is read: estimated_accuracy (CBPE) for classifiers, "
        "mae for regressors when left out.",
    )
    target: float | None = Field(
        None, description="Pages when the metric's interval lies wholly on the wrong side of it (the SLO target)."
    )
    attribution_share: float | None = Field(
        None,
        gt=0,
        description="Pages when a feature's first drift metric times its share of the mean |SHAP| reaches it.",
    )

    @model_validator(mode="after")
    def _some_gate(self) -> ImpactSpec:
        if self.target is None and self.attribution_share is None:
            raise ValueError(
                "impact pages on nothing: give target (the performance SLO target, e.g. 0.85) and/or "
                "attribution_share (e.g. 0.05)"
            )
        return self


class DriftSpec(Strict):
    """How drift is measured for one model."""

    window: str | tuple[str, ...] = Field(
        "1h",
        description="Evaluation window of event time, e.g. 1h, or several, e.g. [1h, 1d, 7d]: every window series"
        " carries its `window` label; the first is the one alerts and SLOs read.",
    )
    metrics: tuple[StatisticName, ...] = Field(
        DEFAULT_METRICS, min_length=1, description="Statistics computed on every window."
    )
    warn: float = Field(0.1, gt=0, description="Value of the first metric at which a feature warns.")
    alert: float = Field(0.25, gt=0, description="Value of the first metric at which a feature alerts.")
    thresholds: dict[StatisticName, ThresholdSpec] = Field(
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
    impact: ImpactSpec | None = Field(
        None, description="When drift pages (impact-gated); absent: drift only ever opens tickets."
    )

    @field_validator("window")
    @classmethod
    def _check_windows(cls, v: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for w in (v,) if isinstance(v, str) else v:
            if parse_duration(check_duration(w)) > MAX_WINDOW_SECONDS:
                raise ValueError(f"{w!r} is longer than 31d, the longest window: use 31d or less, such as 7d")
        if isinstance(v, str):
            return v
        if not v:
            raise ValueError(
                "an empty list evaluates nothing: give one window, e.g. 1h, or several, e.g. [1h, 1d]"
            )
        if len(v) > MAX_WINDOWS:
            raise ValueError(
                f"at most {MAX_WINDOWS} windows per model: every one is evaluated on every change"
            )
        seconds = [parse_duration(check_duration(w)) for w in v]
        if len(set(seconds)) < len(seconds):
            raise ValueError(f"{list(v)} lists one window length twice: list each length once")
        return v

    @model_validator(mode="after")
    def _warn_below_alert(self) -> DriftSpec:
        _check_levels(self.metrics[0], self.warn, self.alert, f"the first metric ({self.metrics[0]})")
        for metric, t in self.thresholds.items():
            _check_levels(metric, t.warn, t.alert, f"thresholds.{metric}")
        return self
