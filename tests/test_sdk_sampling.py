"""Deterministic sampling by record id: stable across monitors and processes, uniform, shared by labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk import MockTransport, Monitor, is_sampled, stable_hash, wire
from sdk.sampling import HASH_SPACE, new_ids, sampled_indices, threshold

ROOT = Path(__file__).resolve().parent.parent
FAST = {"flush_interval": 0.05, "initial_backoff": 0.01, "max_backoff": 0.05}


@pytest.fixture
def make():
    """Build monitors on a recording MockTransport and close them after the test."""
    made: list[Monitor] = []

    def build(rate: float, **kw: Any) -> Monitor:
        mon = Monitor("credit", "v7", transport=MockTransport(), sample_rate=rate, **FAST, **kw)
        made.append(mon)
        return mon

    yield build
    for mon in made:
        mon.close(1.0)


def shipped(mon: Monitor, path: str, key: str) -> list[dict[str, Any]]:
    transport = mon._transport
    assert isinstance(transport, MockTransport)
    return [item for body in transport.bodies(path) for item in body[key]]


def test_the_hash_of_a_known_id_is_pinned_so_other_languages_can_reproduce_it():
    # CRC-32 (IEEE) of the UTF-8 bytes times 0x9E3779B1, modulo 2**32.
    assert stable_hash("req-1") == 2698180065
    assert stable_hash("user-42") == 965272195
    assert stable_hash(12345) == stable_hash("12345") == 2970118492


def test_the_hash_is_the_same_in_a_process_with_another_hash_seed():
    ids = [f"req-{i}" for i in range(50)] + ["ünïcødé-🙂"]
    code = "import sys, json, sdk; print(json.dumps([sdk.stable_hash(i) for i in json.load(sys.stdin)]))"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}

    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(ids),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(out.stdout) == [stable_hash(i) for i in ids]


@pytest.mark.parametrize("rate", [0.001, 0.01, 0.1, 0.5], ids=lambda r: f"rate {r}")
def test_the_sampled_share_of_100k_sequential_ids_is_within_five_percent_of_the_rate(rate):
    ids = [f"req-{i}" for i in range(1, 100_001)]
    share = len(sampled_indices(ids, threshold(rate))) / len(ids)
    tolerance = 0.15 if rate < 0.01 else 0.05  # 100 expected hits at 0.1 %: allow for ~1.5 sigma
    assert abs(share / rate - 1) < tolerance


def test_the_sampled_share_is_uniform_for_numeric_and_uuid_ids_too():
    numeric = [str(10**9 + i) for i in range(50_000)]
    uuids = new_ids(50_000)
    for ids in (numeric, uuids):
        share = len(sampled_indices(ids, threshold(0.1))) / len(ids)
        assert abs(share / 0.1 - 1) < 0.05


def test_rates_zero_and_one_sample_exactly_nothing_and_everything():
    ids = [f"req-{i}" for i in range(10_000)]
    assert sampled_indices(ids, threshold(0.0)) == []
    assert sampled_indices(ids, threshold(1.0)) == list(range(10_000))
    assert threshold(1.0) == HASH_SPACE
    assert all(is_sampled(i, 1.0) and not is_sampled(i, 0.0) for i in ids[:100])


@settings(derandomize=True, max_examples=200)
@given(st.text(min_size=1, max_size=40), st.floats(0, 1), st.floats(0, 1))
def test_an_id_sampled_at_one_rate_is_sampled_at_every_higher_rate(record_id, a, b):
    low, high = sorted((a, b))
    if is_sampled(record_id, low):
        assert is_sampled(record_id, high)


def test_two_monitors_sample_the_same_ids_one_row_at_a_time_and_in_batches(make):
    ids = [f"req-{i}" for i in range(2000)]
    one, batch = make(0.1), make(0.1)
    for rid in ids:
        with one.observe(ids=[rid], features={"x": 1}) as obs:
            obs.predictions([1])
    with batch.observe(ids=ids, features={"x": [1] * len(ids)}) as obs:
        obs.predictions([1] * len(ids))
    assert one.flush(5.0) and batch.flush(5.0)
    a = {r["id"] for r in shipped(one, wire.RECORDS_PATH, "records")}
    b = {r["id"] for r in shipped(batch, wire.RECORDS_PATH, "records")}
    assert a == b == {i for i in ids if is_sampled(i, 0.1)}
    assert 150 < len(a) < 250


def test_labels_sent_later_by_another_monitor_are_exactly_those_of_the_sampled_records(make):
    ids = [f"req-{i}" for i in range(3000)]
    serving, labeller = make(0.05), make(0.05)
    for k in range(0, len(ids), 100):
        chunk = ids[k : k + 100]
        with serving.observe(ids=chunk, features={"x": list(range(100))}) as obs:
            obs.predictions([0] * 100)
    queued = labeller.log_labels(ids=ids, labels=[i % 2 for i in range(len(ids))])
    assert serving.flush(5.0) and labeller.flush(5.0)
    records = {r["id"] for r in shipped(serving, wire.RECORDS_PATH, "records")}
    labels = shipped(labeller, wire.LABELS_PATH, "labels")
    assert {lab["id"] for lab in labels} == records
    assert queued == len(labels) == len(records)
    assert all(lab["label"] == int(lab["id"].split("-")[1]) % 2 for lab in labels)


def test_calls_without_ids_get_uuid4_hex_ids_that_are_sampled_by_rate(make):
    everything = make(1.0)
    with everything.observe(features={"x": [1, 2, 3]}) as obs:
        obs.predictions([0, 1, 0])
    generated = list(obs.ids or [])
    assert len(generated) == 3
    assert all(uuid.UUID(hex=i).version == 4 and uuid.UUID(hex=i).hex == i for i in generated)
    assert everything.flush(5.0)
    assert [r["id"] for r in shipped(everything, wire.RECORDS_PATH, "records")] == generated

    half = make(0.5)
    with half.observe(features={"x": list(range(4000))}) as obs:
        pass
    assert set(obs.sampled_ids) == {i for i in obs.ids or [] if is_sampled(i, 0.5)}
    assert 1800 < len(obs.sampled_ids) < 2200
