"""Sample-size-aware drift verdicts: the minimum detectable effect (MDE) a window's size gives, by simulation,
and "insufficient_data" where the window could not have told an alert-sized drift from noise."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.binning import fit_reference
from analyzers.drift import feature_drift
from analyzers.power import SIGNIFICANCE, counts_significant, min_detectable_effect, significant
from analyzers.twosample import chi2

REFERENCE_N = 20_000


def _reference(seed: int = 0):
    rng = np.random.default_rng(seed)
    return fit_reference({"x": rng.normal(0, 1, REFERENCE_N)}, n_bins=10)["x"]


def _detected(metric: str, shift: float, n: int, runs: int = 300, seed: int = 1) -> float:
    """Share of windows of `n` values shifted by `shift` standard deviations that are significant."""
    reference = _reference()
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(runs):
        (v,) = feature_drift(reference, rng.normal(shift, 1, n), metrics=(metric,), min_count=1)
        cells = sum(1 for r in reference.counts if r)
        hits += bool(significant(metric, v.value, v.n_reference, v.n_current, cells))
    return hits / runs


def _shift_with_psi(target: float) -> float:
    """The mean shift (in standard deviations) of a unit normal whose PSI on the reference's bins is `target`."""
    reference = _reference()
    rng = np.random.default_rng(7)
    big = rng.normal(0, 1, 400_000)
    lo, hi = 0.0, 2.0
    for _ in range(30):
        mid = (lo + hi) / 2
        (v,) = feature_drift(reference, big + mid, metrics=("psi",), min_count=1)
        lo, hi = (mid, hi) if v.value < target else (lo, mid)
    return (lo + hi) / 2


def test_psi_mde_falls_as_one_over_the_window_size_and_is_the_documented_noncentral_chi2_value():
    small = min_detectable_effect("psi", 1_000_000, 100, 10)
    large = min_detectable_effect("psi", 1_000_000, 400, 10)
    assert small is not None and large is not None
    assert small / large == pytest.approx(4, rel=1e-3)
    # 9 degrees of freedom, 5% level, 80% power: noncentrality 15.7 (Cohen's power tables: lambda = 15.65)
    assert small * 100 == pytest.approx(15.7, abs=0.1)
    # the other divergences are the same effect in their own units, to second order
    assert min_detectable_effect("kl", 1_000_000, 100, 10) == pytest.approx(small / 2)
    assert min_detectable_effect("hellinger", 1_000_000, 100, 10) == pytest.approx(math.sqrt(small / 8))


def test_a_drift_of_the_psi_mde_is_detected_about_80_percent_of_the_time_and_no_drift_about_5():
    n = 300
    mde = min_detectable_effect("psi", REFERENCE_N, n, 10)
    assert mde is not None
    power = _detected("psi", _shift_with_psi(mde), n)
    false_alarms = _detected("psi", 0.0, n)
    assert 0.65 <= power <= 0.92, power
    assert false_alarms <= 0.10, false_alarms


def test_a_wasserstein_shift_of_the_mde_is_detected_about_80_percent_of_the_time():
    n = 200
    mde = min_detectable_effect("wasserstein", 2_000, n, 10)  # the reference sample is 2,000 values
    assert mde is not None
    assert 0.65 <= _detected("wasserstein", mde, n, runs=200) <= 0.95


def test_chi2_has_no_mde_and_an_empty_side_has_none_either():
    assert min_detectable_effect("chi2", 100, 100, 10) is None
    assert min_detectable_effect("psi", 0, 100, 10) is None
    ks = min_detectable_effect("ks", 1000, 100, 10)
    assert ks is not None and ks < min_detectable_effect("ks", 1000, 50, 10)  # type: ignore[operator]


def test_a_small_window_without_drift_is_insufficient_data_and_a_large_one_is_ok():
    rng = np.random.default_rng(3)
    (small,) = feature_drift(_reference(), rng.normal(0, 1, 40), metrics=("psi",), min_count=30)
    (large,) = feature_drift(_reference(), rng.normal(0, 1, 3_000), metrics=("psi",), min_count=30)
    assert small.status == "insufficient_data" and small.mde is not None and small.mde > small.alert  # type: ignore[operator]
    assert large.status == "ok" and large.mde is not None and large.mde <= large.alert  # type: ignore[operator]


def test_a_small_window_with_a_large_significant_drift_still_alerts():
    rng = np.random.default_rng(4)
    (v,) = feature_drift(_reference(), rng.normal(3, 1, 40), metrics=("psi",), min_count=30)
    assert v.status == "alert" and v.mde is not None and v.mde > v.alert  # type: ignore[operator]


def test_a_value_over_warn_that_noise_gives_at_this_size_is_no_drift():
    # PSI over the warn level 0.1 by chance: below the 5% critical value at n_eff ~ 150, so not a warning
    rng = np.random.default_rng(5)
    reference = _reference()
    for _ in range(200):
        (v,) = feature_drift(reference, rng.normal(0, 1, 150), metrics=("psi",), min_count=30, warn=0.05,
                             alert=0.5)
        if v.value >= 0.05 and not significant("psi", v.value, v.n_reference, v.n_current, 10):
            assert v.status in ("ok", "insufficient_data"), v
            return
    pytest.fail("no noisy window over the warn level in 200 draws")


def test_a_dozen_values_of_the_reference_distribution_are_rarely_a_verdict_though_their_psi_is_large():
    # smoothed PSI of 12 values over 10 bins is large (empty bins), so a threshold alone alerts every time;
    # Pearson's test on the counts says it is noise, and 12 values cannot show an alert-sized drift
    rng = np.random.default_rng(8)
    reference = _reference()
    values = [feature_drift(reference, rng.normal(0, 1, 12), metrics=("psi",), min_count=5)[0] for _ in range(200)]
    assert np.mean([v.value >= v.alert for v in values]) > 0.9  # type: ignore[operator]
    statuses = [v.status for v in values]
    assert statuses.count("insufficient_data") >= 180, statuses
    assert "ok" not in statuses


@settings(max_examples=300, deadline=None)
@given(
    st.integers(2, 12).flatmap(
        lambda k: st.tuples(st.lists(st.integers(0, 400), min_size=k, max_size=k),
                            st.lists(st.integers(0, 400), min_size=k, max_size=k))
    )
)
def test_the_counts_verdict_is_scipys_chi_squared_test_at_five_percent(tables: tuple[list[int], list[int]]) -> None:
    """The tick's fast verdict (statistic against the cached critical value) is the p-value's verdict."""
    reference, current = tables
    got = counts_significant(reference, current)
    if not sum(reference) or not sum(current):
        assert got is None
        return
    p = chi2(np.asarray(reference), np.asarray(current)).p_value
    assert p is not None
    if abs(p - SIGNIFICANCE) > 1e-9:  # a p-value on the level itself may round either way
        assert got == (p <= SIGNIFICANCE), (reference, current, p)
