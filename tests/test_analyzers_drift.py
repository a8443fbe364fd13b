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
    hellinger,
    histogram_drift,
    jeffreys,
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


ALL_NAMES = "chi2, hellinger, jeffreys, js, kl, kl_reverse, ks, psi, wasserstein"


def test_get_statistic_on_an_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match=rf"drift statistic 'energy'; valid: {ALL_NAMES}$"):
        get_statistic("energy")


def test_registered_statistics_compute_what_the_public_functions_compute():
    r, c = proportions(REF), proportions(CUR)
    functions = {"psi": psi, "kl": kl, "kl_reverse": kl_reverse, "js": js, "jeffreys": jeffreys,
                 "hellinger": hellinger}
    for name, fn in functions.items():
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
    # A test at level 5% flags 5% of undrifted windows by design (see the calibration tests), so only the
    # divergences are held to "below warn" on one example.
    divergences = tuple(name for name, stat in STATISTICS.items() if not stat.test)
    for value in drift_table(reference, {"x": draw(rng, 50_000)}, metrics=divergences):
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
    with pytest.raises(ValueError, match=f"valid: {ALL_NAMES}"):
        drift_table({}, {}, metrics=("psi", "energy"))


def test_a_fitted_binning_reused_on_its_own_reference_gives_zero_drift():
    values = np.random.default_rng(5).exponential(size=2000)
    binning = fit_numeric("x", values)
    assert psi(binning.counts(values), binning.counts(values)) == 0.0


def test_ks_and_wasserstein_are_left_out_for_a_categorical_feature_and_chi2_is_computed():
    reference = fit_reference({"c": list("aabbbc") * 20})["c"]
    drift = feature_drift(reference, list("abcc") * 20, metrics=("psi", "ks", "wasserstein", "chi2"))
    assert [v.metric for v in drift] == ["psi", "chi2"]


def test_a_binned_window_cannot_give_ks_without_its_raw_values_and_the_error_says_what_to_call():
    reference = _reference()
    hist = reference.binning.histogram([0.1, 0.2])
    with pytest.raises(ValueError, match="ks, wasserstein need the window's raw values: call feature_drift"):
        histogram_drift(reference, hist, metrics=("psi", "ks", "wasserstein"))
    hist, sample = reference.binning.histogram_and_sample([0.1, 0.2, None])
    values = histogram_drift(reference, hist, metrics=("ks",), sample=sample, min_count=1)
    assert values[0].n_current == 2 and values[0].p_value is not None


def test_a_reference_stored_without_a_sample_gives_insufficient_data_for_ks_and_wasserstein_only():
    stored = _reference().to_dict()
    del stored["sample"]
    old = FeatureReference.from_dict(stored)
    window = np.random.default_rng(6).normal(2, 1, size=500)
    values = {v.metric: v for v in feature_drift(old, window, metrics=("psi", "ks", "wasserstein"))}
    assert values["psi"].status == "alert"
    for metric in ("ks", "wasserstein"):
        value = values[metric]
        assert value.status == "insufficient_data" and value.n_reference == 0, value
        assert math.isnan(value.value)


def test_every_result_carries_its_sample_sizes_thresholds_and_for_tests_its_p_values():
    drift = {v.metric: v for v in feature_drift(_reference(), np.zeros(40), metrics=tuple(STATISTICS))}
    for name, value in drift.items():
        stat = get_statistic(name)
        assert (value.warn, value.alert) == (stat.warn, stat.alert)
        assert (value.n_reference, value.n_current) == (1000, 40)
        if stat.test:
            assert value.p_value is not None and value.p_adjusted == value.p_value
            assert value.correction == "none"
        else:
            assert value.p_value is None and value.p_adjusted is None and value.correction is None


def test_thresholds_per_metric_override_the_defaults_of_that_metric_only():
    reference = _reference()
    window = np.random.default_rng(9).normal(0.15, 1, size=1000)
    drift = {v.metric: v for v in feature_drift(reference, window, metrics=("psi", "ks"),
                                                 thresholds={"psi": (0.01, 0.02), "ks": (0.5, 0.4)})}
    assert (drift["psi"].warn, drift["psi"].alert, drift["psi"].status) == (0.01, 0.02, "alert")
    assert (drift["ks"].warn, drift["ks"].alert) == (0.5, 0.4)


def test_p_value_levels_must_put_alert_at_or_below_warn():
    with pytest.raises(ValueError, match=r"ks: p-value levels need 0 < alert <= warn <= 1"):
        feature_drift(_reference(), [0.0] * 50, metrics=("ks",), warn=0.01, alert=0.05)


def test_a_constant_reference_gives_wasserstein_zero_when_unchanged_and_insufficient_data_when_moved():
    reference = fit_reference({"x": [2.0] * 100})["x"]
    same = feature_drift(reference, [2.0] * 100, metrics=("wasserstein",))[0]
    moved = feature_drift(reference, [3.0] * 100, metrics=("wasserstein",))[0]
    assert (same.value, same.status) == (0.0, "ok")
    assert math.isnan(moved.value) and moved.status == "insufficient_data"  # no spread to measure it in


def test_prediction_drift_is_drift_of_a_numeric_column_of_scores_and_of_categorical_labels():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(10)
    x_train = rng.normal(size=(4000, 3))
    model = LogisticRegression().fit(x_train, (x_train.sum(axis=1) + rng.normal(size=4000) > 0).astype(int))
    x_live = rng.normal(size=(3000, 3))
    x_live[:, 0] += 1.0  # covariate shift moves the scores up
    scores = {"reference": model.predict_proba(x_train)[:, 1], "live": model.predict_proba(x_live)[:, 1]}
    labels = {"reference": model.predict(x_train), "live": model.predict(x_live)}
    reference = fit_reference({"score": scores["reference"], "label": labels["reference"]},
                              kinds={"label": "categorical"})
    unshifted = drift_table(reference, {"score": model.predict_proba(rng.normal(size=(3000, 3)))[:, 1]},
                            metrics=("psi", "ks", "wasserstein"))
    assert {v.status for v in unshifted} == {"ok"}
    shifted = drift_table(reference, {"score": scores["live"], "label": labels["live"]},
                          metrics=("psi", "ks", "wasserstein", "chi2"))
    assert [(v.feature, v.metric) for v in shifted] == [
        ("score", "psi"), ("score", "ks"), ("score", "wasserstein"), ("score", "chi2"), ("label", "psi"),
        ("label", "chi2")]
    statuses = {(v.feature, v.metric): v.status for v in shifted}
    assert statuses.pop(("label", "psi")) == "warn"  # the positive share moved by about a quarter
    assert set(statuses.values()) == {"alert"}


def test_new_default_thresholds_are_psis_rule_of_thumb_in_each_statistics_units():
    p = get_statistic("psi")
    assert (STATISTICS["jeffreys"].warn, STATISTICS["jeffreys"].alert) == (p.warn, p.alert)
    hellinger_stat = STATISTICS["hellinger"]
    assert hellinger_stat.warn == pytest.approx(math.sqrt(p.warn / 8), abs=0.005)
    assert hellinger_stat.alert == pytest.approx(math.sqrt(p.alert / 8), abs=0.005)
    # The second-order link holds on a real shift: half a sigma gives PSI ~ .24 over deciles.
    reference = fit_reference(_normal_columns(seed=1, n=200_000, features=1))["f00"]
    window = _normal_columns(seed=2, n=200_000, features=1, shifted=0)["f00"]
    drift = feature_drift(reference, window, metrics=("psi", "hellinger", "wasserstein"))
    values = {v.metric: v.value for v in drift}
    assert values["hellinger"] == pytest.approx(math.sqrt(values["psi"] / 8), rel=0.05)
    assert values["wasserstein"] == pytest.approx(0.5, abs=0.02)  # normalised W of a d-sigma shift is d
    assert (STATISTICS["wasserstein"].warn, STATISTICS["wasserstein"].alert) == (0.3, 0.5)
    for name in ("ks", "chi2"):
        assert STATISTICS[name].test and (STATISTICS[name].warn, STATISTICS[name].alert) == (0.05, 0.01)
