"""Worst slices: per-slice figures equal sklearn's on the joined rows; a planted slice is found, noise not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from sklearn.metrics import accuracy_score, precision_score, recall_score

from analyzers.performance import LabelledRow
from analyzers.slices import SliceFinding, slice_scan, worst_slices

COLUMNS = ["region", "device", "plan"]
REGIONS = ["EU", "US", "APAC", "LATAM"]
DEVICES = ["ios", "android", "web"]


def window(seed: int, n: int = 4000, base: float = 0.9, planted: float | None = None,
           regions: int = 4) -> list[LabelledRow]:
    """Binary predictions right with chance `base`; with `planted`, EU ∧ ios rows are right that often."""
    rng = np.random.default_rng(seed)
    region = rng.choice(REGIONS[:regions], n)
    device = rng.choice(DEVICES, n)
    plan = rng.choice(["free", "pro", "team"], n)
    chance = np.full(n, base)
    if planted is not None:
        chance[(region == "EU") & (device == "ios")] = planted
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < chance, y, 1 - y)
    return [
        LabelledRow(int(p), int(t), {"region": str(r), "device": str(d), "plan": str(pl)})
        for p, t, r, d, pl in zip(pred, y, region, device, plan, strict=True)
    ]


def wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    """The Wilson score interval written out, independently of analyzers.performance."""
    z = norm.ppf(1 - (1 - confidence) / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return max(0.0, centre - half), min(1.0, centre + half)


def members(rows: list[LabelledRow], finding: SliceFinding) -> list[LabelledRow]:
    return [r for r in rows if r.label is not None and all(r.slices.get(c) == v for c, v in finding.slice)]


def test_every_slice_and_pair_equals_sklearn_accuracy_and_the_wilson_formula_on_its_joined_rows() -> None:
    rows = window(0, planted=0.6)
    rows += [LabelledRow(1, None, r.slices) for r in rows[:500]]  # unlabelled rows are not in any figure
    scan = slice_scan(rows, COLUMNS, confidence=0.9)
    assert {len(f.slice) for f in scan} == {1, 2} and len(scan) == 10 + 12 + 12 + 9
    labelled = [r for r in rows if r.label is not None]
    overall = accuracy_score([r.label for r in labelled], [r.prediction for r in labelled])
    for f in scan:
        joined = members(rows, f)
        y, p = [r.label for r in joined], [r.prediction for r in joined]
        assert f.value == pytest.approx(accuracy_score(y, p), abs=1e-12)
        assert f.support == len(joined)
        correct = sum(a == b for a, b in zip(y, p, strict=True))
        assert (f.lower, f.upper) == pytest.approx(wilson(correct, len(joined), 0.9), abs=1e-12)
        assert f.overall == pytest.approx(overall, abs=1e-12)
        assert f.drop_points == pytest.approx(100 * (overall - f.value), abs=1e-9)


@pytest.mark.parametrize(("metric", "score"), [("precision", precision_score), ("recall", recall_score)])
def test_precision_and_recall_per_slice_equal_sklearn(metric: str, score: object) -> None:
    rows = window(1)
    for f in slice_scan(rows, ["region"], metric=metric):
        joined = members(rows, f)
        expected = score([r.label for r in joined], [r.prediction for r in joined])  # type: ignore[operator]
        assert f.value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_a_planted_pair_is_found_first_and_its_parents_rank_below_it(seed: int) -> None:
    rows = window(seed, planted=0.6)
    found = worst_slices(rows, COLUMNS)
    assert found and found[0].slice == (("region", "EU"), ("device", "ios"))
    assert found[0].significant and found[0].p_adjusted <= 0.05 and found[0].upper < found[0].overall
    assert found[0].describe().startswith("region=EU ∧ device=ios: accuracy 0.")
    drops = [f.drop_points for f in found]
    assert drops == sorted(drops, reverse=True)
    ranks = {f.slice: i for i, f in enumerate(found)}
    for parent in ((("region", "EU"),), (("device", "ios"),)):
        assert ranks.get(parent, len(found)) > 0


@pytest.mark.parametrize("seed", range(8))
def test_a_window_with_nothing_planted_has_no_worst_slice(seed: int) -> None:
    assert worst_slices(window(1000 + seed), COLUMNS) == ()


def test_with_nothing_planted_a_finding_appears_in_at_most_about_one_window_in_twenty() -> None:
    """Benjamini-Hochberg under the global null bounds the chance of any finding by 1 - confidence."""
    windows = 150
    flagged = sum(bool(worst_slices(window(2000 + s, n=1500), COLUMNS)) for s in range(windows))
    assert flagged / windows <= 0.08


@settings(derandomize=True, deadline=None, max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(200, 3000),
    base=st.sampled_from([0.55, 0.75, 0.9, 0.97]),
    regions=st.integers(1, 4),
)
def test_property_no_planted_slice_means_no_finding_at_a_strict_level(
    seed: int, n: int, base: float, regions: int
) -> None:
    assert worst_slices(window(seed, n, base, regions=regions), COLUMNS, confidence=0.999) == ()


def test_values_beyond_the_cardinality_bound_fold_into_other() -> None:
    rng = np.random.default_rng(4)
    cities = [f"c{i:02d}" for i in range(30)]
    rows = []
    for i in range(6000):
        city = cities[i % 5] if i % 2 else str(rng.choice(cities[5:]))  # 5 common cities, 25 rare ones
        right = rng.random() < (0.6 if city in cities[5:] else 0.95)
        rows.append(LabelledRow(1, 1 if right else 0, {"city": city}))
    scan = slice_scan(rows, ["city"], max_slice_values=5)
    assert sorted(v for f in scan for _, v in f.slice) == [*cities[:5], "other"]
    found = worst_slices(rows, ["city"], max_slice_values=5)
    assert [f.slice for f in found] == [(("city", "other"),)]
    assert found[0].support == 3000


def test_minimum_support_is_respected() -> None:
    rows = window(5, n=3000, planted=0.1)
    rows = [r for r in rows if r.slices["region"] != "EU" or r.slices["device"] != "ios"]
    rows += [LabelledRow(1, 0, {"region": "EU", "device": "ios", "plan": "pro"}) for _ in range(20)]
    assert all(f.support >= 30 for f in slice_scan(rows, COLUMNS))
    assert (("region", "EU"), ("device", "ios")) not in {f.slice for f in worst_slices(rows, COLUMNS)}
    small = worst_slices(rows, COLUMNS, min_support=15)
    assert small[0].slice == (("region", "EU"), ("device", "ios")) and small[0].support == 20
    assert worst_slices(rows[:20], COLUMNS) == ()  # the whole window below the minimum


def test_a_pair_that_equals_its_parent_is_left_to_the_parent_and_pairs_can_be_turned_off() -> None:
    def columns(i: int) -> dict[str, str]:
        if i < 500:
            return {"region": "EU", "device": "ios"}
        return {"region": "US", "device": "web" if i % 2 else "android"}

    rows = [LabelledRow(1, int(i % 10 != 0), columns(i)) for i in range(1500)]
    slices = {f.slice for f in slice_scan(rows, ["region", "device"])}
    assert (("region", "EU"), ("device", "ios")) not in slices
    assert (("region", "US"), ("device", "web")) not in slices  # same rows as device=web
    assert all(len(f.slice) == 1 for f in slice_scan(rows, ["region", "device"], include_pairs=False))


def test_describe_reads_as_one_line_for_on_call() -> None:
    finding = SliceFinding((("region", "EU"), ("device", "ios")), "accuracy", 0.71, 0.66, 0.76, 240, 0.833,
                           12.3, 1e-6, 1e-5, 40, True, 0.95)
    assert finding.describe() == (
        "region=EU ∧ device=ios: accuracy 0.71 [0.66, 0.76], 12.3 points below all (0.83), n=240"
    )
    assert finding.correction == "benjamini-hochberg" and "fisher" in finding.test


def test_a_small_drop_can_be_ignored_and_bad_arguments_name_the_valid_choices() -> None:
    rows = window(6, planted=0.6)
    assert all(f.drop_points >= 20 for f in worst_slices(rows, COLUMNS, min_drop_points=20))
    assert worst_slices(rows, COLUMNS, max_results=2) == worst_slices(rows, COLUMNS)[:2]
    assert worst_slices([], COLUMNS) == ()
    with pytest.raises(ValueError, match="accuracy, precision, recall"):
        worst_slices(rows, COLUMNS, metric="f1")
    with pytest.raises(ValueError, match="confidence"):
        worst_slices(rows, COLUMNS, confidence=95)
