"""Compares two versions of one model over a time range: what GET /v1/models/{m}/compare answers.

Accuracy comes from the versions' per-minute performance summaries (realized, where labels arrived) or
their per-minute CBPE sums (estimated); error rates and latency from the SDK's per-version stats deltas;
input and prediction drift from each version's reservoir (the records with the smallest sample keys), the
candidate's binned on bins fitted to the baseline's (the versions' own aggregates are binned on each
version's own reference, so they cannot be compared bin by bin). Statistics live in `analyzers.compare`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from analyzers.aggregates import ESTIMATE
from analyzers.compare import (
    agreement,
    canary_verdict,
    newcombe_difference,
    version_drift,
)
from analyzers.performance import same_class
from analyzers.performance_summary import Summary
from collector import repository

#: Records per version read for drift and shadow agreement (the evaluation's reservoir size).
SAMPLE_SIZE = 10_000
PREDICTION = "(prediction)"
SCORE = "(score)"


@dataclass(frozen=True)
class Options:
    """How the comparison is judged: the sequential test's level, non-inferiority margin and mixing scale."""

    alpha: float = 0.05
    margin: float = 0.01
    tau: float = 0.05
    shadow: bool = False


def _accuracy_counts(summary: Summary) -> tuple[int, int]:
    """(correct, labelled) of the window's "all" slice, from its confusion cells."""
    correct = total = 0
    for item, sums in summary.get("all", {}).items():
        if not item.startswith("c["):
            continue
        predicted, actual = json.loads(item[1:])
        total += sums.n
        correct += sums.n if predicted == actual else 0
    return correct, total


def _estimate(s: Session, model: str, version: str, start: dt.datetime, end: dt.datetime) -> tuple[int, float, float]:
    state = repository.aggregate_state(s, model=model, version=version)
    if state is None:
        return 0, 0.0, 0.0
    moments = repository.window_moments(
        s, model=model, version=version, reference_id=state[0], start=start, end=end, features=[ESTIMATE]
    )
    n, total, squares, _, _ = moments.get(ESTIMATE, (0, 0.0, 0.0, None, None))
    return n, total, squares


def _accuracy(s: Session, model: str, baseline: str, candidate: str, start: dt.datetime,
              end: dt.datetime) -> tuple[dict[str, Any], tuple[int, int, int, int] | None]:
    """The accuracy difference (realized where both versions have labels, else CBPE's estimate) and the
    (wrong, labelled) counts of both for the sequential test (realized only)."""
    (cb, nb), (cc, nc) = (
        _accuracy_counts(repository.window_summary(s, model=model, version=v, start=start, end=end)[0])
        for v in (baseline, candidate)
    )
    if nb and nc:
        d = newcombe_difference(cb, nb, cc, nc)
        return {"kind": "realized", "interval": "newcombe", **asdict(d)}, (nb - cb, nb, nc - cc, nc)
    eb, ec = _estimate(s, model, baseline, start, end), _estimate(s, model, candidate, start, end)
    if eb[0] and ec[0]:
        mb, mc = eb[1] / eb[0], ec[1] / ec[0]
        var = max(eb[1] - eb[2], 0.0) / eb[0] ** 2 + max(ec[1] - ec[2], 0.0) / ec[0] ** 2
        half = 1.959963984540054 * math.sqrt(var)
        out = {"kind": "estimated", "interval": "normal (Poisson-binomial variance)", "baseline": mb,
               "candidate": mc, "difference": mc - mb, "lower": mc - mb - half, "upper": mc - mb + half,
               "n_baseline": eb[0], "n_candidate": ec[0], "confidence": 0.95}
        return out, None
    return {"kind": None, "baseline": None, "candidate": None, "difference": None, "lower": None,
            "upper": None, "n_baseline": nb, "n_candidate": nc, "confidence": 0.95}, None


def _calls(s: Session, model: str, baseline: str, candidate: str, start: dt.datetime,
           end: dt.datetime) -> tuple[dict[str, Any], dict[str, Any], tuple[int, int, int, int]]:
    """Error-rate difference (Newcombe), mean-latency difference, and the (error, calls) counts."""
    _okb, errb, latb, nb = repository.version_calls(s, model=model, version=baseline, since=start, until=end)
    _okc, errc, latc, nc = repository.version_calls(s, model=model, version=candidate, since=start, until=end)
    errors = {"interval": "newcombe", **asdict(newcombe_difference(errb, nb, errc, nc))}
    mb = latb / nb if nb else None
    mc = latc / nc if nc else None
    latency = {"baseline_mean_seconds": mb, "candidate_mean_seconds": mc,
               "difference_seconds": None if mb is None or mc is None else mc - mb,
               "n_baseline": nb, "n_candidate": nc}
    return errors, latency, (errb, nb, errc, nc)


def _columns(rows: list[tuple[Any, Any, float | None]]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {}
    for features, prediction, score in rows:
        for k, v in (features or {}).items():
            cols.setdefault(k, []).append(v)
        if prediction is not None:
            cols.setdefault(PREDICTION, []).append(prediction)
        if score is not None:
            cols.setdefault(SCORE, []).append(score)
    return cols


def _drift(s: Session, model: str, baseline: str, candidate: str, start: dt.datetime,
           end: dt.datetime) -> list[dict[str, Any]]:
    b, c = (
        _columns(repository.version_sample(s, model=model, version=v, start=start, end=end, size=SAMPLE_SIZE))
        for v in (baseline, candidate)
    )
    if not b or not c:
        return []
    out = []
    for v in version_drift(b, c):
        row = asdict(v)
        out.append({k: (None if isinstance(x, float) and math.isnan(x) else x) for k, x in row.items()})
    return out


def compare(s: Session, *, model: str, baseline: str, candidate: str, start: dt.datetime, end: dt.datetime,
            options: Options) -> dict[str, Any]:
    """The whole comparison of `candidate` against `baseline` over [start, end), with its verdict."""
    accuracy, wrong = _accuracy(s, model, baseline, candidate, start, end)
    errors, latency, error_counts = _calls(s, model, baseline, candidate, start, end)
    rates: dict[str, tuple[int, int, int, int]] = {}
    if error_counts[1] or error_counts[3]:
        rates["error_rate"] = error_counts
    if wrong is not None:
        rates["inaccuracy"] = wrong
    judged = canary_verdict(rates, alpha=options.alpha, margin=options.margin, tau=options.tau)
    out: dict[str, Any] = {
        "model": model, "baseline": baseline, "candidate": candidate,
        "since": start.isoformat(), "until": end.isoformat(),
        "verdict": judged.verdict, "reason": judged.reason,
        "sequential": [asdict(q) for q in judged.metrics],
        "accuracy": accuracy, "error_rate": errors, "latency": latency,
        "drift": _drift(s, model, baseline, candidate, start, end),
        "agreement": None,
    }
    if options.shadow:
        pairs = repository.shadow_pairs(
            s, model=model, primary=baseline, shadow=candidate, start=start, end=end, size=SAMPLE_SIZE
        )
        out["agreement"] = asdict(agreement(same_class(p, q) for p, q in pairs))
    return out
