"""Data quality per window: crafted windows with known counts, and no odd value ever raises."""

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.binning import fit_reference
from analyzers.quality import RECORD, QualityValue, feature_quality, undeclared_features, window_quality

DECLARED = {"income": "numeric", "region": "categorical", "email": "text", "vec": "embedding"}
REFERENCES = fit_reference({"income": [10, 20, 30, 40], "region": ["EU", "US", "EU", None]},
                           kinds={"region": "categorical"})
ROWS = [
    {"income": 15, "region": "EU", "email": "a@b", "vec": [0.1, 0.2]},
    {"income": 50, "region": "APAC", "email": None, "vec": [1, 2]},
    {"income": "12", "region": ["EU"], "email": 5, "vec": "x"},
    {"income": None, "region": None, "vec": [1, "a"], "extra": 1},
    {"income": float("nan"), "region": {"a": 1}, "email": "c", "vec": []},
    {"income": True, "region": True, "email": "d", "vec": None, "other": 2},
    {"income": -5.0, "region": "US", "email": "e", "vec": [3.0]},
    "not a record",
]


def _table(values):
    return {(v.feature, v.check): (v.count, v.total) for v in values}


def test_a_crafted_window_gives_the_hand_counted_missing_absent_type_range_and_unseen_counts():
    assert _table(window_quality(DECLARED, REFERENCES, ROWS)) == {
        # income: None, NaN, absent | "12" and True are not numbers | 50 and -5 outside [10, 40]
        ("income", "missing"): (3, 8), ("income", "absent"): (1, 8), ("income", "type_violation"): (2, 5),
        ("income", "out_of_range"): (2, 3),
        # region: None, absent | a list and a dict | "APAC" and True ("True") are not in the table
        ("region", "missing"): (2, 8), ("region", "absent"): (1, 8), ("region", "type_violation"): (2, 6),
        ("region", "unseen_category"): (2, 4),
        # email: None and absent twice | the number 5 is not text | no reference check for text
        ("email", "missing"): (3, 8), ("email", "absent"): (2, 8), ("email", "type_violation"): (1, 5),
        # vec: None, absent | "x", a list holding a string, an empty list
        ("vec", "missing"): (2, 8), ("vec", "absent"): (1, 8), ("vec", "type_violation"): (3, 6),
        # records 4 and 6 carry undeclared features; those two and the non-record break the schema
        (RECORD, "undeclared_feature"): (2, 8), (RECORD, "schema_violation"): (3, 8),
    }


def test_results_come_in_declared_order_then_the_record_level_checks():
    checks = [(v.feature, v.check) for v in window_quality(DECLARED, REFERENCES, ROWS)]
    assert checks[:4] == [("income", "missing"), ("income", "absent"), ("income", "type_violation"),
                          ("income", "out_of_range")]
    assert checks[-2:] == [(RECORD, "undeclared_feature"), (RECORD, "schema_violation")]


def test_a_quality_value_has_its_rate_and_nan_when_nothing_was_checked():
    assert QualityValue("x", "missing", 1, 4).rate == 0.25
    assert math.isnan(QualityValue("x", "out_of_range", 0, 0).rate)
    assert QualityValue("x", "missing", 1, 4) == QualityValue("x", "missing", 1, 4)


def test_the_undeclared_feature_names_are_listed_most_frequent_first():
    rows = [{"a": 1, "Income": 2}, {"Income": 3}, {"zip": 1}, None]
    assert undeclared_features(["a"], rows) == (("Income", 2), ("zip", 1))
    assert undeclared_features(["a"], rows, limit=1) == (("Income", 2),)


def test_numbers_of_every_python_and_numpy_kind_are_numeric_but_bools_strings_and_decimals_are_not():
    values = [1, 2.5, np.float32(3), np.int64(4), 10**400, float("inf"),
              True, np.bool_(False), "5", Decimal(1)]
    table = _table(feature_quality("x", "numeric", REFERENCES["income"], values))
    assert table[("x", "type_violation")] == (4, 10)
    assert table[("x", "out_of_range")] == (6, 6)  # all below 10 or, like 10**400 and inf, above 40


def test_categories_are_compared_as_the_binning_keys_them():
    reference = fit_reference({"c": [1, 2, "a", True]}, kinds={"c": "categorical"})["c"]
    table = _table(feature_quality("c", "categorical", reference, [1, "1", 2.0, True, "True", "b"]))
    assert table[("c", "unseen_category")] == (1, 6)  # only "b": 2.0 spells "2" and "True" spells "true"


def test_an_embedding_is_a_non_empty_list_or_one_dimensional_array_of_numbers():
    values = [[1.0, 2], (3, 4), np.array([1.0, 2.0]),
              np.zeros((2, 2)), np.array(["a"]), [True], [[1, 2]], {}, 3]
    assert _table(feature_quality("v", "embedding", None, values))[("v", "type_violation")] == (6, 9)


def test_checks_that_need_a_reference_are_left_out_without_one():
    assert [v.check for v in feature_quality("x", "numeric", None, [1, 2])] == ["missing", "type_violation"]
    categorical_as_numeric = feature_quality("x", "numeric", REFERENCES["region"], [1])
    assert [v.check for v in categorical_as_numeric] == ["missing", "type_violation"]


def test_an_empty_window_gives_zero_counts_of_zero_and_nan_rates():
    values = window_quality(DECLARED, REFERENCES, [])
    assert all(v.count == 0 and v.total == 0 and math.isnan(v.rate) for v in values)


def test_an_unknown_declared_type_is_refused_with_the_valid_types():
    message = "image: declared type must be one of numeric, categorical, text, embedding"
    with pytest.raises(ValueError, match=message):
        window_quality({"image": "image"}, {}, [{}])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)
feature_names = st.sampled_from(["a", "b", "c", "d"])


@settings(derandomize=True, deadline=None, max_examples=300)
@given(st.dictionaries(feature_names, st.sampled_from(["numeric", "categorical", "text", "embedding"])),
       st.lists(st.dictionaries(feature_names | st.text(max_size=3), json_values, max_size=5) | json_values,
                max_size=20))
def test_any_json_in_any_declared_feature_is_counted_and_never_raises(declared, rows):
    references = fit_reference({"a": [0.0, 1.0], "b": ["x", "y"]}, kinds={"b": "categorical"})
    values = window_quality(declared, references, rows)
    assert len(values) >= 3 * len(declared) + 2
    for v in values:
        assert 0 <= v.count <= v.total
        if v.check in ("missing", "absent", "undeclared_feature", "schema_violation"):
            assert v.total == len(rows)


@pytest.mark.parametrize(
    "features, valid",
    [
        ({"x": 1.5, "c": "EU"}, True),
        ({"x": None, "c": "EU"}, True),  # a missing value is counted as missing, not as an invalid record
        ({"x": "1.5", "c": "EU"}, False),  # a string in a numeric feature
        ({"c": "EU"}, False),  # a declared feature absent
        ({"x": 1.0, "c": "EU", "email": "sha256:ab"}, True),  # a PII feature the SDK hashed
        ({"x": 1.0, "c": "EU", "surprise": 3}, False),  # an undeclared feature
        (["not", "a", "record"], False),
    ],
)
def test_a_record_is_valid_when_its_declared_features_are_present_and_typed(features: object, valid: bool) -> None:
    from analyzers.quality import record_valid

    assert record_valid({"x": "numeric", "c": "categorical"}, features, also_allowed=["email"]) is valid


@pytest.mark.parametrize(
    "features",
    [
        {"x": 1.5, "c": "EU"}, {"x": None, "c": "EU"}, {"x": "1.5", "c": "EU"}, {"c": "EU"},
        {"x": 1.0, "c": "EU", "email": "sha256:ab"}, {"x": 1.0, "c": "EU", "surprise": 3}, ["nope"],
        {"x": True, "c": "EU"}, {"x": float("nan"), "c": 3}, {"x": 2, "c": ["a"]}, {"x": 1, "c": None},
    ],
)
def test_the_compiled_schema_check_agrees_with_record_valid(features: object) -> None:
    from analyzers.quality import record_valid, schema_checker

    types = {"x": "numeric", "c": "categorical"}
    assert schema_checker(types, ["email"])(features) is record_valid(types, features, ["email"])
