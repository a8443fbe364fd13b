"""SHAP attributions of tree models and their drift: additivity, covariate shift, concept change, records."""

from __future__ import annotations

import hashlib
import math
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from scipy import stats
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from analyzers.correction import adjust_p_values
from analyzers.explain import (
    Attributions,
    TreeAttributor,
    attribution_drift,
    load_model,
    mean_abs,
    top_features,
)

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["x0", "x1", "x2", "x3"]


def logistic_labels(rng: np.random.Generator, X: np.ndarray, w1: float = 2.0) -> np.ndarray:
    """Labels whose log-odds are 2·x0 + w1·x1: x2 and x3 carry no signal."""
    return (rng.random(len(X)) < 1 / (1 + np.exp(-(2 * X[:, 0] + w1 * X[:, 1])))).astype(int)


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(1500, 4))
    return {
        "X": X,
        "y": logistic_labels(rng, X),
        "yr": 2 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] * X[:, 0] + rng.normal(scale=0.3, size=len(X)),
        "X_new": rng.normal(size=(200, 4)),
    }


def margin(model: Any, X: np.ndarray) -> np.ndarray:
    """The model's raw output: predict_proba for forests, margin for boosting, value for regressors."""
    if isinstance(model, RandomForestClassifier):
        return model.predict_proba(X)[:, 1]
    if isinstance(model, GradientBoostingClassifier):
        return model.decision_function(X)
    if isinstance(model, lgb.LGBMClassifier):
        return model.predict(X, raw_score=True)
    if isinstance(model, xgb.XGBClassifier):
        return model.predict(X, output_margin=True).astype(np.float64)
    return np.asarray(model.predict(X), dtype=np.float64)


MODELS = {
    "sklearn GradientBoostingClassifier": lambda d: GradientBoostingClassifier(n_estimators=40, random_state=0).fit(
        d["X"], d["y"]
    ),
    "sklearn RandomForestRegressor": lambda d: RandomForestRegressor(
        n_estimators=20, max_depth=6, random_state=0
    ).fit(d["X"], d["yr"]),
    "sklearn RandomForestClassifier (predict_proba of the positive class)": lambda d: RandomForestClassifier(
        n_estimators=20, max_depth=6, random_state=0
    ).fit(d["X"], d["y"]),
    "LightGBM classifier": lambda d: lgb.LGBMClassifier(n_estimators=40, verbose=-1).fit(d["X"], d["y"]),
    "LightGBM regressor": lambda d: lgb.LGBMRegressor(n_estimators=40, verbose=-1).fit(d["X"], d["yr"]),
    "XGBoost classifier": lambda d: xgb.XGBClassifier(n_estimators=40, max_depth=3).fit(d["X"], d["y"]),
    "XGBoost regressor": lambda d: xgb.XGBRegressor(n_estimators=40, max_depth=3).fit(d["X"], d["yr"]),
}


@pytest.mark.parametrize("background", [False, True], ids=["path-dependent", "interventional on background"])
@pytest.mark.parametrize("name", list(MODELS))
def test_prediction_attributions_add_up_to_the_models_raw_output(data, name, background):
    model = MODELS[name](data)
    attributor = TreeAttributor(model, NAMES, background=data["X"][:100] if background else None)
    att = attributor.explain(data["X_new"])
    assert att.values.shape == (200, 4) and att.base.shape == (200,) and att.kind == "prediction"
    raw = margin(model, data["X_new"])
    # XGBoost sums its trees in float32, so its own output is only that precise.
    tolerance = 1e-5 if name.startswith("XGBoost") else 1e-6
    np.testing.assert_allclose(att.values.sum(1) + att.base, raw, rtol=0, atol=tolerance)
    assert np.ptp(att.base) == 0  # one expected value for every row
    if background:
        np.testing.assert_allclose(att.base[0], margin(model, data["X"][:100]).mean(), atol=tolerance)


LOSS_MODELS = [
    "sklearn GradientBoostingClassifier",
    "sklearn RandomForestRegressor",
    "LightGBM classifier",
    "LightGBM regressor",
    "XGBoost classifier",
    "XGBoost regressor",
]


@pytest.mark.parametrize("name", LOSS_MODELS)
def test_loss_attributions_add_up_to_each_records_log_loss_or_squared_error(data, name):
    model = MODELS[name](data)
    classifier = "classifier" in name.lower()
    y = (data["y"] if classifier else data["yr"])[:200]
    X = data["X"][:200]
    att = TreeAttributor(model, NAMES, background=data["X"][1000:1100]).explain_loss(X, y)
    raw = margin(model, X)
    loss = np.logaddexp(0, raw) - y * raw if classifier else (raw - y) ** 2
    tolerance = 1e-5 if name.startswith("XGBoost") else 1e-6
    assert att.kind == "loss"
    np.testing.assert_allclose(att.values.sum(1) + att.base, loss, rtol=0, atol=tolerance)


def test_a_binary_forest_explains_the_last_class_by_default_and_the_first_on_request(data):
    model = MODELS["sklearn RandomForestClassifier (predict_proba of the positive class)"](data)
    for index in (None, 1, 0):
        att = TreeAttributor(model, NAMES, class_index=index).explain(data["X_new"])
        column = 0 if index == 0 else 1
        np.testing.assert_allclose(
            att.values.sum(1) + att.base, model.predict_proba(data["X_new"])[:, column], atol=1e-9
        )


def test_a_binary_booster_explains_class_0_as_minus_the_log_odds_of_class_1(data):
    model = MODELS["LightGBM classifier"](data)
    pos = TreeAttributor(model, NAMES).explain(data["X_new"])
    neg = TreeAttributor(model, NAMES, class_index=0).explain(data["X_new"])
    np.testing.assert_allclose(neg.values, -pos.values)
    np.testing.assert_allclose(neg.base, -pos.base)


def test_a_multiclass_model_needs_class_index_and_then_explains_that_class(data):
    y3 = np.digitize(data["X"][:, 0], [-0.5, 0.5])
    model = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(data["X"], y3)
    with pytest.raises(ValueError, match=r"3 outputs.*class_index"):
        TreeAttributor(model, NAMES).explain(data["X_new"])
    att = TreeAttributor(model, NAMES, class_index=2).explain(data["X_new"])
    np.testing.assert_allclose(att.values.sum(1) + att.base, model.predict_proba(data["X_new"])[:, 2], atol=1e-9)
    with pytest.raises(ValueError, match="out of range"):
        TreeAttributor(model, NAMES, class_index=3).explain(data["X_new"])


def test_shifting_one_input_moves_that_features_prediction_attributions_and_no_others():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(3000, 4))
    # Depth-1 trees make an additive model: a feature's attribution depends on that feature alone.
    model = lgb.LGBMClassifier(n_estimators=60, num_leaves=2, verbose=-1).fit(X, logistic_labels(rng, X))
    attributor = TreeAttributor(model, NAMES, background=X[:100])
    reference = attributor.explain(rng.normal(size=(600, 4)))
    shifted = rng.normal(size=(600, 4))
    shifted[:, 1] += 1.0
    result = {d.feature: d for d in attribution_drift(reference, attributor.explain(shifted))}
    assert [f for f, d in result.items() if d.status == "drift"] == ["x1"]
    assert result["x1"].mean_current - result["x1"].mean_reference > 0.5
    assert result["x1"].p_adjusted is not None and result["x1"].p_adjusted < 1e-10


def test_a_flipped_relation_to_the_target_shows_in_loss_attributions_of_that_feature_alone():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 4))
    model = lgb.LGBMClassifier(n_estimators=60, verbose=-1).fit(X, logistic_labels(rng, X))
    attributor = TreeAttributor(model, NAMES, background=X[:100])
    X_ref, X_cur = rng.normal(size=(500, 4)), rng.normal(size=(500, 4))  # same input distribution
    y_ref, y_cur = logistic_labels(rng, X_ref), logistic_labels(rng, X_cur, w1=-2.0)  # x1's relation flips

    prediction = attribution_drift(attributor.explain(X_ref), attributor.explain(X_cur))
    assert [d.status for d in prediction] == ["ok"] * 4

    loss = {d.feature: d for d in attribution_drift(attributor.explain_loss(X_ref, y_ref),
                                                     attributor.explain_loss(X_cur, y_cur))}  # fmt: skip
    assert [f for f, d in loss.items() if d.status == "drift"] == ["x1"]
    # x1 went from lowering the loss to raising it.
    assert loss["x1"].mean_reference < -0.2 < 0.2 < loss["x1"].mean_current


def test_the_drift_test_is_scipys_ks_corrected_by_benjamini_hochberg_and_judged_on_both_rules():
    rng = np.random.default_rng(5)
    names = ["a", "b", "c"]
    ref = Attributions(rng.normal(size=(200, 3)), np.zeros(200), names)
    cur_values = rng.normal(size=(150, 3))
    cur_values[:, 0] += 0.6  # large and significant
    cur_values[:, 1] *= 1.02  # neither
    cur_values[:, 2] += 0.02  # tiny
    cur = Attributions(cur_values, np.zeros(150), names)
    result = attribution_drift(ref, cur, min_effect=0.1)
    raw_p = [stats.ks_2samp(ref.values[:, j], cur.values[:, j]).pvalue for j in range(3)]
    assert [d.p_value for d in result] == pytest.approx(raw_p)
    assert [d.p_adjusted for d in result] == pytest.approx(adjust_p_values(raw_p, "benjamini-hochberg").tolist())
    assert [d.ks for d in result] == pytest.approx(
        [stats.ks_2samp(ref.values[:, j], cur.values[:, j]).statistic for j in range(3)]
    )
    assert [d.status for d in result] == ["drift", "ok", "ok"]
    scale = np.abs(ref.values).mean(0).sum()
    assert result[0].effect == pytest.approx(
        max(abs(cur.values[:, 0].mean() - ref.values[:, 0].mean()),
            abs(np.abs(cur.values[:, 0]).mean() - np.abs(ref.values[:, 0]).mean())) / scale
    )  # fmt: skip
    # The same p-value with a materiality bar above the effect: no flag.
    assert attribution_drift(ref, cur, min_effect=result[0].effect * 1.01)[0].status == "ok"
    # Bonferroni multiplies by the number of features.
    bonf = attribution_drift(ref, cur, correction="bonferroni")
    assert [d.p_adjusted for d in bonf] == pytest.approx([min(1.0, p * 3) for p in raw_p])


def test_a_feature_with_fewer_than_min_count_values_on_either_side_gets_no_verdict():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(40, 2))
    values[12:, 1] = np.nan  # b: 12 values in the window
    ref = Attributions(rng.normal(size=(100, 2)), np.zeros(100), ["a", "b"])
    result = attribution_drift(ref, Attributions(values, np.zeros(40), ["a", "b"]), min_count=30)
    assert [d.status for d in result] == ["ok", "insufficient_data"]
    assert (result[1].n_reference, result[1].n_current) == (100, 12)
    assert result[1].p_value is None and result[1].p_adjusted is None and math.isnan(result[1].ks)
    assert result[1].mean_current == pytest.approx(float(values[:12, 1].mean()))
    # Features on one side only are reported with no values on the other.
    extra = attribution_drift(ref, Attributions(values[:, :1], np.zeros(40), ["c"]))
    assert [(d.feature, d.status, d.n_current) for d in extra] == [
        ("a", "insufficient_data", 0), ("b", "insufficient_data", 0), ("c", "insufficient_data", 40),
    ]  # fmt: skip


def test_loss_attributions_are_judged_on_the_mean_and_prediction_attributions_also_on_the_spread():
    rng = np.random.default_rng(2)
    half_ref, half_cur = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    ref, cur = np.vstack([half_ref, -half_ref]), np.vstack([half_cur, -half_cur])  # means exactly 0
    cur[:, 0] *= 3  # importance (mean |SHAP|) triples, the average contribution stays 0
    for kind, expected in (("prediction", "drift"), ("loss", "ok")):
        before = Attributions(ref, np.zeros(400), ["a", "b"], kind=kind)
        after = Attributions(cur, np.zeros(400), ["a", "b"], kind=kind)
        [a, b] = attribution_drift(before, after)
        assert a.p_adjusted is not None and a.p_adjusted < 1e-10
        assert (a.status, b.status) == (expected, "ok"), kind


def test_prediction_and_loss_attributions_are_not_compared():
    a = Attributions(np.zeros((5, 1)), np.zeros(5), ["a"])
    b = Attributions(np.zeros((5, 1)), np.zeros(5), ["a"], kind="loss")
    with pytest.raises(ValueError, match="cannot compare prediction attributions with loss"):
        attribution_drift(a, b)


def test_top_features_orders_by_absolute_value_then_name_and_skips_missing_values():
    row = [0.2, -0.5, 0.5, np.nan, -0.01]
    names = ["e", "d", "c", "b", "a"]
    assert top_features(row, names) == [("c", 0.5), ("d", -0.5), ("e", 0.2)]
    assert top_features(row, names, k=10) == [("c", 0.5), ("d", -0.5), ("e", 0.2), ("a", -0.01)]
    with pytest.raises(ValueError, match="5 values for 4 feature names"):
        top_features(row, names[:4])


def test_mean_abs_is_the_mean_absolute_attribution_per_feature_skipping_missing_values():
    att = Attributions([[1.0, -2.0, np.nan], [-3.0, np.nan, np.nan]], [0.0, 0.0], ["a", "b", "c"])
    result = mean_abs(att)
    assert result["a"] == 2.0 and result["b"] == 2.0 and math.isnan(result["c"])


def test_records_round_trip_through_the_wire_shape():
    records = [
        {"base": 0.12, "values": {"income": 0.31, "region": -0.05}},
        {"base": None, "values": {"income": -0.2, "unknown": 9.0}},  # no region; a name we do not track
        None,  # a record sent without attributions
    ]
    att = Attributions.from_records(records, ["income", "region"])
    assert att.values.shape == (3, 2) and len(att) == 3
    assert np.isnan(att.values[1, 1]) and np.isnan(att.base[1]) and np.isnan(att.values[2]).all()
    assert att.to_records() == [
        {"base": 0.12, "values": {"income": 0.31, "region": -0.05}},
        {"base": None, "values": {"income": -0.2}},
        {"base": None, "values": {}},
    ]
    again = Attributions.from_records(att.to_records(), ["income", "region"], kind="loss")
    np.testing.assert_array_equal(again.values, att.values)
    assert again.kind == "loss"
    assert Attributions.from_records([], ["a"]).values.shape == (0, 1)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"base": 0.1, "values": {"income": "high"}}, r"record 0 feature 'income' must be a number"),
        ({"base": "0.1", "values": {}}, "record 0 base must be a number"),
        ({"base": 0.1, "values": [0.3]}, "record 0 must be"),
    ],
)
def test_malformed_stored_records_are_named_in_the_error(record, message):
    with pytest.raises(ValueError, match=message):
        Attributions.from_records([record], ["income"])


def test_explaining_the_wrong_number_of_columns_names_the_expected_features(data):
    attributor = TreeAttributor(MODELS["LightGBM classifier"](data), NAMES)
    with pytest.raises(ValueError, match=r"X has shape \(200, 3\); the model expects 4 columns: x0, x1, x2, x3"):
        attributor.explain(data["X_new"][:, :3])
    with pytest.raises(ValueError, match="encode categorical features first"):
        attributor.explain([["a", 1.0, 2.0, 3.0]])
    import pandas as pd

    frame = pd.DataFrame(data["X_new"], columns=NAMES)
    np.testing.assert_allclose(attributor.explain(frame[NAMES[::-1]]).values, attributor.explain(frame).values)
    with pytest.raises(ValueError, match="X lacks the features x3"):
        attributor.explain(frame[NAMES[:3]])


def test_loss_attributions_refuse_what_shap_cannot_compute(data):
    forest = MODELS["sklearn RandomForestClassifier (predict_proba of the positive class)"](data)
    with pytest.raises(ValueError, match="forest classifiers output probabilities"):
        TreeAttributor(forest, NAMES, background=data["X"][:50]).explain_loss(data["X"][:10], data["y"][:10])
    booster = MODELS["LightGBM classifier"](data)
    with pytest.raises(ValueError, match="need background rows"):
        TreeAttributor(booster, NAMES).explain_loss(data["X"][:10], data["y"][:10])
    with pytest.raises(ValueError, match=r"labels must be one of the model's classes \[0, 1\], got 2"):
        TreeAttributor(booster, NAMES, background=data["X"][:50]).explain_loss(data["X"][:3], [0, 1, 2])
    huber = GradientBoostingRegressor(loss="huber", n_estimators=5).fit(data["X"], data["yr"])
    with pytest.raises(ValueError, match="only binary log loss and squared error"):
        TreeAttributor(huber, NAMES, background=data["X"][:50]).explain_loss(data["X"][:3], data["yr"][:3])


def test_the_background_is_capped_evenly_and_sets_the_base(data):
    model = MODELS["LightGBM regressor"](data)
    attributor = TreeAttributor(model, NAMES, background=data["X"], max_background=50)
    assert attributor.background is not None and attributor.background.shape == (50, 4)
    np.testing.assert_array_equal(attributor.background[[0, -1]], data["X"][[0, -1]])
    att = attributor.explain(data["X_new"][:5])
    assert att.base[0] == pytest.approx(model.predict(attributor.background).mean(), abs=1e-9)


def test_models_load_from_joblib_and_pickle_files_and_bad_paths_say_how_to_fix_them(data, tmp_path):
    model = MODELS["LightGBM classifier"](data)
    joblib.dump(model, tmp_path / "m.joblib")
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(model))

    def pin(path: str | Path) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    for path in (tmp_path / "m.joblib", str(tmp_path / "m.pkl")):
        loaded = load_model(path, sha256=pin(path))
        np.testing.assert_allclose(margin(loaded, data["X_new"]), margin(model, data["X_new"]))
    with pytest.raises(ValueError, match=r"m\.onnx.*unknown extension '\.onnx'.*joblib\.dump"):
        load_model(tmp_path / "m.onnx", sha256="0" * 64)
    with pytest.raises(ValueError, match=r"missing\.pkl.*no such file"):
        load_model(tmp_path / "missing.pkl", sha256="0" * 64)
    (tmp_path / "broken.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"broken\.pkl.*UnpicklingError"):
        load_model(tmp_path / "broken.pkl", sha256=pin(tmp_path / "broken.pkl"))


def test_importing_the_analyzers_does_not_import_shap():
    code = "import sys, analyzers, analyzers.explain; print('shap' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]
