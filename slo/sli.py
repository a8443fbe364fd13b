"""SLI kinds as PromQL: the error ratio of an SLO over any window, from the collector's `/metrics`.

Series each SLI reads (every one carries `model`; those marked *new* the collector must export):

- availability: ``driftline_predictions_total{model,version,outcome="ok"|"error"}`` (counter).
- latency: ``driftline_prediction_latency_seconds_bucket{model,version,le}`` and ``_count``; the
  bucket whose ``le`` equals ``threshold_ms / 1000``, written as the collector writes it (``"0.2"``).
- accuracy, timeslices: *new* gauge ``driftline_model_performance{model,version,slice,metric}``; the
  series ``slice="all", metric="accuracy"`` (share of labelled predictions correct in the newest
  complete window) against the SLO's ``target``.
- accuracy, occurrences: *new* counter ``driftline_labelled_predictions_total{model,version,outcome}``,
  ``outcome="correct"|"incorrect"``: labelled predictions, counted when their label arrives.
- drift: ``driftline_feature_drift{model,version,feature,metric}`` for the model's first drift metric;
  a slice is bad when any feature's value reaches the model's ``drift.alert`` threshold.
- data_quality: *new* counter ``driftline_records_total{model,version,outcome="valid"|"invalid"}``:
  sampled records, ``invalid`` when a declared feature is missing, null or of the wrong type.
- freshness: *new* gauges ``driftline_last_record_timestamp_seconds{model}`` and
  ``driftline_last_label_timestamp_seconds{model}``: unix time the collector last received a record
  (a label) for the model; a slice is bad when ``time()`` minus it exceeds ``max_age``.

Budgeting (OpenSLO): *occurrences* divides bad events by all events over the window,
``sum(increase(bad[w])) / sum(increase(all[w]))``; *timeslices* first records, at every rule
evaluation, whether the last ``timeslice`` was bad (`TIMESLICE_RECORD`, 1 or 0), and the error ratio
over a window is the share of bad slices, ``avg_over_time(verdict[w])``. Counter SLIs may use either;
gauge SLIs (accuracy from the gauge, drift, freshness) only timeslices. ``increase`` rather than
``rate``: the same ratio, and the event counts the traffic gate compares are counts.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from slo.budget import complement, product
from slo.definition import SLO
from slo.windows import format_duration

TIMESLICE_RECORD = "slo:sli_timeslice_bad:bool"


def ratio_record(window_seconds: int) -> str:
    """Name of the recorded error ratio over a window (Sloth's convention): slo:sli_error:ratio_rate5m."""
    return f"slo:sli_error:ratio_rate{format_duration(window_seconds)}"


def events_record(window_seconds: int) -> str:
    """Name of the recorded event count over a window, which the traffic gate compares."""
    return f"slo:sli_events:increase{format_duration(window_seconds)}"


@dataclass(frozen=True)
class Counter:
    """A counter SLI: `metric` counts every event; bad ones carry the `bad` matcher, or good ones are counted
    by `good_metric` with the `good` matcher (a latency bucket)."""

    metric: str
    bad: str | None = None
    good_metric: str | None = None
    good: str = ""


def _selector(metric: str, slo: SLO, *matchers: str) -> str:
    parts = [f'model="{slo.model}"', *(m for m in matchers if m)]
    return f"{metric}{{{','.join(parts)}}}"


def _counter(slo: SLO) -> Counter | None:
    if slo.sli == "availability":
        return Counter("driftline_predictions_total", bad='outcome="error"')
    if slo.sli == "latency":
        return Counter(
            "driftline_prediction_latency_seconds_count",
            good_metric="driftline_prediction_latency_seconds_bucket",
            good=f'le="{latency_le(slo)}"',
        )
    if slo.sli == "data_quality":
        return Counter("driftline_records_total", bad='outcome="invalid"')
    if slo.sli == "accuracy" and slo.budgeting == "occurrences":
        return Counter("driftline_labelled_predictions_total", bad='outcome="incorrect"')
    return None


def latency_le(slo: SLO) -> str:
    """The `le` label of the bucket at the latency threshold, as the collector writes it (repr of the float)."""
    if slo.threshold_seconds is None:
        raise ValueError(f"latency SLO {slo.name!r} has no threshold")
    return repr(float(slo.threshold_seconds))


def _increase(selector: str, window: str) -> str:
    return f"sum by (model) (increase({selector}[{window}]))"


def _bad_and_total(slo: SLO, c: Counter, window: str) -> tuple[str, str]:
    total = _increase(_selector(c.metric, slo), window)
    if c.bad is not None:
        return _increase(_selector(c.metric, slo, c.bad), window), total
    assert c.good_metric is not None
    good = _increase(_selector(c.good_metric, slo, c.good), window)
    return f"(\n  {total}\n  -\n  {good}\n)", total


def error_ratio(slo: SLO, window_seconds: int) -> str:
    """PromQL for the SLO's error ratio over a window: bad / all events, or the share of bad timeslices."""
    window = format_duration(window_seconds)
    if slo.budgeting == "timeslices":
        return f'avg_over_time({TIMESLICE_RECORD}{{slo="{slo.name}"}}[{window}])'
    counter = _counter(slo)
    if counter is None:
        raise ValueError(f"SLO {slo.name!r}: a {slo.sli} SLI has no occurrences budgeting")
    bad, total = _bad_and_total(slo, counter, window)
    return f"{bad}\n/\n{total}"


def event_count(slo: SLO, window_seconds: int) -> str:
    """PromQL for the number of events over a window (occurrences budgeting only), for the traffic gate."""
    counter = _counter(slo)
    if counter is None or slo.budgeting != "occurrences":
        raise ValueError(f"SLO {slo.name!r}: only occurrences budgeting counts events")
    return _increase(_selector(counter.metric, slo), format_duration(window_seconds))


def timeslice_verdict(slo: SLO) -> str:
    """PromQL that is 1 when the last timeslice was bad, 0 when good; a slice without events is good
    (0/0 compares false), and a gauge the collector does not export gives no verdict at all."""
    ts = format_duration(slo.timeslice_seconds)
    if slo.sli == "drift":
        sel = _selector("driftline_feature_drift", slo, f'metric="{slo.drift_metric}"')
        return f"max by (model) (avg_over_time({sel}[{ts}])) >= bool {slo.drift_threshold!r}"
    if slo.sli == "freshness":
        metric = (
            f"driftline_last_{'label' if slo.freshness_source == 'labels' else 'record'}_timestamp_seconds"
        )
        return f"time() - max by (model) ({_selector(metric, slo)}) > bool {slo.max_age_seconds}"
    if slo.target is None:
        raise ValueError(f"SLO {slo.name!r}: timeslices need a target")
    if slo.sli == "accuracy":
        sel = _selector("driftline_model_performance", slo, 'slice="all"', 'metric="accuracy"')
        return f"min by (model) (avg_over_time({sel}[{ts}])) < bool {slo.target!r}"
    counter = _counter(slo)
    assert counter is not None
    bad, total = _bad_and_total(slo, counter, ts)
    ratio = textwrap.indent(f"{bad}\n/\n{total}", "  ")
    return f"(\n{ratio}\n) > bool {complement(slo.target)!r}"


_UNITS = {
    "availability": "calls",
    "latency": "calls",
    "data_quality": "records",
    "accuracy": "labelled predictions",
}


def event_unit(slo: SLO) -> str:
    """What one event of the SLI is, in words: calls, records, labelled predictions or timeslices."""
    if slo.budgeting == "timeslices":
        return f"{format_duration(slo.timeslice_seconds)} timeslices"
    return _UNITS[slo.sli]


def bad_events_phrase(slo: SLO) -> str:
    """Completes "<share> ..." in an alert: what made an event or a timeslice bad, in the on-call's words."""
    m, ms = slo.model, f"{product(slo.threshold_seconds or 0, 1000):g} ms"
    if slo.budgeting == "occurrences":
        return {
            "availability": f"of {m}'s calls failed",
            "latency": f"of {m}'s calls took longer than {ms}",
            "data_quality": f"of {m}'s records were invalid",
            "accuracy": f"of {m}'s labelled predictions were wrong",
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
