"""A per-feature freshness SLO (issue 20 item 4): the share of calls whose feature was at most max_age old.

The SDK counts each call's feature age into `driftline_feature_age_seconds` (tests/test_freshness.py); this
SLO reads that histogram's bucket at max_age, per call (occurrences). Checked here: the spec's refusals with
line, field and fix, the resolved SLO, its PromQL, and the collector's own count in GET /v1/slos against a
real collector fed by the real SDK. The promtool suite sli_kinds runs the generated rules over the series.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from sdk import Monitor, wire
from slo.sli import bad_event_count, event_count
from spec import SpecError, load_spec_text
from tests.conftest import Collector, http, start_collector
from tests.test_slo_spec import BASE, slo

GOOD = "sli: freshness, source: features, feature: income, max_age: 15m, objective: 99"

REFUSED = {
    "a feature freshness SLO without a feature says to name one": (
        slo("sli: freshness, source: features, max_age: 15m, objective: 99"),
        "10: slos.0.feature", "needs feature, the declared feature to judge",
    ),
    "max_age between feature-age bounds lists the bounds": (
        slo("sli: freshness, source: features, feature: income, max_age: 20m, objective: 99"),
        "10: slos.0.feature", "max_age 20m is not a feature-age bucket bound: use one of 1s, 5s, 15s",
    ),
    "an undeclared feature is refused with a hint": (
        slo("sli: freshness, source: features, feature: incom, max_age: 15m, objective: 99"),
        "10: slos.0.feature", "feature 'incom' is not declared by model 'credit'",
    ),
    "feature without source features is refused": (
        slo("sli: freshness, feature: income, max_age: 15m, objective: 99"),
        "10: slos.0.feature", "add source: features or remove it",
    ),
    "feature on another SLI is refused": (
        slo("sli: availability, feature: income, objective: 99"), "10: slos.0.feature", "remove it",
    ),
    "the newest records cannot be counted per call": (
        slo("sli: freshness, max_age: 15m, budgeting: occurrences, objective: 99"),
        "10: slos.0.feature", "judge one feature's age per call with source: features",
    ),
    "a feature's age is counted per call, not by timeslices": (
        slo("sli: freshness, source: features, feature: income, max_age: 15m, budgeting: timeslices, "
            "objective: 99"),
        "10: slos.0.feature", "remove budgeting: timeslices",
    ),
}  # fmt: skip


@pytest.mark.parametrize("text, where, fix", REFUSED.values(), ids=list(REFUSED))
def test_a_bad_feature_freshness_slo_is_refused_with_line_field_and_fix(text: str, where: str, fix: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(text, source="driftline.yaml")
    assert where in str(err.value) and fix in str(err.value), str(err.value)


def test_it_resolves_to_calls_counted_on_the_bucket_at_max_age_of_that_feature_only() -> None:
    [s] = load_spec_text(slo(GOOD)).slos
    assert (s.sli, s.budgeting, s.freshness_source, s.feature, s.max_age_seconds) == (
        "freshness", "occurrences", "features", "income", 900
    )
    assert all(w.min_events > 0 for w in s.windows)  # gated like every call-counting SLI
    total, bad = event_count(s, 300), bad_event_count(s, 300)
    assert total == (
        'sum by (model) (increase(driftline_feature_age_seconds_count{model="credit",feature="income"}[5m]))'
    )
    assert 'driftline_feature_age_seconds_bucket{model="credit",feature="income",le="900.0"}[5m]' in bad
    assert "900.0" in [repr(b) for b in wire.FEATURE_AGE_BOUNDS]  # the very label the collector writes


def test_the_records_freshness_slo_is_unchanged() -> None:
    [s] = load_spec_text(slo("sli: freshness, max_age: 15m, objective: 99")).slos
    assert (s.budgeting, s.freshness_source, s.feature) == ("timeslices", "records", None)


def _status(c: Collector) -> dict[str, Any]:
    code, status = http("GET", c.url + "/v1/slos/credit-slo", token=c.read)
    assert code == 200, status
    return dict(status)


def test_the_collector_counts_fresh_and_stale_calls_the_sdk_sent(db_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "credit.yaml"
    spec.write_text(slo(GOOD))
    assert spec.read_text().startswith(BASE)
    c = start_collector(db_url, tmp_path, config=spec)
    now = float(int(time.time()))
    try:
        mon = Monitor("credit", "v1", collector=c.url, token=c.ingest, sample_rate=0.0, flush_interval=0.05,
                      clock=lambda: now)  # fmt: skip
        try:
            ages = [0, 60, 899, 900, 901, 3600, 86400] * 10  # 40 at most 15m old, 30 older
            for age in ages:
                with mon.observe(feature_times={"income": now - age, "region": now - 10 * 86400}):
                    pass
            assert mon.flush(timeout=30)
        finally:
            mon.close(timeout=5)
        status = _status(c)
        assert status["computed_by"] == "collector" and status["budgeting"] == "occurrences", status
        # 30 of 70 calls used an income older than 15m (900 s is still fresh: le="900.0"); region's
        # ten-day-old values do not count for income
        assert status["error_ratio"] == pytest.approx(30 / 70), status
        assert status["burn_rates"]["5m"] == pytest.approx((30 / 70) / 0.01), status
    finally:
        c.stop()
