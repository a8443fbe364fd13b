"""SLI kinds as PromQL: the error ratio of an SLO over any window, from the collector's `/metrics`.

Series each SLI reads, named by their `contract` constants (every one carries `model`):

- availability: counter `PREDICTIONS` ``{model,version,outcome="ok"|"error"}``.
- latency: histogram `PREDICTION_LATENCY`, its ``bucket`` ``{model,version,le}`` and ``count``; the
  bucket whose ``le`` equals ``threshold_ms / 1000``, written as the collector writes it (``"0.2"``).
- accuracy, timeslices: gauge `MODEL_PERFORMANCE` ``{model,version,slice,metric,window}``; the
  series ``slice="all", metric="accuracy"`` of the model's first window length (share of labelled
  predictions correct in the newest complete window) against the SLO's ``target``.
- accuracy, occurrences: counter `LABELLED_PREDICTIONS` ``{model,version,outcome}``,
  ``outcome="correct"|"incorrect"``: labelled predictions, counted when their label arrives.
- drift: gauge `FEATURE_DRIFT` ``{model,version,feature,metric,window}`` for the model's first drift
  metric and first window length;
  a slice is bad when any feature's value reaches the model's ``drift.alert`` threshold.
- data_quality: counter `RECORDS` ``{model,version,outcome="valid"|"invalid"}``:
  sampled records, ``invalid`` when a declared feature is missing, null or of the wrong type.
- freshness: gauges `LAST_RECORD_TIMESTAMP` and `LAST_LABEL_TIMESTAMP` ``{model}``: unix time the
  collector last received a record (a label) for the model; a slice is bad when ``time()`` minus it
  exceeds ``max_age``. From features (``source: features``), occurrences: histogram `FEATURE_AGE`
  ``{model,version,feature,le}``, the age of one feature's value at each call (``observe(feature_times=)``);
  a call is good when it falls in the bucket whose ``le`` is ``max_age``.

Budgeting (OpenSLO) follows each SLI's cadence:

- *occurrences* (availability, latency, data quality, accuracy from labels: counters, one event per call,
  record or label) records bad and all events over every window an alert reads, each an exact
  ``sum(increase(...[w]))`` over the raw counters (as Sloth's, so alerts fire on the same minute), and
  the error ratio as their quotient. The period's ratio is not an ``increase`` over 30 days of raw samples:
  it sums the recorded counts of the shortest window, ``sum_over_time(bad_5m[30d]) /
  sum_over_time(all_5m[30d])``, a ratio of sums (never an average of ratios, so a quiet hour at 50% weighs
  what its calls weigh) in which each evaluation's overlap cancels out. It reads one pre-aggregated series
  per SLO, stays defined when calls stop (the sums keep what they held; a period without any call is 0),
  and differs from the exact count only in phasing in the newest 5 minutes.
- *timeslices* records, at every rule evaluation, whether the last ``timeslice`` was bad
  (`TIMESLICE_RECORD`, 1 or 0); the error ratio over a window is the share of bad slices,
  ``avg_over_time(verdict[w])``. Counter SLIs may use either; gauge SLIs (accuracy from the gauge, drift,
  freshness) only timeslices. Accuracy and drift come from gauges the collector sets once per evaluation
  window (the model's drift.window, 1h by default): the share of time the newest window was bad is the
  share of bad windows, so the ratio is right, but alerts must judge whole windows. Their slice is that
  window (`SLO.slice_seconds`), the burn windows are fitted to it (`slo.windows.fit_to_slices`: no 5m
  short window on an hourly gauge) and the gate counts bad windows
  (`bad_slices_record`): bad verdicts over verdicts per slice, the group's interval being pinned to one
  minute (`evaluation_seconds`) so that a number of verdicts is a length of time.

``increase`` rather than ``rate``: the same ratio, and the counts the gate compares are counts.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from contract import (
    FEATURE_AGE,
    FEATURE_DRIFT,
    GENAI_TTFT,
    LABELLED_PREDICTIONS,
    LAST_LABEL_TIMESTAMP,
    LAST_RECORD_TIMESTAMP,
    MODEL_PERFORMANCE,
    PREDICTION_LATENCY,
    PREDICTIONS,
    RECORDS,
)
from slo.budget import complement, exact, product
from slo.definition import DEFAULT_EVALUATION_SECONDS, SLO
from slo.windows import format_duration

TIMESLICE_RECORD = "slo:sli_timeslice_bad:bool"
#: How often a timeslice SLO's group is evaluated (its `interval`): one verdict per minute.
TIMESLICE_EVALUATION_SECONDS = 60


def ratio_record(window_seconds: int) -> str:
    """Name of the recorded error ratio over a window (Sloth's convention): slo:sli_error:ratio_rate5m."""
    return f"slo:sli_error:ratio_rate{format_duration(window_seconds)}"


def events_record(window_seconds: int) -> str:
    """Name of the recorded count of all events over a window (occurrences budgeting)."""
    return f"slo:sli_events:increase{format_duration(window_seconds)}"


def bad_events_record(window_seconds: int) -> str:
    """Name of the recorded count of bad events over a window (occurrences budgeting), which the gate reads."""
    return f"slo:sli_bad_events:increase{format_duration(window_seconds)}"


def bad_slices_record(window_seconds: int) -> str:
    """Name of the recorded number of bad slices over a window (timeslices budgeting), which the gate reads."""
    return f"slo:sli_bad_slices:count{format_duration(window_seconds)}"


@dataclass(frozen=True)
class Counter:
    """A counter SLI: `metric` counts every event; bad ones carry the `bad` matcher, or good ones are counted
    by `good_metric` with the `good` matcher (a latency bucket); `every` selects all of them (one feature)."""

    metric: str
    bad: str | None = None
    good_metric: str | None = None
    good: str = ""
    every: str = ""


def _selector(metric: str, slo: SLO, *matchers: str) -> str:
    parts = [f'model="{slo.model}"', *(m for m in matchers if m)]
    return f"{metric}{{{','.join(parts)}}}"


def _window(slo: SLO) -> str:
    """The matcher of a window gauge's `window` label: the model's first window, the one SLOs read."""
    return f'window="{format_duration(slo.evaluation_seconds or DEFAULT_EVALUATION_SECONDS)}"'


def _counter(slo: SLO) -> Counter | None:
    if slo.sli == "availability":
        return Counter(PREDICTIONS.name, bad='outcome="error"')
    if slo.sli == "latency":
        return Counter(
            PREDICTION_LATENCY.count,
            good_metric=PREDICTION_LATENCY.bucket,
            good=f'le="{latency_le(slo)}"',
        )
    if slo.sli == "time_to_first_token":
        return Counter(GENAI_TTFT.count, good_metric=GENAI_TTFT.bucket, good=f'le="{latency_le(slo)}"')
    if slo.sli == "data_quality":
        return Counter(RECORDS.name, bad='outcome="invalid"')
    if slo.sli == "accuracy" and slo.budgeting == "occurrences":
        return Counter(LABELLED_PREDICTIONS.name, bad='outcome="incorrect"')
    if slo.sli == "freshness" and slo.freshness_source == "features":
        return Counter(
            FEATURE_AGE.count,
            good_metric=FEATURE_AGE.bucket,
            good=f'le="{float(slo.max_age_seconds or 0)!r}"',
            every=f'feature="{slo.feature}"',
        )
    return None


def latency_le(slo: SLO) -> str:
    """The `le` label of the bucket at the latency threshold, as the collector writes it (repr of the float)."""
    if slo.threshold_seconds is None:
        raise ValueError(f"latency SLO {slo.name!r} has no threshold")
    return repr(float(slo.threshold_seconds))


def _increase(selector: str, window: str) -> str:
    return f"sum by (model) (increase({selector}[{window}]))"


def _bad_and_total(slo: SLO, c: Counter, window: str) -> tuple[str, str]:
    total = _increase(_selector(c.metric, slo, c.every), window)
    if c.bad is not None:
        return _increase(_selector(c.metric, slo, c.every, c.bad), window), total
    assert c.good_metric is not None
    good = _increase(_selector(c.good_metric, slo, c.every, c.good), window)
    return f"(\n  {total}\n  -\n  {good}\n)", total


def error_ratio(slo: SLO, window_seconds: int) -> str:
    """PromQL for the SLO's error ratio over an alert's window: the recorded bad over all events (their
    `bad_event_count` and `event_count` rules), or the share of bad timeslices."""
    window = format_duration(window_seconds)
    sel = f'{{slo="{slo.name}"}}'
    if slo.budgeting == "timeslices":
        return f"avg_over_time({TIMESLICE_RECORD}{sel}[{window}])"
    return f"{bad_events_record(window_seconds)}{sel}\n/\n{events_record(window_seconds)}{sel}"


def period_ratio(slo: SLO, base_seconds: int) -> str:
    """PromQL for the error ratio over the SLO period, occurrences budgeting: the recorded counts of the
    `base_seconds` window summed over the period, bad over all, and 0 while the period holds no event."""
    sel = f'{{slo="{slo.name}"}}'
    period = format_duration(slo.period_seconds)
    bad = f"sum_over_time({bad_events_record(base_seconds)}{sel}[{period}])"
    total = f"sum_over_time({events_record(base_seconds)}{sel}[{period}])"
    return f"{bad}\n/\n({total} > 0)\nor\n{total} * 0"


def bad_event_count(slo: SLO, window_seconds: int) -> str:
    """PromQL for the number of bad events over a window (occurrences budgeting), from the raw counters."""
    counter = _counter(slo)
    if counter is None or slo.budgeting != "occurrences":
        raise ValueError(f"SLO {slo.name!r}: a {slo.sli} SLI has no occurrences budgeting")
    return _bad_and_total(slo, counter, format_duration(window_seconds))[0]


def event_count(slo: SLO, window_seconds: int) -> str:
    """PromQL for the number of events over a window (occurrences budgeting), from the raw counters."""
    counter = _counter(slo)
    if counter is None or slo.budgeting != "occurrences":
        raise ValueError(f"SLO {slo.name!r}: only occurrences budgeting counts events")
    return _increase(_selector(counter.metric, slo, counter.every), format_duration(window_seconds))


def evaluation_seconds(slo: SLO) -> int | None:
    """The evaluation interval the SLO's rule group pins (timeslices budgeting): one verdict a minute, or one a
    timeslice for slices under a minute, so a number of verdicts is a length of time. None: Prometheus's own."""
    if slo.budgeting != "timeslices":
        return None
    return min(TIMESLICE_EVALUATION_SECONDS, slo.timeslice_seconds)


def bad_slice_count(slo: SLO, window_seconds: int) -> str:
    """PromQL for the number of bad slices over a window (timeslices budgeting): the bad verdicts it holds over
    the verdicts one slice takes; for a window gauge, bad evaluation windows. Counted, not the share of bad
    verdicts times the window's slices, which would count a window not yet (or no longer) measured as bad as
    the part that was."""
    sel = f'{{slo="{slo.name}"}}'
    per_slice = exact(slo.slice_seconds / (evaluation_seconds(slo) or 1))
    return f"sum_over_time({TIMESLICE_RECORD}{sel}[{format_duration(window_seconds)}]) / {per_slice:g}"


def timeslice_verdict(slo: SLO) -> str:
    """PromQL that is 1 when the last timeslice was bad, 0 when good; a slice without events is good
    (0/0 compares false), and a gauge the collector does not export gives no verdict at all."""
    ts = format_duration(slo.timeslice_seconds)
    if slo.sli == "drift":
        sel = _selector(FEATURE_DRIFT.name, slo, f'metric="{slo.drift_metric}"', _window(slo))
        return f"max by (model) (avg_over_time({sel}[{ts}])) >= bool {slo.drift_threshold!r}"
    if slo.sli == "freshness":
        last = LAST_LABEL_TIMESTAMP if slo.freshness_source == "labels" else LAST_RECORD_TIMESTAMP
        metric = last.name
        return f"time() - max by (model) ({_selector(metric, slo)}) > bool {slo.max_age_seconds}"
    if slo.target is None:
        raise ValueError(f"SLO {slo.name!r}: timeslices need a target")
    if slo.sli == "accuracy":
        sel = _selector(MODEL_PERFORMANCE.name, slo, 'slice="all"', 'metric="accuracy"', _window(slo))
        return f"min by (model) (avg_over_time({sel}[{ts}])) < bool {slo.target!r}"
    counter = _counter(slo)
    assert counter is not None
    bad, total = _bad_and_total(slo, counter, ts)
    ratio = textwrap.indent(f"{bad}\n/\n{total}", "  ")
    return f"(\n{ratio}\n) > bool {complement(slo.target)!r}"


_UNITS = {
    "availability": "calls",
    "latency": "calls",
    "time_to_first_token": "LLM calls",
    "data_quality": "records",
    "accuracy": "labelled predictions",
    "freshness": "calls",
}


def event_unit(slo: SLO) -> str:
    """What one event of the SLI is, in words: calls, records, labelled predictions, timeslices or windows."""
    if slo.budgeting == "timeslices":
        kind = "windows" if slo.reads_window_gauge else "timeslices"
        return f"{format_duration(slo.slice_seconds)} {kind}"
    return _UNITS[slo.sli]


_BAD_UNITS = {
    "availability": "failed calls",
    "latency": "slow calls",
    "time_to_first_token": "LLM calls slow to their first token",
    "data_quality": "invalid records",
    "accuracy": "wrong labelled predictions",
    "freshness": "calls on stale features",
}


def bad_unit(slo: SLO) -> str:
    """What one bad event or slice is, in words, for the gate's sentence: failed calls, bad 1h windows."""
    if slo.budgeting == "timeslices":
        return f"bad {event_unit(slo)}"
    return _BAD_UNITS[slo.sli]


def bad_events_phrase(slo: SLO) -> str:
    """Completes "<share> ..." in an alert: what made an event or a timeslice bad, in the on-call's words."""
    m, ms = slo.model, f"{product(slo.threshold_seconds or 0, 1000):g} ms"
    if slo.budgeting == "occurrences":
        return {
            "availability": f"of {m}'s calls failed",
            "latency": f"of {m}'s calls took longer than {ms}",
            "time_to_first_token": f"of {m}'s LLM calls took longer than {ms} to their first token",
            "data_quality": f"of {m}'s records were invalid",
            "accuracy": f"of {m}'s labelled predictions were wrong",
            "freshness": f"of {m}'s calls used {slo.feature} older than {format_duration(slo.max_age_seconds or 0)}",
        }[slo.sli]
    slices, target = f"of {event_unit(slo)}", f"{product(slo.target or 0, 100):g}%"
    return {
        "availability": f"{slices} had fewer than {target} of {m}'s calls succeed",
        "latency": f"{slices} had fewer than {target} of {m}'s calls faster than {ms}",
        "data_quality": f"{slices} had fewer than {target} of {m}'s records valid",
        "accuracy": f"{slices} had {m}'s accuracy below {slo.target!r}",
        "drift": f"{slices} had {m}'s {slo.drift_metric} drift at or above {slo.drift_threshold!r}",
        "freshness": f"{slices} had no new {slo.freshness_source} for {m} in over "
        f"{format_duration(slo.max_age_seconds or 0)}",
    }[slo.sli]
