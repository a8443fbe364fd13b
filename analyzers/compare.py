"""Two model versions compared: a canary against its baseline, a shadow against its primary. Pure statistics.

- `newcombe_difference`: the difference of two proportions with Newcombe's hybrid score interval (method
  10 of Newcombe, "Interval estimation for the difference between independent proportions", Statistics in
  Medicine 17, 1998), built from the two Wilson intervals.
- `sequential_difference`: an always-valid test of "the candidate's bad-event rate equals the baseline's"
  and its confidence sequence: the mixture sequential probability ratio test (mSPRT) of Johari, Koomen,
  Pekelis and Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests" (Operations Research 70,
  2022; "Peeking at A/B tests", KDD 2017), with a normal mixing distribution N(0, tau^2) over the
  difference and its normal approximation. Its likelihood ratio is a nonnegative martingale under the
  null, so by Ville's inequality the chance that it ever reaches 1/alpha, however often it is checked, is
  at most alpha; the confidence sequence is the set of differences it does not reject.
- `canary_verdict`: pass / fail / inconclusive from those sequences: fail when a bad-event rate of the
  candidate is surely higher, pass when every one is surely at most `margin` higher.
- `version_drift`: the drift of the candidate's values against the baseline's, binned on the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from analyzers.binning import fit_reference
from analyzers.drift import DriftValue, drift_table
from analyzers.performance import wilson_interval

Verdict = Literal["pass", "fail", "inconclusive"]

#: Below this many events on either side no sequential verdict is given (the normal approximation is poor).
MIN_COUNT = 30


@dataclass(frozen=True)
class Difference:
    """candidate - baseline of a proportion, with its interval at `confidence`."""

    baseline: float | None
    candidate: float | None
    difference: float | None
    lower: float | None
    upper: float | None
    n_baseline: int
    n_candidate: int
    confidence: float


def newcombe_difference(
    x_baseline: int, n_baseline: int, x_candidate: int, n_candidate: int, confidence: float = 0.95
) -> Difference:
    """p_candidate - p_baseline with Newcombe's hybrid score interval (None where a side has no events)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if n_baseline <= 0 or n_candidate <= 0:
        pb = x_baseline / n_baseline if n_baseline > 0 else None
        pc = x_candidate / n_candidate if n_candidate > 0 else None
        return Difference(pb, pc, None, None, None, n_baseline, n_candidate, confidence)
    pb, pc = x_baseline / n_baseline, x_candidate / n_candidate
    lb, ub = wilson_interval(x_baseline, n_baseline, confidence)
    lc, uc = wilson_interval(x_candidate, n_candidate, confidence)
    d = pc - pb
    lower = d - math.sqrt((pc - lc) ** 2 + (ub - pb) ** 2)
    upper = d + math.sqrt((uc - pc) ** 2 + (pb - lb) ** 2)
    return Difference(pb, pc, d, max(-1.0, lower), min(1.0, upper), n_baseline, n_candidate, confidence)


@dataclass(frozen=True)
class Sequential:
    """The mSPRT of one bad-event rate (errors, wrong predictions): candidate - baseline, its always-valid
    p-value and the confidence sequence at level 1 - alpha (valid at every check, however many)."""

    metric: str
    difference: float | None
    lower: float | None
    upper: float | None
    p_value: float | None  # always valid: P(ever this small | equal rates) <= itself
    n_baseline: int
    n_candidate: int
    alpha: float
    tau: float


def sequential_difference(
    metric: str, bad_baseline: int, n_baseline: int, bad_candidate: int, n_candidate: int, *,
    alpha: float = 0.05, tau: float = 0.05,
) -> Sequential:
    """The mSPRT of equal rates, from the counts so far (Johari et al. 2022, normal mixture N(0, tau^2)).

    With d the observed difference and v its variance (each rate smoothed by half an event, so v > 0 with
    no events at all), the mixture likelihood ratio of d against theta is
    sqrt(v / (v + tau^2)) * exp(tau^2 (d - theta)^2 / (2 v (v + tau^2))); the always-valid p-value is
    min(1, 1 / ratio at theta = 0), and the confidence sequence is every theta whose ratio is below 1/alpha:
    d +- sqrt(v (v + tau^2) / tau^2 * (2 log(1/alpha) + log((v + tau^2) / v))).
    """
    if not 0.0 < alpha < 1.0 or tau <= 0.0:
        raise ValueError(f"alpha must lie in (0, 1) and tau be positive, got alpha={alpha}, tau={tau}")
    if n_baseline <= 0 or n_candidate <= 0:
        return Sequential(metric, None, None, None, None, n_baseline, n_candidate, alpha, tau)
    d = bad_candidate / n_candidate - bad_baseline / n_baseline
    pb = (bad_baseline + 0.5) / (n_baseline + 1)
    pc = (bad_candidate + 0.5) / (n_candidate + 1)
    v = pb * (1 - pb) / n_baseline + pc * (1 - pc) / n_candidate
    t2 = tau * tau
    log_ratio = 0.5 * math.log(v / (v + t2)) + t2 * d * d / (2 * v * (v + t2))
    p = 1.0 if log_ratio <= 0 else math.exp(-log_ratio)
    half = math.sqrt(v * (v + t2) / t2 * (2 * math.log(1 / alpha) + math.log((v + t2) / v)))
    return Sequential(metric, d, d - half, d + half, p, n_baseline, n_candidate, alpha, tau)


@dataclass(frozen=True)
class CanaryVerdict:
    """The verdict and why: each rate's sequence judged, or what is missing."""

    verdict: Verdict
    reason: str
    metrics: tuple[Sequential, ...]


def canary_verdict(
    rates: Mapping[str, tuple[int, int, int, int]], *, alpha: float = 0.05, margin: float = 0.01,
    tau: float = 0.05, min_count: int = MIN_COUNT,
) -> CanaryVerdict:
    """pass / fail / inconclusive from bad-event counts {metric: (bad_b, n_b, bad_c, n_c)}.

    Each rate with at least `min_count` events on both sides gets an mSPRT at alpha / k (Bonferroni over the
    k rates judged, so a false fail of any has chance <= alpha). fail: some confidence sequence lies wholly
    above 0 (the candidate is worse). pass: every sequence's upper end is at most `margin` (the candidate is
    at most `margin` worse on each). Otherwise, or with no rate judged, inconclusive.
    """
    judged = {m: c for m, c in rates.items() if min(c[1], c[3]) >= min_count}
    if not judged:
        have = ", ".join(f"{m}: {c[1]} baseline / {c[3]} candidate" for m, c in rates.items()) or "nothing"
        return CanaryVerdict(
            "inconclusive", f"insufficient data: fewer than {min_count} events on a side ({have})", ()
        )
    level = alpha / len(judged)
    seqs = tuple(sequential_difference(m, *c, alpha=level, tau=tau) for m, c in judged.items())
    worse = [q for q in seqs if q.lower is not None and q.lower > 0]
    if worse:
        names = ", ".join(f"{q.metric} +{q.difference:.4f} (lower bound {q.lower:.4f})" for q in worse)
        return CanaryVerdict("fail", f"candidate worse at alpha {alpha}: {names}", seqs)
    if all(q.upper is not None and q.upper <= margin for q in seqs):
        return CanaryVerdict("pass", f"every rate at most {margin} worse at alpha {alpha}", seqs)
    open_ = ", ".join(f"{q.metric} upper bound {q.upper:.4f}" for q in seqs if (q.upper or 0) > margin)
    return CanaryVerdict("inconclusive", f"not yet within margin {margin}: {open_}", seqs)


@dataclass(frozen=True)
class Agreement:
    """Share of records with equal ids on which both versions predicted the same, with its Wilson interval."""

    pairs: int
    agree: int
    rate: float | None
    lower: float | None
    upper: float | None


def agreement(matches: Iterable[bool], confidence: float = 0.95) -> Agreement:
    """The agreement rate of paired predictions (one bool per shared record id)."""
    flags = list(matches)
    n, k = len(flags), sum(flags)
    if n == 0:
        return Agreement(0, 0, None, None, None)
    lo, hi = wilson_interval(k, n, confidence)
    return Agreement(n, k, k / n, lo, hi)


def version_drift(
    baseline: Mapping[str, Sequence[Any]], candidate: Mapping[str, Sequence[Any]],
    metrics: Sequence[str] = ("psi", "ks"), **kw: Any,
) -> tuple[DriftValue, ...]:
    """Drift of each column of the candidate against the baseline's values (fitted on the baseline, like a
    reference), tests corrected across columns; columns empty on the baseline side are left out."""
    columns = {k: v for k, v in baseline.items() if len(v) and k in candidate}
    return drift_table(fit_reference(columns), candidate, metrics, **kw)
