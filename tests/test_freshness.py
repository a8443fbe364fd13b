"""Feature freshness: the SDK turns each call's feature computed-at times into ages, the collector keeps
one histogram per feature on /metrics, equal to what was sent (a real collector, before and after a restart).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk import MockTransport, Monitor, wire
from tests.conftest import Collector, start_collector
from tests.test_collector_api import sample

SPEC = """version: 1
models:
  - name: ranker
    features:
      - {name: clicks_1h, type: numeric}
      - {name: profile, type: numeric}
    prediction: {type: regression}
"""


def _hist(ages: list[int]) -> list[int]:
    """Cumulative bucket counts of ages, as /metrics writes them (le = each bound, then +Inf)."""
    counts = [0] * (len(wire.FEATURE_AGE_BOUNDS) + 1)
    for a in ages:
        counts[bisect_left(wire.FEATURE_AGE_BOUNDS, a)] += 1
    return [sum(counts[: i + 1]) for i in range(len(counts))]


def test_feature_ages_reach_metrics_exactly_and_survive_a_restart(db_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "ranker.yaml"
    spec.write_text(SPEC)
    collector: Collector = start_collector(db_url, tmp_path, config=spec)
    now = float(int(time.time()))
    rng = np.random.default_rng(4)
    sent: dict[str, list[int]] = {"clicks_1h": [], "profile": []}
    try:
        mon = Monitor(
            "ranker", "v1", collector=collector.url, token=collector.ingest, sample_rate=0.0,
            flush_interval=0.05, clock=lambda: now,  # a frozen clock: every age is known exactly
        )
        try:
            for i in range(400):
                a, b = int(rng.integers(0, 120)), int(rng.integers(0, 3 * 86400))
                times: dict[str, Any] = {"clicks_1h": now - a}
                if i % 4 == 0:  # a datetime (naive = UTC) works as well as unix seconds
                    times["profile"] = dt.datetime.fromtimestamp(now - b, dt.UTC).replace(tzinfo=None)
                    sent["profile"].append(b)
                if i % 50 == 7:
                    times["bad name!"] = now  # dropped and counted, the good ones still count
                sent["clicks_1h"].append(a)
                with mon.observe(features={"clicks_1h": 1.0}, feature_times=times) as obs:
                    obs.predictions([0.5])
            assert mon.usage_dropped == 8 and mon.internal_errors == 0
            assert mon.flush(timeout=30)
        finally:
            mon.close(timeout=5)

        def check(c: Collector) -> None:
            text = c.metrics()
            for feature, ages in sent.items():
                labels = f'feature="{feature}",model="ranker",version="v1"'
                got = [
                    sample(text, "driftline_feature_age_seconds_bucket", f'feature="{feature}",le="{le}",'
                           'model="ranker",version="v1"')
                    for le in [*map(repr, wire.FEATURE_AGE_BOUNDS), "+Inf"]
                ]
                assert got == _hist(ages), feature
                assert sample(text, "driftline_feature_age_seconds_count", labels) == len(ages)
                assert sample(text, "driftline_feature_age_seconds_sum", labels) == sum(ages)

        check(collector)
        collector.stop()
        again = start_collector(
            collector.database_url, tmp_path, config=spec, port=collector.port,
            tokens=(collector.admin, collector.ingest, collector.read),
        )
        try:
            check(again)
        finally:
            again.stop()
    finally:
        collector.stop()


@pytest.mark.parametrize(
    "times",
    [
        {"f": math.nan},
        {"f": "yesterday"},
        {"f": True},
        {"f": None},
        {"": 1.0},
        {7: 1.0},
        {"f" * 65: 1.0},
    ],
    ids=["nan", "text", "bool", "none", "empty name", "int name", "long name"],
)
def test_a_bad_feature_time_is_dropped_and_counted_never_raised(times: dict[Any, Any]) -> None:
    t = MockTransport()
    mon = Monitor("ranker", "v1", transport=t, sample_rate=0.0, clock=lambda: 2e9)
    try:
        with mon.observe(feature_times=times):
            pass
        assert mon.usage_dropped == 1 and mon.internal_errors == 0
        assert mon.flush(timeout=5)
        (body,) = t.bodies(wire.STATS_PATH)
        assert "feature_ages" not in body and body["ok"] == 1  # the call still counts
    finally:
        mon.close(timeout=1)


def test_a_feature_time_that_is_not_a_mapping_is_an_internal_error_not_an_exception() -> None:
    mon = Monitor("ranker", "v1", transport=MockTransport(), sample_rate=0.0)
    try:
        with mon.observe(feature_times=[("f", 1.0)]):  # type: ignore[arg-type]
            pass
        assert mon.internal_errors == 1
    finally:
        mon.close(timeout=1)


def test_a_time_ahead_of_the_clock_is_age_zero_and_features_beyond_the_cap_are_dropped() -> None:
    t = MockTransport()
    mon = Monitor("ranker", "v1", transport=t, sample_rate=0.0, clock=lambda: 2e9)
    try:
        with mon.observe(feature_times={"skewed": 2e9 + 3}):
            pass
        many = {f"f{i}": 2e9 - 1 for i in range(wire.MAX_FEATURE_AGES + 5)}
        with mon.observe(feature_times=many):
            pass
        assert mon.usage_dropped == 6  # "skewed" took one of the MAX_FEATURE_AGES places
        assert mon.flush(timeout=5)
        (body,) = t.bodies(wire.STATS_PATH)
        ages = body["feature_ages"]
        assert len(ages) == wire.MAX_FEATURE_AGES
        assert ages["skewed"] == {"counts": [1] + [0] * len(wire.FEATURE_AGE_BOUNDS), "sum": 0.0}
    finally:
        mon.close(timeout=1)
