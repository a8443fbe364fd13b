"""Drift statistics: worked examples, agreement with scipy, the registry, and feature_drift's verdicts."""

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from analyzers.binning import FeatureReference, fit_numeric, fit_reference
from analyzers.drift import (
    STATISTICS,
    EmptyBinPolicy,
    drift_table,
    feature_drift,
    get_statistic,
    js,
    kl,
    kl_reverse,
    proportions,
    psi,
)

# Worked example: r = [.1, .2, .3, .4], c = [.2, .2, .2, .4]; no empty bin, so no smoothing applies.
REF = [10, 20, 30, 40]
CUR = [20, 20, 20, 40]
R = np.array([0.1, 0.2, 0.3, 0.4])
C = np.array([0.2, 0.2, 0.2, 0.4])
POLICIES = list(EmptyBinPolicy)


def test_psi_of_the_worked_example_is_the_hand_computed_sum():
    # (.2-.1)ln(.2/.1) + 0 + (.2-.3)ln(.2/.3) + 0 = .1 ln 2 + .1 ln 1.5 = .1 ln 3
    terms = 0.1 * math.log(2) + (-0.1) * math.log(0.2 / 0.3)
    assert psi(REF, CUR) == pytest.approx(terms, abs=1e-12)
    assert psi(REF, CUR) == pytest.approx(0.1 * math.log(3), abs=1e-12)


def test_kl_is_current_given_reference_and_equals_the_hand_computed_sum():
    # KL(c||r) = .2 ln(.2/.1) + .2 ln 1 + .2 ln(.2/.3) + .4 ln 1 = .2 ln(4/3)
    assert kl(REF, CUR) == pytest.approx(0.2 * math.log(2) + 0.2 * math.log(2 / 3), abs=1e-12)
    assert kl(REF, CUR) == pytest.approx(0.2 * math.log(4 / 3), abs=1e-12)


def test_kl_reverse_is_reference_given_current_and_equals_the_hand_computed_sum():
    # KL(r||c) = .1 ln(.1/.2) + 0 + .3 ln(.3/.2) + 0 = .3 ln 1.5 - .1 ln 2
    assert kl_reverse(REF, CUR) == pytest.approx(0.3 * math.log(1.5) - 0.1 * math.log(2), abs=1e-12)


def test_js_distance_of_the_worked_example_is_the_hand_computed_value_in_bits():
    # m = [.15, .2, .25, .4]; KL(r||m) = .1 log2(2/3) + .3 log2(6/5); KL(c||m) = .2 log2(4/3) + .2 log2(4/5)
    kl_rm = 0.1 * math.log2(2 / 3) + 0.3 * math.log2(6 / 5)
    kl_cm = 0.2 * math.log2(4 / 3) + 0.2 * math.log2(4 / 5)
    assert js(REF, CUR) == pytest.approx(math.sqrt((kl_rm + kl_cm) / 2), abs=1e-12)


def test_the_worked_example_agrees_with_scipy_on_the_raw_proportions():
    assert kl(REF, CUR) == pytest.approx(entropy(C, R), abs=1e-9)
    assert kl_reverse(REF, CUR) == pytest.approx(entropy(R, C), abs=1e-9)
    assert js(REF, CUR) == pytest.approx(jensenshannon(R, C, base=2), abs=1e-9)
    assert psi(REF, CUR) == pytest.approx(entropy(C, R) + entropy(R, C), abs=1e-9)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.value} policy")
def test_every_statistic_equals_scipy_on_the_same_smoothed_proportions(policy):
    ref, cur = [0, 5, 40, 55, 0], [3, 0, 47, 30, 20]
    r, c = proportions(ref, policy), proportions(cur, policy)
    assert kl(ref, cur, policy) == pytest.approx(entropy(c, r), abs=1e-9)
    assert kl_reverse(ref, cur, policy) == pytest.approx(entropy(r, c), abs=1e-9)
    assert js(ref, cur, policy) == pytest.approx(jensenshannon(r, c, base=2), abs=1e-9)
    assert psi(ref, cur, policy) == pytest.approx(entropy(c, r) + entropy(r, c), abs=1e-9)


def test_psi_is_the_sum_of_both_kl_directions_on_the_same_proportions():
    rng = np.random.default_rng(7)
    for _ in range(20):
        ref, cur = rng.integers(0, 50, size=8), rng.integers(0, 50, size=8)
        assert psi(ref, cur) == pytest.approx(kl(ref, cur) + kl_reverse(ref, cur), abs=1e-12)


def test_epsilon_policy_replaces_zero_proportions_by_eps_and_renormalises():
    # [0, .5, .5] -> [1e-4, .5, .5] / 1.0001
    expected = np.array([1e-4, 0.5, 0.5]) / 1.0001
    np.testing.assert_allclose(proportions([0, 50, 50]), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(proportions([0, 50, 50], eps=1e-3), np.array([1e-3, 0.5, 0.5]) / 1.001)


def test_epsilon_policy_leaves_histograms_without_empty_bins_exactly_as_they_are():
    np.testing.assert_array_equal(proportions(REF), np.array(REF) / 100)


def test_laplace_policy_adds_alpha_to_every_count():
    # ([0, 3, 1] + .5) / (4 + 3 * .5) = [.5, 3.5, 1.5] / 5.5
    np.testing.assert_allclose(proportions([0, 3, 1], "laplace"), np.array([0.5, 3.5, 1.5]) / 5.5)
    np.testing.assert_allclose(proportions([0, 3, 1], "laplace", alpha=1), np.array([1, 4, 2]) / 7)


def test_js_with_the_epsilon_policy_differs_negligibly_from_unsmoothed_scipy():
    # An empty reference bin holding 10% of the window: smoothing moves JS by ~1e-3 of 0.23 (0.5%),
    # a hundred times below the gap between its warn and alert thresholds.
    ref, cur = np.array([0, 30, 70]), np.array([10, 30, 60])
    unsmoothed = jensenshannon(ref / ref.sum(), cur / cur.sum(), base=2)
    assert js(ref, cur) == pytest.approx(unsmoothed, rel=0.01)
    assert js(ref, cur) != unsmoothed


def test_proportions_of_an_empty_histogram_are_refused():
    with pytest.raises(ValueError, match="empty histogram"):
        proportions([0, 0, 0])
    with pytest.raises(ValueError, match="non-negative"):
        proportions([1, -1])


def test_histograms_of_different_binnings_are_not_compared():
    with pytest.raises(ValueError, match="differ in bins"):
        psi([1, 2, 3], [1, 2])


def test_get_statistic_on_an_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"drift statistic 'hellinger'; valid: js, kl, kl_reverse, psi$"):
        get_statistic("hellinger")


def test_registered_statistics_compute_what_the_public_functions_compute():
    r, c = proportions(REF), proportions(CUR)
    for name, fn in {"psi": psi, "kl": kl, "kl_reverse": kl_reverse, "js": js}.items():
        assert get_statistic(name).fn(r, c) == pytest.approx(fn(REF, CUR), abs=1e-15)


def test_default_thresholds_of_kl_and_js_are_the_second_order_equivalents_of_psis():
    p = get_statistic("psi")
    assert (p.warn, p.alert) == (0.1, 0.25)
    for name in ("kl", "kl_reverse"):
        assert (STATISTICS[name].warn, STATISTICS[name].alert) == (p.warn / 2, p.alert / 2)
    js_stat = STATISTICS["js"]
    assert js_stat.warn == pytest.approx(math.sqrt(p.warn / (8 * math.log(2))), abs=0.005)
    assert js_stat.alert == pytest.approx(math.sqrt(p.alert / (8 * math.log(2))), abs=0.005)


def _normal_columns(seed: int, n: int, features: int, shifted: int | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(features, n))
    if shifted is not None:
        data[shifted] += 0.5
    return {f"f{j:02d}": data[j] for j in range(features)}


def test_a_half_sigma_shift_in_one_of_twenty_features_is_flagged_for_that_feature_only():
    reference = fit_reference(_normal_columns(seed=1, n=5000, features=20))
    window = _normal_columns(seed=2, n=5000, features=20, shifted=7)
    table = drift_table(reference, window, metrics=("psi", "kl", "kl_reverse", "js"))
    assert len(table) == 80
    for value in table:
        if value.feature == "f07":
            # Theory for 10 decile bins gives PSI 0.238 (KL 0.118, JS 0.205): over warn, near alert.
            assert value.status in ("warn", "alert"), value
            assert value.value > get_statistic(value.metric).warn
        else:
            assert value.status == "ok", value


@pytest.mark.parametrize(
    "draw",
    [lambda rng, n: rng.normal(size=n), lambda rng, n: rng.lognormal(size=n),
     lambda rng, n: rng.integers(0, 5, size=n), lambda rng, n: rng.choice(list("abcdefgh"), size=n)],
    ids=["normal", "lognormal", "integers with ties", "categories"],
)
def test_two_large_samples_of_one_distribution_stay_below_every_warn_threshold(draw):
    rng = np.random.default_rng(3)
    reference = fit_reference({"x": draw(rng, 50_000)})
    for value in drift_table(reference, {"x": draw(rng, 50_000)}, metrics=tuple(STATISTICS)):
        assert value.status == "ok", value
        assert value.value < get_statistic(value.metric).warn / 4


def _reference(seed: int = 0, n: int = 1000) -> FeatureReference:
    values = np.random.default_rng(seed).normal(size=n)
    return fit_reference({"x": values})["x"]


def test_a_window_below_min_count_is_insufficient_data_but_still_has_a_value():
    values = feature_drift(_reference(), [5.0] * 29, min_count=30)
    assert {v.status for v in values} == {"insufficient_data"}
    assert all(v.value > 0 and v.n_current == 29 and v.n_reference == 1000 for v in values)
    assert {v.status for v in feature_drift(_reference(), [5.0] * 30, min_count=30)} == {"alert"}


def test_a_window_with_no_present_value_is_insufficient_data_with_a_nan_value():
    for value in feature_drift(_reference(), [None, float("nan"), "oops"]):
        assert value.status == "insufficient_data" and math.isnan(value.value) and value.n_current == 0


def test_warn_and_alert_from_the_spec_override_every_metrics_defaults():
    reference = _reference()
    window = np.random.default_rng(9).normal(0.15, 1, size=1000)
    default = {v.metric: v for v in feature_drift(reference, window, metrics=("psi", "kl"))}
    assert default["psi"].status == "ok" and default["kl"].status == "ok"
    overridden = feature_drift(reference, window, metrics=("psi", "kl"), warn=0.01, alert=0.5)
    tight = {v.metric: v for v in overridden}
    assert tight["psi"].status == "warn" and tight["kl"].status == "warn"
    assert tight["psi"].value == default["psi"].value
    with pytest.raises(ValueError, match="must not exceed alert"):
        feature_drift(reference, window, warn=0.3, alert=0.2)


def test_every_metric_of_a_feature_comes_from_one_histogram_pair_and_policy():
    reference = _reference()
    window = np.random.default_rng(4).normal(0.2, 1, size=800)
    cur = reference.binning.counts(window)
    for policy in POLICIES:
        drift = feature_drift(reference, window, metrics=tuple(STATISTICS), policy=policy)
        values = {v.metric: v for v in drift}
        assert {v.policy for v in drift} == {policy.value}
        both_kl = values["kl"].value + values["kl_reverse"].value
        assert values["psi"].value == pytest.approx(both_kl, abs=1e-12)
        assert values["js"].value == pytest.approx(js(reference.counts, cur, policy), abs=1e-15)


def test_drift_table_covers_exactly_the_features_present_in_both_in_reference_order():
    reference = fit_reference({"b": [1.0, 2.0, 3.0], "a": ["x", "y"], "only_ref": [1.0]})
    table = drift_table(reference, {"a": ["x"], "b": [2.0], "only_window": [1.0]}, metrics=("psi",))
    assert [(v.feature, v.metric) for v in table] == [("b", "psi"), ("a", "psi")]


def test_drift_table_rejects_an_unknown_metric_even_when_no_feature_is_shared():
    with pytest.raises(ValueError, match="valid: js, kl, kl_reverse, psi"):
        drift_table({}, {}, metrics=("psi", "wasserstein"))


def test_a_fitted_binning_reused_on_its_own_reference_gives_zero_drift():
    values = np.random.default_rng(5).exponential(size=2000)
    binning = fit_numeric("x", values)
    assert psi(binning.counts(values), binning.counts(values)) == 0.0
