"""The slice that explains a drift: found where it was planted, and not claimed where the drift is even."""

import numpy as np

from analyzers.binning import fit_reference
from analyzers.drift_slice import explaining_slice

REGIONS = ("eu", "us", "apac", "latam")


def _rows(rng: np.random.Generator, n: int, shift: dict[str, float]) -> list[dict[str, object]]:
    regions = rng.choice(REGIONS, n)
    income = rng.normal(0, 1, n) + np.array([shift.get(r, 0.0) for r in regions])
    device = rng.choice(["ios", "android"], n)
    return [
        {"income": float(x), "region": str(r), "device": str(d)}
        for x, r, d in zip(income, regions, device, strict=True)
    ]


def _reference(rng: np.random.Generator):
    return fit_reference({"income": rng.normal(0, 1, 5_000)})["income"]


def test_a_drift_planted_in_one_region_is_explained_by_that_region():
    rng = np.random.default_rng(0)
    found = explaining_slice(_reference(rng), _rows(rng, 4_000, {"eu": 1.5}), ("device", "region"), "psi")
    assert found is not None
    assert found.slice == "region=eu" and found.feature == "income"
    assert found.share > 0.8, found  # most of the drift goes with the region
    assert 800 < found.support < 1200


def test_a_drift_spread_over_every_region_is_not_pinned_on_one():
    rng = np.random.default_rng(1)
    found = explaining_slice(_reference(rng), _rows(rng, 4_000, dict.fromkeys(REGIONS, 1.0)), ("region",), "psi")
    assert found is None or found.share < 0.2, found


def test_slices_too_small_to_measure_are_skipped_and_no_drift_gives_nothing_to_explain():
    rng = np.random.default_rng(2)
    reference = _reference(rng)
    rows = _rows(rng, 2_000, {"eu": 2.0})
    assert explaining_slice(reference, rows, ("region",), "psi", min_support=1_000) is None
    assert explaining_slice(reference, [{"income": None, "region": "eu"}] * 50, ("region",), "psi") is None
