"""The collector's cache of parsed references: a tick over many models must not re-read every reference.

A bound by count (64) made every lookup of a tick over 100 models miss (least-recently-used eviction under a
cyclic scan), so each model's drift re-read and re-parsed its reference: a 100-model tick cost 40x a
20-model one. The cache is bounded by the values it holds instead.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from collector import aggregation
from collector.aggregation import Aggregator


def _stored(features: int, sample: int) -> SimpleNamespace:
    """A stored reference row as the repository returns it: `features` numeric features."""
    edges = [-1.0, 0.0, 1.0]
    feature = {
        "binning": {"feature": "f", "kind": "numeric", "edges": edges, "categories": []},
        "counts": [sample // 4, sample // 2, sample // 4, sample - sample // 4 * 2 - sample // 2],
        "missing": 0,
        "sample": [0.5] * sample,
    }
    return SimpleNamespace(features={f"f{j}": feature for j in range(features)}, calibration=None)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every reference id the aggregator read from the database."""
    calls: list[int] = []

    def reference_by_id(_s: Any, reference_id: int) -> SimpleNamespace:
        calls.append(reference_id)
        return _stored(features=25, sample=5000)

    monkeypatch.setattr(aggregation.repository, "reference_by_id", reference_by_id)
    return calls


def test_a_tick_over_100_models_of_25_features_reads_each_reference_once(reads: list[int]) -> None:
    agg = Aggregator(None)
    for _tick in range(3):
        for reference_id in range(1, 101):
            assert len(agg.references(None, reference_id)) == 25  # type: ignore[arg-type]
    assert sorted(reads) == list(range(1, 101))


def test_the_cache_keeps_the_most_recent_within_its_bound_and_never_less_than_one(
    reads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    one = 1 + 25 * (5000 + 4)
    monkeypatch.setattr(aggregation, "MAX_CACHED_VALUES", 2 * one)
    agg = Aggregator(None)
    for reference_id in (1, 2, 1, 3):  # 3 pushes out 2, the least recently used
        agg.references(None, reference_id)  # type: ignore[arg-type]
    agg.references(None, 1)  # type: ignore[arg-type]
    agg.references(None, 2)  # type: ignore[arg-type]
    assert reads == [1, 2, 3, 2]
    monkeypatch.setattr(aggregation, "MAX_CACHED_VALUES", 1)
    agg.references(None, 4)  # type: ignore[arg-type]
    agg.references(None, 4)  # type: ignore[arg-type]
    assert reads[-1:] == [4] and reads.count(4) == 1  # one over the bound stays until the next arrives
