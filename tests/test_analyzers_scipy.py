"""The drift suite against scipy where scipy has the statistic, and hand-computed values where it does not."""

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, entropy, ks_2samp, wasserstein_distance

from analyzers.binning import SAMPLE_SIZE, fit_reference
from analyzers.drift import feature_drift, hellinger, jeffreys, js, kl, kl_reverse, proportions, psi
from analyzers.twosample import chi2, ks, wasserstein

# The worked example of test_analyzers_drift: r = [.1, .2, .3, .4], c = [.2, .2, .2, .4], no empty bin.
REF = [10, 20, 30, 40]
CUR = [20, 20, 20, 40]


def _by_metric(values):
    return {v.metric: v for v in values}


def test_jeffreys_of_the_worked_example_is_the_hand_computed_sum_of_both_kl_directions():
    # KL(c||r) = .2 ln(4/3); KL(r||c) = .3 ln 1.5 - .1 ln 2; their sum is .1 ln 3, which is also PSI.
    by_hand = 0.2 * math.log(4 / 3) + 0.3 * math.log(1.5) - 0.1 * math.log(2)
    assert by_hand == pytest.approx(0.1 * math.log(3), abs=1e-15)
    assert jeffreys(REF, CUR) == pytest.approx(by_hand, abs=1e-12)
    assert jeffreys(REF, CUR) == pytest.approx(psi(REF, CUR), abs=1e-12)


def test_hellinger_of_the_worked_example_is_the_hand_computed_distance():
    # H^2 = 1 - sum(sqrt(r * c)) = 1 - (sqrt(.02) + .2 + sqrt(.06) + .4) = 0.0136297; H = 0.1167462
    squared = 1 - (math.sqrt(0.02) + 0.2 + math.sqrt(0.06) + 0.4)
    assert hellinger(REF, CUR) == pytest.approx(math.sqrt(squared), abs=1e-12)
    assert hellinger(REF, CUR) == pytest.approx(0.1167462, abs=1e-7)


def test_hellinger_is_symmetric_zero_on_equal_histograms_and_near_one_on_disjoint_ones():
    assert hellinger(REF, CUR) == pytest.approx(hellinger(CUR, REF), abs=1e-15)
    assert hellinger(REF, REF) == 0.0
    # Disjoint supports: the epsilon policy leaves 1e-4 in each empty bin, so H falls just short of 1.
    assert 0.98 < hellinger([10, 0], [0, 10]) < 1


@pytest.mark.parametrize("ref,cur", [([0, 5, 40, 55, 0], [3, 0, 47, 30, 20]), (REF, CUR)],
                         ids=["with empty bins", "worked example"])
def test_every_divergence_equals_scipy_entropy_or_jensenshannon_on_the_same_proportions(ref, cur):
    r, c = proportions(ref), proportions(cur)
    assert kl(ref, cur) == pytest.approx(entropy(c, r), abs=1e-9)
    assert kl_reverse(ref, cur) == pytest.approx(entropy(r, c), abs=1e-9)
    assert jeffreys(ref, cur) == pytest.approx(entropy(c, r) + entropy(r, c), abs=1e-9)
    assert js(ref, cur) == pytest.approx(jensenshannon(r, c, base=2), abs=1e-9)


@pytest.mark.parametrize(("n_ref", "n_cur"), [(300, 200), (2000, 2000), (8000, 50_000)],
                         ids=["small exact", "equal sizes", "large window asymptotic"])
def test_ks_equals_scipys_ks_2samp_statistic_and_p_value_on_the_same_samples(n_ref, n_cur):
    rng = np.random.default_rng(11)
    reference_values, window = rng.normal(size=n_ref), rng.normal(0.05, 1, size=n_cur)
    reference = fit_reference({"x": reference_values})["x"]
    value = _by_metric(feature_drift(reference, window, metrics=("ks",)))["ks"]
    expected = ks_2samp(reference_values, window)
    assert value.value == pytest.approx(expected.statistic, abs=1e-9)
    assert value.p_value == pytest.approx(expected.pvalue, abs=1e-9)
    assert (value.n_reference, value.n_current) == (n_ref, n_cur)


def test_ks_reads_only_the_finite_numbers_of_a_window_as_scipy_would_be_given_them():
    reference_values = np.random.default_rng(12).normal(size=500)
    reference = fit_reference({"x": reference_values})["x"]
    window = [0.1, None, "oops", float("nan"), 2.5, float("inf"), -1.0, "3.5", *np.linspace(-2, 2, 40)]
    finite = np.array([0.1, 2.5, -1.0, 3.5, *np.linspace(-2, 2, 40)])
    value = _by_metric(feature_drift(reference, window, metrics=("ks",)))["ks"]
    expected = ks_2samp(reference_values, finite)
    assert (value.value, value.p_value) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-12)
    assert value.n_current == 44


def test_ks_against_a_reference_larger_than_its_sample_compares_the_stored_sample():
    reference_values = np.random.default_rng(13).normal(size=3 * SAMPLE_SIZE)
    reference = fit_reference({"x": reference_values})["x"]
    window = np.random.default_rng(14).normal(size=5000)
    value = _by_metric(feature_drift(reference, window, metrics=("ks",)))["ks"]
    expected = ks_2samp(np.array(reference.sample), window)
    assert value.n_reference == SAMPLE_SIZE
    assert (value.value, value.p_value) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-12)


@pytest.mark.parametrize(
    ("u", "v"),
    [(np.random.default_rng(1).normal(size=700), np.random.default_rng(2).normal(0.3, 2, size=333)),
     ([0.0, 1.0, 3.0], [5.0, 6.0, 8.0]),
     ([1.0, 1.0, 2.0, 2.0, 2.0], [2.0, 3.0]),
     (np.random.default_rng(3).integers(0, 5, size=1000).astype(float), [0.0, 4.0])],
    ids=["normal samples of different sizes", "disjoint", "ties", "integers"],
)
def test_wasserstein_before_normalisation_equals_scipys_wasserstein_distance(u, v):
    assert wasserstein(np.asarray(u), np.asarray(v)) == pytest.approx(wasserstein_distance(u, v), abs=1e-9)


def test_normalised_wasserstein_is_scipys_distance_over_the_reference_standard_deviation():
    reference_values = np.random.default_rng(21).normal(10, 3, size=4000)
    window = np.random.default_rng(22).normal(11.5, 3, size=3000)
    reference = fit_reference({"x": reference_values})["x"]
    value = _by_metric(feature_drift(reference, window, metrics=("wasserstein",)))["wasserstein"]
    expected = wasserstein_distance(reference_values, window) / np.std(reference_values, ddof=1)
    assert value.value == pytest.approx(expected, abs=1e-9)
    assert value.value == pytest.approx(0.5, abs=0.05)  # a shift of half a standard deviation
    assert value.p_value is None and value.status == "alert"


def test_wasserstein_of_identical_samples_near_the_float_limit_is_zero_not_nan():
    x = np.array([-1.7e308, 0.0, 1.7e308])
    assert wasserstein(x, x) == 0.0


@pytest.mark.parametrize(
    "table",
    [[[30, 40, 50, 10], [20, 55, 35, 30]], [[5, 95, 300], [1, 80, 400]], [[1000, 10], [950, 60]]],
    ids=["2 x 4", "2 x 3 with a small cell", "2 x 2"],
)
def test_chi2_equals_chi2_contingency_without_yates_correction(table):
    expected = chi2_contingency(np.array(table), correction=False)
    value = chi2(np.array(table[0]), np.array(table[1]))
    assert value.value == pytest.approx(expected.statistic, abs=1e-9)
    assert value.p_value == pytest.approx(expected.pvalue, abs=1e-9)


def test_chi2_on_a_2x2_table_differs_from_scipys_default_which_applies_yates_correction():
    table = np.array([[1000, 10], [950, 60]])
    ours = chi2(table[0], table[1])
    yates = chi2_contingency(table)  # correction=True by default: it only acts when dof == 1
    assert yates.statistic < ours.value - 0.5 and yates.pvalue > ours.p_value  # Yates shrinks |o - e| by 1/2
    assert ours.value == pytest.approx(chi2_contingency(table, correction=False).statistic, abs=1e-9)


def test_chi2_drops_bins_empty_on_both_sides_which_scipy_would_refuse():
    value = chi2(np.array([30, 0, 50, 10]), np.array([20, 0, 35, 30]))
    expected = chi2_contingency(np.array([[30, 50, 10], [20, 35, 30]]), correction=False)
    assert (value.value, value.p_value) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-9)
    assert chi2(np.array([5, 0]), np.array([9, 0])) == (0.0, 1.0)


def test_chi2_of_a_categorical_feature_is_chi2_contingency_of_reference_and_window_counts():
    rng = np.random.default_rng(5)
    reference = fit_reference({"c": rng.choice(list("abcde"), p=[0.4, 0.3, 0.2, 0.05, 0.05], size=5000)})["c"]
    window = [*rng.choice(list("abcde"), p=[0.3, 0.3, 0.3, 0.05, 0.05], size=800), "unseen", None]
    value = _by_metric(feature_drift(reference, window, metrics=("chi2",)))["chi2"]
    table = np.array([reference.counts, reference.binning.counts(window)])
    table = table[:, table.sum(axis=0) > 0]
    expected = chi2_contingency(table, correction=False)
    assert (value.value, value.p_value) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-9)
    assert (value.n_reference, value.n_current) == (5000, 801)
    assert value.status == "alert"


@pytest.mark.parametrize(
    ("u", "v"),
    [(np.random.default_rng(8).normal(size=400), np.random.default_rng(9).normal(size=250)),
     (np.random.default_rng(8).normal(size=12_000), np.random.default_rng(9).normal(0.02, 1, size=30_000)),
     (np.random.default_rng(8).integers(0, 7, size=20_000),
      np.random.default_rng(9).integers(0, 8, size=15_000))],
    ids=["small: exact p-value", "large: asymptotic p-value", "large with ties"],
)
def test_ks_and_wasserstein_equal_scipy_when_called_directly_in_both_p_value_regimes(u, v):
    ours, theirs = ks(u, v), ks_2samp(u, v)
    assert (ours.value, ours.p_value) == pytest.approx((theirs.statistic, theirs.pvalue), abs=1e-12)
    assert wasserstein(u, v) == pytest.approx(wasserstein_distance(u, v), abs=1e-9)
