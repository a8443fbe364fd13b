"""Reference binning: quantile edges, open-ended bins, categories, bad input, and storage round-trips."""

import json

import numpy as np
import pytest

from analyzers.binning import (
    SAMPLE_SIZE,
    FeatureBinning,
    FeatureReference,
    Histogram,
    fit_categorical,
    fit_feature,
    fit_numeric,
    fit_reference,
)


def test_quantile_edges_of_one_to_a_hundred_are_the_deciles_and_each_bin_holds_ten():
    values = np.arange(1, 101, dtype=float)
    binning = fit_numeric("x", values)
    assert binning.edges == (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0)
    assert binning.counts(values).tolist() == [10] * 10


def test_heavy_ties_collapse_the_quantile_edges_into_one():
    values = [0.0] * 90 + [float(v) for v in range(1, 11)]
    binning = fit_numeric("x", values)
    assert binning.edges == (0.0,)
    assert binning.n_bins() == 2
    assert binning.counts(values).tolist() == [90, 10]


def test_ties_in_the_middle_merge_only_the_bins_they_cover():
    values = [1.0] * 10 + [2.0] * 50 + [3.0] * 40
    binning = fit_numeric("x", values, n_bins=10)
    assert binning.edges == (1.0, 2.0, 3.0)
    assert binning.counts(values).tolist() == [10, 50, 40, 0]


def test_a_constant_reference_keeps_one_edge_so_larger_values_still_show():
    binning = fit_numeric("x", [3.0] * 50)
    assert binning.edges == (3.0,)
    assert binning.counts([3.0, 2.0, 4.0, 4.5]).tolist() == [2, 2]


def test_open_ended_bins_catch_values_outside_the_reference_range():
    binning = fit_numeric("x", np.linspace(0, 1, 101))
    counts = binning.counts([-100.0, -np.inf, 1e300, np.inf, 0.5])
    assert counts[0] == 2 and counts[-1] == 2 and counts.sum() == 5


def test_a_value_on_an_edge_falls_in_the_bin_that_the_edge_closes():
    binning = FeatureBinning("x", "numeric", edges=(1.0, 2.0))
    assert binning.counts([1.0, 2.0, 1.5, 2.0000001, 0.9999999]).tolist() == [2, 2, 1]
    assert binning.labels() == ("(-inf, 1]", "(1, 2]", "(2, inf)")


def test_counts_sum_to_the_present_values_and_missing_ones_are_counted_apart():
    binning = fit_numeric("x", np.arange(100.0))
    values = [1.0, None, float("nan"), 50.0, np.nan, 99.0, 200.0]
    assert binning.counts(values).sum() == 4
    assert binning.missing(values) == 3
    assert binning.counts(values).dtype == np.int64


def test_strings_and_none_in_a_numeric_window_do_not_crash_and_count_as_missing_and_invalid():
    binning = FeatureBinning("x", "numeric", edges=(0.0, 10.0))
    values = ["5", "abc", None, 2.0, {"a": 1}, float("nan"), [1, 2], 20]
    hist = binning.histogram(values)
    assert hist.counts == (0, 2, 1)
    assert (hist.missing, hist.invalid) == (5, 3)
    assert binning.invalid(values) == 3
    assert binning.counts(np.array(["1", "x"], dtype=object)).tolist() == [0, 1, 0]
    assert binning.histogram(np.array(["a", "b"])) == Histogram((0, 0, 0), 2, 2)


def test_a_numeric_reference_with_bad_values_is_fitted_on_the_numbers_only():
    reference = fit_reference({"x": [1.0, "bad", None, 2.0, 3.0, 4.0]}, kinds={"x": "numeric"})["x"]
    assert (reference.n, reference.missing) == (4, 2)
    assert (reference.mean, reference.min, reference.max) == (2.5, 1.0, 4.0)
    assert reference.std == pytest.approx(np.std([1, 2, 3, 4], ddof=1))


def test_categorical_binning_keeps_the_most_frequent_in_count_then_name_order():
    values = ["b"] * 3 + ["a"] * 3 + ["c"] * 5 + ["d"]
    binning = fit_categorical("region", values)
    assert binning.categories == ("c", "a", "b", "d")
    assert binning.labels() == ("c", "a", "b", "d", "other")
    assert fit_categorical("region", values, max_categories=2).categories == ("c", "a")
    assert fit_categorical("region", values, min_count=2).categories == ("c", "a", "b")


def test_categories_beyond_the_kept_ones_and_unseen_ones_land_in_other():
    binning = fit_categorical("region", ["EU"] * 5 + ["US"] * 3 + ["APAC"], max_categories=2)
    assert binning.counts(["EU", "APAC", "LATAM", "US", "EU"]).tolist() == [2, 1, 2]


def test_categories_are_compared_as_strings_and_none_or_nan_are_missing():
    binning = fit_categorical("tier", [1, 2, "2", None, float("nan")])
    assert binning.categories == ("2", "1")
    hist = binning.histogram(np.array([1, 2, 3]))
    assert hist == Histogram((1, 1, 1), 0)
    assert binning.histogram(["1", None, np.nan, np.float32("nan")]) == Histogram((0, 1, 0), 3)
    assert binning.histogram(np.array([1.0, np.nan])).missing == 1


def test_a_kept_category_called_other_does_not_hide_the_other_bucket():
    binning = fit_categorical("c", ["other", "x"])
    assert binning.labels() == ("other", "x", "(other)")
    assert binning.counts(["other", "y"]).tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    "binning",
    [FeatureBinning("x", "numeric", edges=(-0.0, 1e-300, 0.1 + 0.2, 7.0)),
     fit_numeric("x", np.random.default_rng(0).normal(size=1000)),
     FeatureBinning("x", "numeric"),
     fit_categorical("c", ["é", "b", "b", "中"])],
    ids=["tiny and plain edges", "fitted normal edges", "no edges", "unicode categories"],
)
def test_a_binning_round_trips_through_to_dict_and_json(binning):
    assert FeatureBinning.from_dict(binning.to_dict()) == binning
    assert FeatureBinning.from_dict(json.loads(json.dumps(binning.to_dict()))) == binning


def test_a_reference_round_trips_through_json_exactly():
    columns = {"x": [*np.random.default_rng(1).normal(size=500).tolist(), None], "c": ["a", "b", None]}
    for reference in fit_reference(columns).values():
        restored = FeatureReference.from_dict(json.loads(json.dumps(reference.to_dict())))
        assert restored == reference


def test_a_binning_from_a_newer_version_is_refused_with_the_versions_named():
    stored = {**fit_numeric("x", [1.0, 2.0]).to_dict(), "version": 2}
    with pytest.raises(ValueError, match=r"binning version 2 is not one this code reads \(1..1\)"):
        FeatureBinning.from_dict(stored)


def test_edges_that_do_not_increase_or_are_not_finite_are_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        FeatureBinning("x", "numeric", edges=(2.0, 1.0))
    with pytest.raises(ValueError, match="strictly increasing"):
        FeatureBinning("x", "numeric", edges=(1.0, float("inf")))


def test_reference_counts_that_do_not_match_the_binning_are_refused():
    with pytest.raises(ValueError, match="3 reference counts for 2 bins"):
        FeatureReference(FeatureBinning("x", "numeric", edges=(1.0,)), counts=(1, 2, 3), n=6, missing=0)


@pytest.mark.parametrize(
    ("values", "kind"),
    [([1, 2.5, None, float("nan")], "numeric"), (np.arange(5), "numeric"), (["a", "b"], "categorical"),
     ([1, "a"], "categorical"), ([True, False], "categorical"), (np.array([True]), "categorical"),
     ([None, 3], "numeric")],
    ids=["numbers with gaps", "integer array", "strings", "mixed", "bools", "bool array", "number and gap"],
)
def test_fit_feature_infers_numeric_only_when_every_present_value_is_a_number(values, kind):
    assert fit_feature("f", values).kind == kind


def test_fit_feature_refuses_an_unknown_kind_and_names_the_valid_ones():
    with pytest.raises(ValueError, match="numeric, categorical"):
        fit_feature("email", ["a@b"], kind="text")  # type: ignore[arg-type]


def test_fit_reference_follows_given_kinds_and_counts_every_bin():
    columns = {"zip": [10115, 10115, 20095], "age": [30, 40, 50]}
    reference = fit_reference(columns, kinds={"zip": "categorical"})
    assert reference["zip"].binning.categories == ("10115", "20095")
    assert reference["zip"].counts == (2, 1, 0) and reference["zip"].mean is None
    assert reference["age"].binning.kind == "numeric" and reference["age"].n == 3


def test_histograms_of_two_windows_merge_into_the_histogram_of_both():
    binning = fit_numeric("x", np.arange(20.0), n_bins=4)
    a, b = [1.0, None, 30.0], [5.0, "x", 12.0]
    assert binning.histogram(a).merge(binning.histogram(b)) == binning.histogram(a + b)


def test_a_generator_of_values_is_read_once_and_fitted_like_a_list():
    values = [float(v) for v in range(100)]
    assert fit_feature("x", (v for v in values)) == fit_feature("x", values)


def test_moments_that_overflow_are_stored_as_none_so_the_reference_stays_strict_json():
    reference = fit_reference({"x": [1.7e308, 1.7e308, -1e308, np.inf]})["x"]
    assert (reference.mean, reference.std) == (None, None)
    assert (reference.min, reference.max) == (-1e308, 1.7e308)
    json.dumps(reference.to_dict(), allow_nan=False)


def test_a_numeric_reference_keeps_all_its_finite_values_sorted_as_its_sample_when_they_fit():
    values = [3.0, None, 1.0, float("inf"), 2.0, float("nan"), -float("inf"), "x"]
    reference = fit_reference({"x": values}, kinds={"x": "numeric"})["x"]
    assert reference.sample.tolist() == [1.0, 2.0, 3.0] and not reference.sample.flags.writeable


def test_a_large_reference_keeps_a_bounded_systematic_sample_the_same_on_every_fit():
    values = np.random.default_rng(2).normal(size=25_003)
    first = fit_reference({"x": values})["x"]
    assert len(first.sample) == SAMPLE_SIZE
    expected = np.sort(values[(np.arange(SAMPLE_SIZE) * values.size) // SAMPLE_SIZE])
    assert first.sample.tolist() == expected.tolist()
    assert fit_reference({"x": values})["x"] == first
    assert len(fit_reference({"x": values}, sample_size=100)["x"].sample) == 100


def test_a_categorical_reference_has_no_sample():
    assert fit_reference({"c": ["a", "b"]})["c"].sample.size == 0
    assert fit_reference({"c": ["a", "b"]})["c"].to_dict()["sample"] == []


def test_a_reference_stored_before_samples_existed_is_read_with_an_empty_sample():
    reference = fit_reference({"x": np.arange(100.0)})["x"]
    stored = reference.to_dict()
    del stored["sample"]
    old = FeatureReference.from_dict(stored)
    assert old.sample.size == 0 and old.counts == reference.counts and old.std == reference.std
    assert old != reference


def test_references_differing_only_in_their_sample_are_not_equal():
    reference = fit_reference({"x": [1.0, 2.0, 3.0]})["x"]
    moved = FeatureReference.from_dict({**reference.to_dict(), "sample": [1.0, 2.0, 3.5]})
    assert moved != reference and FeatureReference.from_dict(reference.to_dict()) == reference


def test_a_reference_sample_with_infinities_is_refused():
    binning = FeatureBinning("x", "numeric")
    with pytest.raises(ValueError, match="finite numbers only"):
        FeatureReference(binning, (1,), 1, 0, sample=(1.0, float("inf")))
