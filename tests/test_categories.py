"""One spelling per categorical value (analyzers.categories), and what it fixes: a boolean feature whose
reference came as JSON and whose windows came from a CSV replay no longer drifts by construction."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest

from analyzers.binning import FeatureReference, fit_reference
from analyzers.categories import canonical_category
from analyzers.drift import feature_drift
from driftline import replay as rp
from spec import load_spec_text

SPELLINGS = [
    (True, "true"), (False, "false"), ("TRUE", "true"), ("False", "false"), (np.bool_(True), "true"),
    (1, "1"), (1.0, "1"), ("1", "1"), ("1.0", "1"), ("1e3", "1000"), (-0.0, "0"), ("-0", "0"),
    (np.int64(3), "3"), (np.float32(2.0), "2"), (2.5, "2.5"), ("2.50", "2.5"), (10**20, str(10**20)),
    (str(10**20), str(10**20)), (1e20, str(10**20)), (math.inf, "inf"), ("-inf", "-inf"),
    (None, None), (math.nan, None), ("", None), ("  ", None),
    ("01234", "01234"), ("+1", "+1"), (" EU ", " EU "), ("NA", "NA"), ("null", "null"), ("é", "é"),
]


@pytest.mark.parametrize(("value", "spelled"), SPELLINGS, ids=[repr(v) for v, _ in SPELLINGS])
def test_each_value_has_the_documented_spelling(value: object, spelled: str | None) -> None:
    assert canonical_category(value) == spelled


def test_true_false_and_numbers_used_as_categories_share_a_bin_whatever_their_wire_type() -> None:
    reference = fit_reference({"flag": [True, False, True, None, 1, 2.0]}, kinds={"flag": "categorical"})["flag"]
    assert reference.binning.categories == ("true", "1", "2", "false")  # by count, then name
    window = ["true", "FALSE", "1.0", 2, "", math.nan, np.bool_(True)]
    hist = reference.binning.histogram(window)
    assert hist.counts == (2, 1, 1, 1, 0) and hist.missing == 2


def test_a_reference_stored_before_the_rule_is_read_back_in_the_new_spelling() -> None:
    """Older collectors stored str(True) = "True" and kept "" as a category: merged on read, never lost."""
    old = {
        "binning": {"feature": "flag", "kind": "categorical", "categories": ["True", "False", "1.0", "1", ""],
                    "edges": [], "version": 1},
        "counts": [40, 30, 5, 5, 10, 3], "n": 93, "missing": 7,
        "mean": None, "std": None, "min": None, "max": None,
    }
    ref = FeatureReference.from_dict(old)
    assert ref.binning.categories == ("true", "false", "1")
    assert ref.counts == (40, 30, 10, 3) and ref.missing == 17 and ref.n == 83
    (js,) = feature_drift(ref, ["true"] * 40 + ["false"] * 30 + ["1"] * 10 + ["x"] * 3 + [None] * 17,
                          metrics=("js",))
    assert js.value == pytest.approx(0.0, abs=1e-12)


SPEC = """
version: 1
models:
  - name: loans
    features:
      - {name: approved_before, type: categorical}
      - {name: amount, type: numeric}
    prediction: {type: binary}
"""


def test_a_csv_replay_against_a_json_reference_does_not_drift_on_an_unchanged_boolean(
    db_url: str, tmp_path: Path
) -> None:
    """The defect as found: reference uploaded as JSON true/false, windows replayed from CSV text "false".
    Before the rule the JS distance was 0.999 in every window; the feature is unchanged, so it is ~0."""
    spec = load_spec_text(SPEC)
    model = spec.model("loans")
    assert model is not None
    rng = np.random.default_rng(5)
    sink = rp.EmbeddedSink(db_url, spec)
    flags = rng.random(2000) < 0.3
    sink.reference({"model": "loans", "columns": {"approved_before": flags.tolist(),  # JSON booleans
                                                   "amount": rng.normal(size=2000).tolist()}})
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=3)
    path = tmp_path / "log.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "ts", "approved_before", "amount", "prediction"])
        for i in range(600):
            w.writerow([f"r{i}", (start + dt.timedelta(seconds=10 * i)).isoformat(),
                        "true" if rng.random() < 0.3 else "false", rng.normal(), 1])
    rp.replay(path, model, sink, progress=False)
    drift = [p for p in sink.series("loans", "drift") if p["feature"] == "approved_before" and p["metric"] == "js"]
    assert drift and all(p["value"] < 0.05 and p["status"] == "ok" for p in drift), drift
