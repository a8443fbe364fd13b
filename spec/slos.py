"""The `slos:` section: one service-level objective per entry, checked against its SLI's rules.

Checks here refuse an SLO that could never alert or be measured (no such latency bucket, a target
where the budgeting has none); `burn_policy` also builds the burn-rate windows `resolve` hands on.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from sdk.wire import DEFAULT_LATENCY_BOUNDS, FEATURE_AGE_BOUNDS, GENAI_TTFT_BOUNDS
from slo import definition as slo_definition
from slo import windows as slo_windows
from spec.fields import NAME_RE, Strict, article, check_duration, parse_duration


class BurnWindowSpec(Strict):
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

    _check_windows = field_validator("long", "short")(classmethod(lambda cls, v: check_duration(v)))

    @model_validator(mode="after")
    def _factor_or_share(self) -> BurnWindowSpec:
        if (self.factor is None) == (self.budget_percent is None):
            raise ValueError(
                "give exactly one of factor (a burn rate such as 14.4) or budget_percent (such as 2)"
            )
        return self


class SLOAlertingSpec(Strict):
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


#: The smallest objective accepted: under it, a share written for a percent (0.999) is the likely cause.
MIN_OBJECTIVE = 50.0


def _percent_text(v: Any) -> Any:
    """An objective written with its unit ("99.9%") as its number of percent; anything else unchanged."""
    if isinstance(v, str) and v.strip().endswith("%"):
        try:
            return float(v.strip()[:-1])
        except ValueError:
            return v
    return v


def _share_text(v: Any) -> Any:
    """A target written as a percent ("90%") as its share (0.9); anything else unchanged."""
    percent = _percent_text(v)
    return percent / 100 if percent is not v else v


class SLOSpec(Strict):
    """A service-level objective over one model: an SLI, an objective over a rolling period, and alerting."""

    name: str = Field(pattern=NAME_RE, description="Unique SLO name; the `slo` label on rules and alerts.")
    model: str = Field(description="The declared model the SLO watches.")
    sli: Literal[
        "availability", "latency", "accuracy", "drift", "data_quality", "freshness", "time_to_first_token"
    ] = Field(
        description="What is measured: calls that succeed, calls under threshold_ms, accuracy at target,"
        " windows without drift, valid records, data newer than max_age, or LLM calls whose first output token"
        " came within threshold_ms."
    )
    objective: Annotated[float, BeforeValidator(_percent_text)] = Field(
        gt=0,
        lt=100,
        description="Percent of good events, at least 50 and strictly below 100: 99.9 or \"99.9%\" (never a"
        " share such as 0.999).",
    )
    window: str = Field("30d", description="Rolling SLO period, e.g. 7d, 28d, 30d, 90d.")
    budgeting: Literal["occurrences", "timeslices"] | None = Field(
        None,
        validate_default=True,
        description="OpenSLO budgeting: count bad events, or bad timeslices. Default: the SLI's natural one.",
    )
    timeslice: str = Field("1m", description="timeslices: the length of one slice.")
    threshold_ms: float | None = Field(
        None,
        validate_default=True,
        description="latency SLI: a latency histogram bucket bound, in ms; time_to_first_token SLI: a bound of"
        " the time-to-first-token histogram (1, 5, 10, 20, 40, 60, 80, 100, 250, 500, 750 ms, 1, 2.5, 5,"
        " 7.5 or 10 s).",
    )
    target: Annotated[float | None, BeforeValidator(_share_text)] = Field(
        None,
        validate_default=True,
        description="timeslices: the share a slice must reach to be good (accuracy: the accuracy, e.g. 0.9).",
    )
    max_age: str | None = Field(
        None, validate_default=True, description="freshness SLI: the oldest acceptable newest data, e.g. 15m."
    )
    source: Literal["records", "labels", "features"] | None = Field(
        None,
        validate_default=True,
        description="freshness SLI: watch the newest records (default) or labels, or `features`: the age of"
        " one feature's values at each call (`observe(feature_times=)`), counted per call.",
    )
    feature: str | None = Field(
        None,
        validate_default=True,
        description="freshness SLI with source features: the declared feature whose age is judged; max_age"
        " is then a feature-age bucket bound (1s ... 7d).",
    )
    alerting: SLOAlertingSpec | None = Field(
        None, validate_default=True, description="Burn-rate windows and the minimum-traffic gate."
    )

    _check_window = field_validator("window", "timeslice")(classmethod(lambda cls, v: check_duration(v)))

    @field_validator("objective")
    @classmethod
    def _objective_is_a_percent(cls, v: float) -> float:
        if v >= MIN_OBJECTIVE:
            return v
        if v <= 1:
            raise ValueError(
                f"{v:g} means {v:g}% of events good: objective is a percent, so for {v * 100:g}% write "
                f"objective: {v * 100:g} (or \"{v * 100:g}%\")"
            )
        raise ValueError(
            f"{v:g}% lets {100 - v:g}% of events fail and is most likely a slip: objective is the percent of "
            f"good events, at least {MIN_OBJECTIVE:g}, such as 99.9"
        )

    @field_validator("budgeting")
    @classmethod
    def _budgeting_fits_the_sli(cls, v: str | None, info: ValidationInfo) -> str | None:
        sli = info.data.get("sli")
        if v is not None and sli in slo_definition.BUDGETING and v not in slo_definition.BUDGETING[sli]:
            raise ValueError(
                f"{article(sli)} SLO counts timeslices only: write budgeting: timeslices or remove budgeting"
            )
        return v

    @field_validator("threshold_ms")
    @classmethod
    def _threshold_on_the_bucket_grid(cls, v: float | None, info: ValidationInfo) -> float | None:
        sli = info.data.get("sli")
        if sli is None:
            return v
        if sli == "time_to_first_token":
            if v is None:
                raise PydanticCustomError(
                    "missing", "a time_to_first_token SLO needs threshold_ms, such as 500 (a bucket bound)"
                )
            if ttft_bound(v) is None:
                raise ValueError(
                    f"{v:g} ms is not a time-to-first-token bucket bound: use one of "
                    + ", ".join(f"{b * 1000:g}" for b in GENAI_TTFT_BOUNDS)
                )
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
        if latency_bound(v) is None:
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
                raise ValueError(f"{article(sli)} SLO judges each slice by {where}: remove target")
        elif budgeting == "occurrences":
            if v is not None:
                raise ValueError(
                    "target is the per-slice goal of timeslices budgeting: remove it, or add budgeting: timeslices"
                )
        elif v is None:
            example = "the accuracy a slice must reach, such as 0.9" if sli == "accuracy" else "such as 0.99"
            raise PydanticCustomError(
                "missing", f"{article(sli)} SLO counting timeslices needs a target, {example}"
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
            return check_duration(v)
        return v

    @field_validator("feature")
    @classmethod
    def _feature_freshness(cls, v: str | None, info: ValidationInfo) -> str | None:
        d = info.data
        if d.get("sli") != "freshness" or "source" not in d or "budgeting" not in d:
            if v is not None and d.get("sli") not in (None, "freshness"):
                raise ValueError(f"feature is for freshness SLOs and this one is {d.get('sli')}: remove it")
            return v
        if d["source"] != "features":
            if v is not None:
                raise ValueError("feature is for freshness from features: add source: features or remove it")
            if d["budgeting"] == "occurrences":
                raise ValueError(
                    "a freshness SLO on the newest records or labels counts timeslices: remove budgeting, or"
                    " judge one feature's age per call with source: features and feature: NAME"
                )
            return v
        if v is None:
            raise PydanticCustomError(
                "missing", "a freshness SLO with source: features needs feature, the declared feature to judge"
            )
        if d["budgeting"] == "timeslices":
            raise ValueError("a freshness SLO from features counts calls: remove budgeting: timeslices")
        if d.get("max_age") is not None and feature_age_bound(parse_duration(d["max_age"])) is None:
            raise ValueError(
                f"max_age {d['max_age']} is not a feature-age bucket bound: use one of "
                + ", ".join(slo_windows.format_duration(int(b)) for b in FEATURE_AGE_BOUNDS)
            )
        return v

    @field_validator("alerting")
    @classmethod
    def _policy_can_fire(cls, v: SLOAlertingSpec | None, info: ValidationInfo) -> SLOAlertingSpec | None:
        if {"objective", "window", "sli"} <= info.data.keys():
            burn_policy(info.data["objective"], info.data["window"], v, gated=True)
        return v


def feature_age_bound(seconds: int) -> float | None:
    """The feature-age bucket bound equal to `seconds`, if there is one (the histogram the SDK fills)."""
    return next((b for b in FEATURE_AGE_BOUNDS if b == seconds), None)


def latency_bound(threshold_ms: float) -> float | None:
    """The latency bucket bound (seconds) equal to a threshold in milliseconds, if there is one."""
    return next(
        (b for b in DEFAULT_LATENCY_BOUNDS if math.isclose(b * 1000, threshold_ms, rel_tol=1e-9)), None
    )


def ttft_bound(threshold_ms: float) -> float | None:
    """The time-to-first-token bucket bound (seconds) equal to a threshold in milliseconds, if there is one."""
    return next((b for b in GENAI_TTFT_BOUNDS if math.isclose(b * 1000, threshold_ms, rel_tol=1e-9)), None)


def _nearest_bounds(threshold_ms: float) -> str:
    """The fix for a threshold between bucket bounds: the bounds on either side of it."""
    below = [b * 1000 for b in DEFAULT_LATENCY_BOUNDS if b * 1000 < threshold_ms]
    above = [b * 1000 for b in DEFAULT_LATENCY_BOUNDS if b * 1000 > threshold_ms]
    if below and above:
        return f"use {below[-1]:g} or {above[0]:g}, the nearest bounds"
    if below:
        return f"use {below[-1]:g}, the largest bound"
    return f"use {above[0]:g}, the smallest bound"


def burn_policy(
    objective: float, window: str, alerting: SLOAlertingSpec | None, gated: bool
) -> tuple[slo_windows.BurnWindow, ...]:
    """The SLO's burn-rate windows: its own rows, or the default ones scaled to its period; refuses a
    policy that could never fire."""
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
