"""Error-budget math and the burn-rate policy reproduce the SRE workbook's figures; status follows the counts."""

from __future__ import annotations

import math

import pytest

from slo.budget import (
    Counts,
    budget_consumed,
    budget_remaining,
    budget_seconds,
    budget_spent,
    burn_rate,
    error_budget,
    time_to_exhaustion,
)
from slo.definition import SLO
from slo.status import evaluate, fires, required_windows
from slo.windows import (
    SRE_WORKBOOK_PERIOD_SECONDS,
    SRE_WORKBOOK_WINDOWS,
    WindowRule,
    auto_min_events,
    bad_events_gate,
    burn_factor,
    fit_to_slices,
    format_duration,
    policy,
)

MINUTE, HOUR, DAY = 60, 3600, 86400
MONTH = 30 * DAY

WORKBOOK = {
    "a 14.4x burn for 1 hour spends 2% of a 30-day budget": (14.4, HOUR, 0.02),
    "a 6x burn for 6 hours spends 5% of a 30-day budget": (6, 6 * HOUR, 0.05),
    "a 3x burn for 1 day spends 10% of a 30-day budget": (3, DAY, 0.10),
    "a 1x burn for 3 days spends 10% of a 30-day budget": (1, 3 * DAY, 0.10),
    "a 1x burn for the whole period spends the whole budget": (1, MONTH, 1.0),
}


def test_a_999_objective_over_30_days_allows_43_point_2_minutes_of_full_outage() -> None:
    assert budget_seconds(99.9, MONTH) / MINUTE == pytest.approx(43.2, rel=1e-12)


@pytest.mark.parametrize("burn, seconds, share", WORKBOOK.values(), ids=list(WORKBOOK))
def test_the_sre_workbook_budget_spend_figures(burn: float, seconds: int, share: float) -> None:
    assert budget_spent(burn, seconds, MONTH) == pytest.approx(share, rel=1e-12)


BUDGETS = {"99.9% leaves 0.1%": (99.9, 0.001), "99% leaves 1%": (99, 0.01), "95% leaves 5%": (95, 0.05),
           "99.95% leaves 0.05%": (99.95, 0.0005), "99.99% leaves 0.01%": (99.99, 0.0001)}  # fmt: skip


@pytest.mark.parametrize("objective, budget", BUDGETS.values(), ids=list(BUDGETS))
def test_the_error_budget_is_one_minus_the_objective_without_binary_noise(
    objective: float, budget: float
) -> None:
    assert error_budget(objective) == budget  # exactly: the thresholds in the rules are written from it


@pytest.mark.parametrize("objective", [100, 101, 0, -1])
def test_an_objective_outside_0_to_100_has_no_budget(objective: float) -> None:
    with pytest.raises(ValueError, match="above 0 and below 100"):
        error_budget(objective)


def test_the_workbook_table_gives_factors_14_4_6_3_and_1_for_30_days() -> None:
    rows = SRE_WORKBOOK_WINDOWS
    assert [burn_factor(r.budget_share or 0, SRE_WORKBOOK_PERIOD_SECONDS, r.long_seconds) for r in rows] == [
        14.4, 6, 3, 1
    ]  # fmt: skip
    assert [(r.severity, format_duration(r.long_seconds), format_duration(r.short_seconds)) for r in rows] == [
        ("page", "1h", "5m"), ("page", "6h", "30m"), ("ticket", "1d", "2h"), ("ticket", "3d", "6h")
    ]  # fmt: skip


PERIODS = {
    "7 days": (7 * DAY, [3.36, 1.4, 1, 1]),  # 0.7x and 0.23x would never exhaust the budget: floored at 1x
    "28 days": (28 * DAY, [13.44, 5.6, 2.8, 1]),  # 0.93x floored too
    "30 days": (30 * DAY, [14.4, 6, 3, 1]),
    "90 days": (90 * DAY, [43.2, 18, 9, 3]),
}


@pytest.mark.parametrize("period, factors", PERIODS.values(), ids=[f"the factors for {p}" for p in PERIODS])
def test_the_factor_for_any_period_is_budget_share_times_period_over_long_window_and_at_least_1(
    period: int, factors: list[float]
) -> None:
    windows = policy(99.9, period)
    assert [w.factor for w in windows] == factors
    for w in windows:  # and holding that factor for the long window spends exactly the row's share
        assert budget_spent(w.factor, w.long_seconds, period) == pytest.approx(w.budget_share, rel=1e-9)


def test_a_period_shorter_than_a_window_drops_that_window_from_the_default_policy() -> None:
    assert [format_duration(w.long_seconds) for w in policy(99.9, DAY)] == ["1h", "6h", "1d"]


def test_the_error_ratio_threshold_is_factor_times_budget_written_exactly() -> None:
    assert [w.error_ratio_threshold for w in policy(99.9, MONTH)] == [0.0144, 0.006, 0.003, 0.001]
    assert [w.error_ratio_threshold for w in policy(99, MONTH)] == [0.144, 0.06, 0.03, 0.01]


@pytest.mark.parametrize("threshold", [0.0144, 0.006, 0.003, 0.001, 0.144, 0.72, 0.5, 1.0])
def test_the_default_gate_is_the_fewest_events_where_one_bad_event_alone_stays_under_the_threshold(
    threshold: float,
) -> None:
    gate = auto_min_events(threshold)
    assert 1 / gate < threshold  # at the gate, one bad event cannot fire
    assert 1 / (gate - 1) >= threshold if gate > 1 else True  # one event fewer, it could


def test_an_explicit_factor_below_1_is_kept() -> None:
    rule = WindowRule("ticket", 3 * DAY, 6 * HOUR, budget_share=0.1)
    assert [w.factor for w in policy(99.9, 7 * DAY, (rule,))] == [0.233333333333]


def test_a_low_objective_caps_the_default_factors_at_everything_failing() -> None:
    windows = policy(90, MONTH)  # 14.4x a 10% budget would need 144% of calls to fail
    assert [(w.factor, w.error_ratio_threshold) for w in windows] == [(10, 1.0), (6, 0.6), (3, 0.3), (1, 0.1)]
    assert windows[0].budget_share == pytest.approx(10 * HOUR / MONTH)


def test_the_default_gates_for_a_999_objective_are_70_167_334_and_1001_events() -> None:
    assert [w.min_events for w in policy(99.9, MONTH)] == [70, 167, 334, 1001]
    assert [w.min_events for w in policy(99.9, MONTH, min_events=25)] == [25] * 4
    assert [w.min_events for w in policy(99.9, MONTH, gated=False)] == [0] * 4


def test_the_gate_counts_bad_events_two_by_default_and_what_an_explicit_gate_holds_at_the_threshold() -> None:
    assert [w.min_bad_events for w in policy(99.9, MONTH)] == [2, 2, 2, 2]
    assert [w.min_bad_events for w in policy(99.9, MONTH, min_events=25)] == [2, 2, 2, 2]  # never one alone
    assert [w.min_bad_events for w in policy(99.9, MONTH, min_events=500)] == [8, 3, 2, 2]  # 7.2, 3, 1.5, 0.5
    assert [w.min_bad_events for w in policy(99.9, MONTH, min_events=0)] == [0] * 4
    assert [w.min_bad_events for w in policy(99.9, MONTH, gated=False)] == [0] * 4


@pytest.mark.parametrize("threshold", [0.0144, 0.006, 0.003, 0.001, 0.144, 0.72, 0.5, 1.0])
def test_where_traffic_reached_the_old_gate_two_bad_events_is_the_same_gate(threshold: float) -> None:
    """With the auto gate's events or more, a ratio at the threshold already takes 2 bad events: the bad-event
    gate changes nothing at normal traffic and only lets low traffic through."""
    gate = auto_min_events(threshold)
    assert bad_events_gate(gate, threshold) == 2
    for total in range(gate, gate + 2000):
        fewest_bad = math.ceil(threshold * total - 1e-9)
        assert fewest_bad >= 2, (total, fewest_bad)


def _sparse(failed_minutes: int, slo: SLO) -> dict[int, Counts]:
    """One call every three minutes for a day, the calls of the last `failed_minutes` minutes all failing."""
    out = {}
    for w in required_windows(slo):
        calls = min(w, DAY) // 180
        failed = min(w, failed_minutes) // 180
        out[w] = Counts(good=calls - failed, total=calls)
    return out


def test_a_total_outage_at_a_call_every_three_minutes_pages_from_its_second_failure() -> None:
    """Before: under a gate of 70 calls in 1h (167 in 6h), 20 calls an hour could never page."""
    slo = _availability()
    assert evaluate(slo, _sparse(3 * MINUTE, slo)).firing == ()  # one failed call alone: nothing
    paged = [
        (w.severity, format_duration(w.long_seconds)) for w in evaluate(slo, _sparse(6 * MINUTE, slo)).firing
    ]
    assert ("page", "1h") in paged and ("page", "6h") in paged


def test_a_short_window_without_any_call_does_not_resolve_a_burn() -> None:
    page = _availability().windows[0]
    burning = Counts(good=300, total=600)
    assert fires(page, burning, Counts(good=0, total=0))  # calls stopped: nothing shows a recovery
    assert not fires(page, burning, Counts(good=100, total=100))  # calls came back clean: resolved
    assert not fires(page, Counts(good=0, total=0), Counts(good=0, total=0))  # no call in the long window


def test_fitting_windows_to_hourly_slices_keeps_each_rows_budget_share_and_is_idempotent() -> None:
    windows = policy(95, MONTH, gated=False)
    fitted = fit_to_slices(windows, HOUR, 95, MONTH)
    assert [(format_duration(w.long_seconds), format_duration(w.short_seconds), w.factor) for w in fitted] == [
        ("2h", "1h", 7.2), ("6h", "1h", 6), ("1d", "2h", 3), ("3d", "6h", 1)
    ]  # fmt: skip
    assert fitted[0].budget_share == pytest.approx(windows[0].budget_share)  # 2% of the budget, over 2h now
    assert {w.min_bad_events for w in fitted} == {2}  # one hour is 2.8% of 36 hours of budget
    assert fit_to_slices(fitted, HOUR, 95, MONTH) == fitted


def test_fitting_drops_windows_the_period_cannot_hold_and_gates_at_one_slice_that_exceeds_the_budget() -> (
    None
):
    fitted = fit_to_slices(policy(99.9, 7 * DAY, gated=False), 4 * DAY, 99.9, 7 * DAY)
    assert fitted == ()  # two 4-day slices do not fit in 7 days
    daily = fit_to_slices(policy(99.9, MONTH, gated=False), DAY, 99.9, MONTH)
    assert {w.min_bad_events for w in daily} == {1}  # one bad day is 33x the 43-minute budget
    # the two pages became 2d/1d at 1x and merged
    assert [(w.severity, w.factor) for w in daily] == [("page", 1), ("ticket", 1.5), ("ticket", 1)]


POLICY_ERRORS = {
    "a short window as long as the long one": (
        WindowRule("page", HOUR, HOUR, factor=14.4),
        "must be shorter",
    ),
    "a long window longer than the period": (
        WindowRule("ticket", 31 * DAY, HOUR, factor=1),
        "longer than the 30d",
    ),
    "both a factor and a budget share": (WindowRule("page", HOUR, 300, 0.02, 14.4), "exactly one of factor"),
    "a factor no error ratio can reach": (WindowRule("page", HOUR, 300, factor=2000), "could never fire"),
}


@pytest.mark.parametrize("rule, message", POLICY_ERRORS.values(), ids=list(POLICY_ERRORS))
def test_a_policy_that_cannot_work_is_refused(rule: WindowRule, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        policy(99.9, MONTH, (rule,))


def test_burn_rate_consumed_remaining_and_time_to_exhaustion() -> None:
    assert burn_rate(0.0144, 99.9) == pytest.approx(14.4)
    assert budget_consumed(0.0005, 99.9) == pytest.approx(0.5)
    assert budget_remaining(0.5) == 0.5 and budget_remaining(1.25) == -0.25
    assert time_to_exhaustion(1.0, 1.0, MONTH) == MONTH  # 1x spends the budget in exactly one period
    assert time_to_exhaustion(1.0, 14.4, MONTH) == pytest.approx(50 * HOUR)
    assert time_to_exhaustion(0.0, 14.4, MONTH) == 0 and time_to_exhaustion(-0.1, 1, MONTH) == 0
    assert time_to_exhaustion(0.5, 0.0, MONTH) == math.inf


def test_counts_give_the_error_ratio_and_an_empty_window_spends_nothing() -> None:
    assert Counts(good=990, total=1000).error_ratio == pytest.approx(0.01)
    assert Counts(good=0, total=0).error_ratio == 0.0
    with pytest.raises(ValueError, match="good <= total"):
        Counts(good=11, total=10)


def _availability(**kw: object) -> SLO:
    args: dict[str, object] = dict(
        name="credit-availability", model="credit", sli="availability", objective=99.9, period_seconds=MONTH,
        budgeting="occurrences", windows=policy(99.9, MONTH),
    )  # fmt: skip
    args.update(kw)
    return SLO(**args)  # type: ignore[arg-type]


def _steady(error_ratio: float, per_second: float, slo: SLO) -> dict[int, Counts]:
    """Counts per window for traffic at a constant rate and error ratio."""
    out = {}
    for w in required_windows(slo):
        total = per_second * w
        out[w] = Counts(good=total * (1 - error_ratio), total=total)
    return out


def test_the_collector_must_count_every_window_of_the_policy_and_the_period() -> None:
    assert [format_duration(w) for w in required_windows(_availability())] == [
        "5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"
    ]  # fmt: skip


def test_status_from_counts_reports_budget_burn_rates_time_left_and_the_alerts_that_would_fire() -> None:
    slo = _availability()
    counts = _steady(0.0144, 100, slo)  # a steady 14.4x burn
    counts[MONTH] = Counts(good=999_500, total=1_000_000)  # half the month's budget already spent
    status = evaluate(slo, counts)
    assert status.consumed == pytest.approx(0.5) and status.remaining == pytest.approx(0.5)
    assert status.burn_rate(HOUR) == pytest.approx(14.4)
    assert status.time_to_exhaustion_seconds == pytest.approx(0.5 * MONTH / 14.4)
    assert [(w.severity, format_duration(w.long_seconds)) for w in status.firing] == [
        ("page", "1h"), ("page", "6h"), ("ticket", "1d"), ("ticket", "3d")
    ]  # fmt: skip


def test_a_2x_burn_would_open_only_the_1x_ticket() -> None:
    slo = _availability()
    status = evaluate(slo, _steady(0.002, 100, slo))
    assert [(w.severity, format_duration(w.long_seconds)) for w in status.firing] == [("ticket", "3d")]


def test_a_burn_just_under_the_page_threshold_does_not_page_over_1h() -> None:
    slo = _availability()
    page = slo.windows[0]
    counts = _steady(0.0143, 100, slo)
    assert not fires(page, counts[HOUR], counts[300])
    counts = _steady(0.0144, 100, slo)
    assert fires(page, counts[HOUR], counts[300])


def test_three_calls_an_hour_with_one_failure_fire_nothing_under_the_default_gate() -> None:
    slo = _availability()
    quiet = {w: Counts(good=max(3 * w / HOUR - 1, 0), total=3 * w / HOUR) for w in required_windows(slo)}
    quiet[300] = Counts(good=0, total=1)  # the failure was the last call
    quiet[1800] = Counts(good=0, total=1)
    assert evaluate(slo, quiet).firing == ()
    ungated = _availability(windows=policy(99.9, MONTH, min_events=0))
    assert [w.severity for w in evaluate(ungated, quiet).firing][:1] == ["page"]


def test_status_refuses_counts_that_miss_a_window() -> None:
    slo = _availability()
    counts = _steady(0.001, 10, slo)
    del counts[300]
    with pytest.raises(ValueError, match=r"no counts for windows \[300\]"):
        evaluate(slo, counts)


def test_a_budget_share_waits_for_an_hour_of_events_and_a_budget_of_one_bad_event() -> None:
    """40 s of traffic with 0.74% failing reads "-640% of the budget left" as a share of the month: the
    status keeps the figure but says it is not ready, so the demo, the report and `driftline status` show
    "too early" and the burn rates instead."""
    slo = _availability()
    counts = _steady(0.0074, 2800, slo)
    early = evaluate(slo, counts, observed_seconds=40)
    assert early.remaining == pytest.approx(1 - 7.4) and not early.budget_ready
    assert early.burn_rate(300) == pytest.approx(7.4)
    assert evaluate(slo, counts, observed_seconds=HOUR).budget_ready
    assert evaluate(slo, counts).budget_ready  # no span given: events cover the period
    few = {w: Counts(good=999, total=999) for w in required_windows(slo)}  # 999 events: 0.999 of one bad event
    assert not evaluate(slo, few, observed_seconds=2 * HOUR).budget_ready
    few = {w: Counts(good=1000, total=1000) for w in required_windows(slo)}
    assert evaluate(slo, few, observed_seconds=2 * HOUR).budget_ready
