"""The registry of drift statistics: one small function each, one registration line with default thresholds.

A statistic reads one of three inputs, named by `input`:
  "proportions"  fn(r, c) -> float                     smoothed proportions of the frozen bins
  "counts"       fn(ref_counts, cur_counts) -> Score   raw bin counts (chi-squared needs counts)
  "sample"       fn(samples: Samples) -> Score         raw values (KS, Wasserstein; numeric features)
For a divergence (`test=False`) warn <= alert are levels of the value; for a hypothesis test they are
significance levels of the corrected p-value (alert <= warn: a smaller p-value is stronger evidence).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from analyzers.divergence import (
    hellinger_proportions,
    jeffreys_proportions,
    js_proportions,
    kl_proportions,
    kl_reverse_proportions,
    psi_proportions,
)
from analyzers.twosample import chi2, ks_test, wasserstein_test

Input = Literal["proportions", "counts", "sample"]


@dataclass(frozen=True)
class Statistic:
    """A registered drift statistic: its function, what it reads, and its default thresholds."""

    name: str
    fn: Callable[..., Any]
    warn: float
    alert: float
    description: str
    input: Input = "proportions"
    test: bool = False  # a hypothesis test: value plus p-value; thresholds are p-value levels
    kinds: tuple[str, ...] = ("numeric", "categorical")  # feature kinds it applies to
    label: str = ""  # how people read its name in a report or a panel; the name upper-cased when empty

    @property
    def display_name(self) -> str:
        """The statistic's name as a person reads it, for reports and panels."""
        return self.label or self.name.upper()

    def __post_init__(self) -> None:
        check_thresholds(self, self.warn, self.alert)


def check_thresholds(stat: Statistic, warn: float, alert: float) -> None:
    """Refuse thresholds out of order for the statistic's direction, naming the rule."""
    if stat.test and not 0 < alert <= warn <= 1:
        raise ValueError(f"{stat.name}: p-value levels need 0 < alert <= warn <= 1, got warn={warn} "
                         f"alert={alert}")
    if not stat.test and not 0 <= warn <= alert:
        raise ValueError(f"{stat.name}: warn ({warn}) must not exceed alert ({alert})")


def _psi_equivalent_js(psi_value: float) -> float:
    # To second order PSI ~ chi2 and JS divergence ~ chi2 / 8 nats: JS distance (bits) ~ sqrt(PSI / (8 ln 2)).
    return round(math.sqrt(psi_value / (8 * math.log(2))), 2)


def _psi_equivalent_hellinger(psi_value: float) -> float:
    # To second order Hellinger^2 = sum((sqrt r - sqrt c)^2) / 2 ~ chi2 / 8: H ~ sqrt(PSI / 8).
    return round(math.sqrt(psi_value / 8), 2)


# PSI 0.1 / 0.25 are the credit-scoring rule of thumb (Siddiqi 2006, "Credit Risk Scorecards"; Yurdakul 2018).
# The other divergences' defaults are the same drift in their units: to second order both KL directions
# are PSI / 2, Jeffreys is PSI, JS distance is sqrt(PSI / (8 ln 2)) and Hellinger sqrt(PSI / 8). A normal
# shifted by d standard deviations has PSI ~ d^2 and normalised Wasserstein d: 0.3 / 0.5 match 0.1 / 0.25.
# Tests flag at corrected p <= 0.05 (warn) and <= 0.01 (alert).
STATISTICS: Mapping[str, Statistic] = MappingProxyType({s.name: s for s in (
    Statistic("psi", psi_proportions, 0.1, 0.25, "population stability index, KL(cur||ref) + KL(ref||cur)",
              label="PSI"),
    Statistic("kl", kl_proportions, 0.05, 0.125, "KL(current||reference), nats", label="KL divergence"),
    Statistic("kl_reverse", kl_reverse_proportions, 0.05, 0.125, "KL(reference||current), nats",
              label="reverse KL divergence"),
    Statistic("js", js_proportions, _psi_equivalent_js(0.1), _psi_equivalent_js(0.25),
              "Jensen-Shannon distance, bits", label="JS distance"),
    Statistic("jeffreys", jeffreys_proportions, 0.1, 0.25, "Jeffreys divergence (symmetric KL, = PSI), nats"),
    Statistic("hellinger", hellinger_proportions, _psi_equivalent_hellinger(0.1),
              _psi_equivalent_hellinger(0.25), "Hellinger distance, in [0, 1]"),
    Statistic("chi2", chi2, 0.05, 0.01, "Pearson chi-squared test on the bin counts", "counts", test=True,
              label="chi-squared"),
    Statistic("ks", ks_test, 0.05, 0.01, "two-sample Kolmogorov-Smirnov test on raw values", "sample",
              test=True, kinds=("numeric",), label="KS statistic"),
    Statistic("wasserstein", wasserstein_test, 0.3, 0.5, "Wasserstein distance / reference std", "sample",
              kinds=("numeric",), label="Wasserstein distance"),
)})


#: Statistics computed on every window when a spec names none.
DEFAULT_METRICS: tuple[str, ...] = ("psi", "kl", "js")
#: Feature kinds some statistic applies to, in registration order: the features that get drift.
FEATURE_KINDS: tuple[str, ...] = tuple(dict.fromkeys(k for s in STATISTICS.values() for k in s.kinds))
#: How people read the names of realized-performance metrics that reports and panels show.
PERFORMANCE_LABELS: Mapping[str, str] = MappingProxyType({"accuracy": "Accuracy", "mae": "Mean absolute error"})


def display_name(metric: str) -> str:
    """A drift statistic's or performance metric's name as a person reads it; unknown names upper-cased."""
    if metric in STATISTICS:
        return STATISTICS[metric].display_name
    return PERFORMANCE_LABELS.get(metric, metric.upper())


def get_statistic(name: str) -> Statistic:
    """The registered statistic called `name`; an unknown name raises ValueError listing the valid ones."""
    try:
        return STATISTICS[name]
    except KeyError:
        valid = ", ".join(sorted(STATISTICS))
        raise ValueError(f"unknown drift statistic {name!r}; valid: {valid}") from None
