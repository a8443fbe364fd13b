"""Multiple-testing correction: hand-computed and scipy values, and how drift results carry it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

from analyzers.binning import fit_reference
from analyzers.correction import Correction, adjust_p_values
from analyzers.drift import DriftValue, correct_p_values, drift_table, feature_drift

P = [0.01, 0.04, 0.03, 0.5]


def test_benjamini_hochberg_of_four_p_values_is_the_hand_computed_step_up():
    # sorted .01 .03 .04 .5 -> .01*4/1 .03*4/2 .04*4/3 .5*4/4 = .04 .06 .0533 .5, then the running minimum
    # from the top makes .06 into .0533.
    expected = [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5]
    np.testing.assert_allclose(adjust_p_values(P, "benjamini-hochberg"), expected, rtol=0, atol=1e-15)


def test_bonferroni_multiplies_by_the_number_of_tests_and_caps_at_one():
    np.testing.assert_allclose(adjust_p_values(P, Correction.BONFERRONI), [0.04, 0.16, 0.12, 1.0], atol=1e-15)


def test_no_correction_leaves_p_values_as_they_are():
    assert adjust_p_values(P, "none").tolist() == P


@settings(derandomize=True, deadline=None, max_examples=200)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=40))
def test_benjamini_hochberg_equals_scipys_false_discovery_control(p_values):
    expected = false_discovery_control(p_values, method="bh")
    np.testing.assert_allclose(adjust_p_values(p_values, "benjamini-hochberg"), expected, rtol=0, atol=1e-12)


def test_an_unknown_correction_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="'holm'; valid: benjamini-hochberg, bonferroni, none"):
        adjust_p_values(P, "holm")
    with pytest.raises(ValueError, match="valid: benjamini-hochberg"):
        drift_table({}, {}, correction="holm")


def test_p_values_outside_zero_one_are_refused():
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        adjust_p_values([0.5, 1.5], "bonferroni")


def _test_value(feature: str, p: float, metric: str = "ks") -> DriftValue:
    return DriftValue(feature, metric, 0.1, 100, 100, "warn" if p <= 0.05 else "ok", "epsilon", p, p, "none",
                      0.05, 0.01)


def test_correction_rejudges_a_test_whose_p_value_no_longer_survives_across_twenty_features():
    values = [_test_value("f00", 1e-6), _test_value("f01", 0.03)] + [_test_value(f"f{i:02d}", 0.6)
                                                                      for i in range(2, 20)]
    corrected = {v.feature: v for v in correct_p_values(values)}
    assert (values[1].status, corrected["f01"].status) == ("warn", "ok")  # .03 * 20 / 2 = .3
    assert corrected["f00"].status == "alert" and corrected["f00"].p_adjusted == pytest.approx(2e-5)
    assert {v.correction for v in corrected.values()} == {"benjamini-hochberg"}
    assert corrected["f01"].p_value == 0.03  # the raw p-value stays beside the adjusted one


def test_each_metric_is_its_own_family_and_divergences_and_insufficient_windows_pass_through():
    divergence = DriftValue("f00", "psi", 0.3, 100, 100, "alert", "epsilon", warn=0.1, alert=0.25)
    thin = DriftValue("f02", "ks", 0.9, 100, 3, "insufficient_data", "epsilon", 0.001, None, "none")
    tests = [_test_value("f00", 0.02), _test_value("f01", 0.02), _test_value("f00", 0.02, "chi2")]
    values = [*tests, divergence, thin]
    corrected = correct_p_values(values, "bonferroni")
    assert [v.p_adjusted for v in corrected[:3]] == pytest.approx([0.04, 0.04, 0.02])  # 2 ks tests, 1 chi2
    assert corrected[3] == divergence and corrected[4] == thin


def _columns(seed: int, n: int, features: int, shifted: int | None = None) -> dict[str, np.ndarray]:
    data = np.random.default_rng(seed).normal(size=(features, n))
    if shifted is not None:
        data[shifted] += 0.5
    return {f"f{j:02d}": data[j] for j in range(features)}


def test_drift_table_corrects_the_tests_with_benjamini_hochberg_unless_told_otherwise():
    reference = fit_reference(_columns(1, 2000, 5))
    window = _columns(2, 2000, 5, shifted=3)
    for method in ("benjamini-hochberg", "bonferroni", "none"):
        kw = {} if method == "benjamini-hochberg" else {"correction": method}
        table = drift_table(reference, window, metrics=("psi", "ks", "chi2"), **kw)
        tests = [v for v in table if v.metric != "psi"]
        assert {v.correction for v in tests} == {method}
        raw = {v.metric: [] for v in tests}
        for v in tests:
            raw[v.metric].append(v.p_value)
        for v in tests:
            adjusted = adjust_p_values(raw[v.metric], method)[int(v.feature[1:])]
            assert v.p_adjusted == pytest.approx(adjusted, abs=1e-15)
        assert all(v.p_value is None and v.correction is None for v in table if v.metric == "psi")


def test_one_feature_alone_is_judged_on_its_uncorrected_p_value_and_says_so():
    reference = fit_reference(_columns(1, 1000, 1))["f00"]
    value = feature_drift(reference, _columns(2, 1000, 1)["f00"], metrics=("ks",))[0]
    assert value.correction == "none" and value.p_adjusted == value.p_value


def _flagged_windows(correction: str, windows: int = 120, features: int = 20, n: int = 200) -> float:
    share = 0
    for seed in range(windows):
        reference = fit_reference(_columns(2 * seed, n, features))
        window = _columns(2 * seed + 1, n, features)
        table = drift_table(reference, window, metrics=("ks",), correction=correction)
        share += any(v.status != "ok" for v in table)
    return share / windows


def test_undrifted_windows_of_twenty_features_flag_something_often_uncorrected_and_rarely_corrected():
    # 20 independent tests at 5%: P(any false flag) = 1 - .95^20 = 64% uncorrected (a little less here: KS
    # on 200 values is discrete, so conservative); about 5% under BH, which controls the family-wise rate
    # when nothing drifted. 120 windows: binomial sd ~ 4.5% and 2%.
    assert _flagged_windows("none") > 0.35
    assert _flagged_windows("benjamini-hochberg") < 0.11
    assert _flagged_windows("bonferroni") < 0.11
