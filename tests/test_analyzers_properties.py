"""Properties of the binning and the drift statistics over generated data (hypothesis, derandomised)."""

import bisect
import json
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from analyzers.binning import (
    FeatureBinning,
    FeatureReference,
    fit_categorical,
    fit_numeric,
    fit_reference,
    inverted_cdf_quantiles,
)
from analyzers.categories import canonical_category
from analyzers.drift import (
    STATISTICS,
    EmptyBinPolicy,
    drift_table,
    feature_drift,
    js,
    kl,
    kl_reverse,
    proportions,
    psi,
)

PROPERTY = settings(derandomize=True, deadline=None, max_examples=150)

policies = st.sampled_from(EmptyBinPolicy)
finite_or_infinite = st.floats(allow_nan=False, allow_subnormal=True)
finite = st.floats(allow_nan=False, allow_infinity=False)
numbers_or_gaps = st.one_of(st.floats(allow_subnormal=True), st.none(), st.integers(-10**6, 10**6))
histograms = st.integers(1, 12).flatmap(
    lambda k: st.tuples(*(st.lists(st.integers(0, 1000), min_size=k, max_size=k) for _ in range(2)))
).filter(lambda pair: sum(pair[0]) > 0 and sum(pair[1]) > 0)


def _strict_json(d: dict) -> dict:
    return json.loads(json.dumps(d, allow_nan=False))


@PROPERTY
@given(st.lists(finite_or_infinite, min_size=1, max_size=300), st.integers(1, 20), policies)
def test_identical_numeric_samples_give_zero_for_every_metric_at_every_size(values, n_bins, policy):
    reference = fit_reference({"x": values}, n_bins=n_bins)["x"]
    for value in feature_drift(reference, values, metrics=tuple(STATISTICS), policy=policy):
        if value.metric in ("ks", "wasserstein") and not any(map(math.isfinite, values)):
            # they compare finite values only: none on either side is nothing to compare
            assert math.isnan(value.value) and value.status == "insufficient_data"
        else:
            assert abs(value.value) <= 1e-12, value


@PROPERTY
@given(st.lists(st.one_of(st.text(max_size=3), st.none()), min_size=1, max_size=200).filter(
    lambda vs: any(canonical_category(v) is not None for v in vs)), policies)  # "" and " " are missing too
def test_identical_categorical_samples_give_zero_for_every_metric_at_every_size(values, policy):
    reference = fit_reference({"c": values}, kinds={"c": "categorical"})["c"]
    for value in feature_drift(reference, values, metrics=tuple(STATISTICS), policy=policy):
        assert abs(value.value) <= 1e-12, value


@PROPERTY
@given(st.lists(finite_or_infinite, min_size=1, max_size=200), st.lists(numbers_or_gaps, max_size=200),
       st.integers(1, 15))
def test_numeric_counts_put_every_present_value_in_the_half_open_bin_that_holds_it(reference, window, n_bins):
    binning = fit_numeric("x", reference, n_bins)
    expected = [0] * binning.n_bins()
    missing = 0
    for v in window:
        if v is None or math.isnan(v):
            missing += 1
        else:
            expected[bisect.bisect_left(binning.edges, float(v))] += 1
    assert binning.counts(window).tolist() == expected
    assert binning.missing(window) == missing
    assert sum(expected) + missing == len(window)


@PROPERTY
@given(st.lists(finite, min_size=1, max_size=300), st.integers(2, 15))
def test_fitted_edges_are_observed_values_and_leave_no_bin_empty_but_the_last(values, n_bins):
    binning = fit_numeric("x", values, n_bins)
    assert set(binning.edges) <= set(values)
    assert len(binning.edges) <= n_bins - 1
    assert all(c > 0 for c in binning.counts(values)[:-1])


@PROPERTY
@given(histograms, policies)
def test_psi_equals_kl_plus_reverse_kl_and_both_equal_scipy_on_the_smoothed_proportions(pair, policy):
    ref, cur = pair
    r, c = proportions(ref, policy), proportions(cur, policy)
    assert abs(kl(ref, cur, policy) - entropy(c, r)) <= 1e-9
    assert abs(kl_reverse(ref, cur, policy) - entropy(r, c)) <= 1e-9
    assert abs(psi(ref, cur, policy) - (kl(ref, cur, policy) + kl_reverse(ref, cur, policy))) <= 1e-9
    assert psi(ref, cur, policy) >= 0


@PROPERTY
@given(histograms, policies)
def test_js_is_scipys_base_2_distance_on_the_smoothed_proportions_and_lies_in_0_1(pair, policy):
    ref, cur = pair
    value = js(ref, cur, policy)
    assert abs(value - jensenshannon(proportions(ref, policy), proportions(cur, policy), base=2)) <= 1e-9
    assert 0 <= value <= 1


@PROPERTY
@given(histograms.filter(lambda pair: min(pair[0]) > 0 and min(pair[1]) > 0))
def test_on_strictly_positive_histograms_every_metric_equals_unsmoothed_scipy(pair):
    ref, cur = (np.array(h, dtype=float) for h in pair)
    r, c = ref / ref.sum(), cur / cur.sum()
    assert abs(kl(ref, cur) - entropy(c, r)) <= 1e-9
    assert abs(kl_reverse(ref, cur) - entropy(r, c)) <= 1e-9
    assert abs(psi(ref, cur) - (entropy(c, r) + entropy(r, c))) <= 1e-9
    assert abs(js(ref, cur) - jensenshannon(r, c, base=2)) <= 1e-9


@PROPERTY
@given(st.lists(numbers_or_gaps, max_size=100), st.integers(1, 12))
def test_any_fitted_numeric_binning_and_reference_round_trip_through_strict_json(values, n_bins):
    binning = fit_numeric("x", values, n_bins)
    assert FeatureBinning.from_dict(_strict_json(binning.to_dict())) == binning
    reference = fit_reference({"x": values}, kinds={"x": "numeric"}, n_bins=n_bins)["x"]
    assert FeatureReference.from_dict(_strict_json(reference.to_dict())) == reference


@PROPERTY
@given(st.lists(st.one_of(st.text(max_size=4), st.integers(), st.none()), max_size=100), st.integers(0, 10))
def test_any_fitted_categorical_binning_and_reference_round_trip_through_json(values, max_categories):
    binning = fit_categorical("c", values, max_categories=max_categories)
    assert FeatureBinning.from_dict(_strict_json(binning.to_dict())) == binning
    assert binning.counts(values).sum() + binning.missing(values) == len(values)
    reference = fit_reference({"c": values}, kinds={"c": "categorical"})["c"]
    assert FeatureReference.from_dict(_strict_json(reference.to_dict())) == reference


ALL_METRICS = tuple(STATISTICS)


def _no_drift(value):
    """The verdict on a window equal to its reference: "ok" where the window could have seen an alert-sized
    drift (tests always), "insufficient_data" where it is too small to (its MDE above the alert level)."""
    too_small = not STATISTICS[value.metric].test and value.mde is not None and value.mde > value.alert
    return "insufficient_data" if too_small else "ok"
moderate = st.floats(-1e6, 1e6, allow_nan=False)


@PROPERTY
@given(st.lists(moderate, min_size=1, max_size=400), st.integers(1, 20))
def test_identical_numeric_windows_never_drift_by_any_statistic_value_zero_and_p_value_one(values, n_bins):
    reference = fit_reference({"x": values}, n_bins=n_bins)
    for value in drift_table(reference, {"x": values}, metrics=ALL_METRICS, min_count=1):
        assert value.status == _no_drift(value), value
        assert abs(value.value) <= 1e-12, value
        assert value.p_value is None or value.p_value >= 1 - 1e-12, value


@PROPERTY
@given(st.lists(st.one_of(st.sampled_from("abcdefg"), st.text(max_size=3), st.integers(-3, 3), st.none()),
                min_size=1, max_size=300).filter(lambda vs: any(canonical_category(v) is not None for v in vs)))
def test_identical_categorical_windows_never_drift_by_any_statistic_that_applies(values):
    reference = fit_reference({"c": values}, kinds={"c": "categorical"})
    table = drift_table(reference, {"c": values}, metrics=ALL_METRICS, min_count=1)
    assert {v.metric for v in table} == set(ALL_METRICS) - {"ks", "wasserstein"}  # no order, no distance
    for value in table:
        assert value.status == _no_drift(value) and abs(value.value) <= 1e-12, value
        assert value.p_value is None or value.p_value >= 1 - 1e-12, value


# A test flags an undrifted feature with the probability of its level: at the default 5% a run of examples
# would fail now and then by design (the calibration test in test_analyzers_correction checks that rate).
# Here the tests run at 0.1%, after correction, so that the property's verdict does not hinge on luck.
STRICT_TESTS = {"ks": (1e-3, 1e-4), "chi2": (1e-3, 1e-4)}


@settings(derandomize=True, deadline=None, max_examples=20)
@given(st.integers(0, 2**32 - 1), st.integers(1000, 4000), st.integers(0, 19))
def test_a_half_sigma_shift_in_one_of_twenty_features_flags_that_feature_alone_by_every_statistic(
    seed, n, shifted
):
    rng = np.random.default_rng(seed)
    location, scale = rng.uniform(-100, 100, size=(20, 1)), rng.uniform(0.01, 100, size=(20, 1))
    reference_data = location + scale * rng.normal(size=(20, n))
    window_data = location + scale * rng.normal(size=(20, n))
    window_data[shifted] += 0.5 * scale[shifted]
    reference = fit_reference({f"f{j:02d}": reference_data[j] for j in range(20)})
    window = {f"f{j:02d}": window_data[j] for j in range(20)}
    table = drift_table(reference, window, metrics=ALL_METRICS, thresholds=STRICT_TESTS)
    assert len(table) == 20 * len(ALL_METRICS)
    for value in table:
        if value.feature == f"f{shifted:02d}":
            assert value.status in ("warn", "alert"), value
        else:
            assert value.status == "ok", value


@PROPERTY
@given(st.lists(finite_or_infinite, min_size=1, max_size=100), st.lists(numbers_or_gaps, max_size=200),
       st.integers(1, 15))
def test_the_histogram_counted_from_the_sorted_sample_is_the_histogram(reference, window, n_bins):
    binning = fit_numeric("x", reference, n_bins)
    hist, sample = binning.histogram_and_sample(window)
    assert hist == binning.histogram(window)
    finite = sorted(float(v) for v in window if v is not None and math.isfinite(v))
    assert sample.tolist() == finite


@PROPERTY
@given(st.lists(finite_or_infinite, min_size=1, max_size=300), st.integers(2, 100))
def test_quantile_edges_are_numpys_inverted_cdf_quantiles(values, n_bins):
    probs = np.arange(1, n_bins) / n_bins
    ordered = np.sort(np.array(values))
    expected = np.quantile(np.array(values), probs, method="inverted_cdf")
    assert inverted_cdf_quantiles(ordered, probs).tolist() == expected.tolist()
