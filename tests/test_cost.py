"""Cost per inference: the SDK counts usage exactly on every call, the collector prices it with the spec.

The end-to-end test drives real `Monitor`s against a real collector process (SQLite and PostgreSQL) and
checks that `driftline_cost_total` equals the price table applied to what was sent, exactly (as fractions,
rounded once), and still does after a restart rebuilt the totals from storage.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk import MockTransport, Monitor, wire
from tests.conftest import Collector, start_collector
from tests.test_collector_api import sample

SPEC = """version: 1
models:
  - name: chat
    features:
      - {name: prompt_length, type: numeric}
    prediction: {type: regression}
    prices:
      currency: EUR
      gpu_second: 0.0011
      input_tokens_1k: 0.0005
      output_tokens_1k: 0.0015
      call: 0.00002
      versions:
        - {version: v2, gpu_second: 0.0009, output_tokens_1k: 0.0012}
"""
#: The price table above, written out again by hand: (call, GPU-second, 1k input, 1k output) per version.
PRICES = {"v1": (0.00002, 0.0011, 0.0005, 0.0015), "v2": (0.0, 0.0009, 0.0, 0.0012)}


def _expected(version: str, calls: int, seconds: float, tin: int, tout: int) -> float:
    call, gpu, pin, pout = (Fraction(p) for p in PRICES[version])
    return float(call * calls + gpu * Fraction(seconds) + pin * tin / 1000 + pout * tout / 1000)


class Ticks:
    """A timer that advances a fixed, exactly representable step per read: wall seconds known exactly."""

    def __init__(self, step: float) -> None:
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def _serve(mon: Monitor, rng: np.random.Generator, n: int, hostile: bool) -> tuple[int, float, int, int, int]:
    """n calls each reporting GPU-seconds and tokens (some of them bad when `hostile`); returns the calls,
    and the seconds and tokens that should have counted, and how many usages were bad."""
    seconds, tin, tout, bad = 0.0, 0, 0, 0
    for i in range(n):
        gpu = float(rng.integers(0, 640)) / 64  # multiples of 1/64: every sum is exact in binary
        a, b = int(rng.integers(0, 4000)), rng.integers(0, 900)  # b: a numpy integer, as a tokenizer gives
        good = not (hostile and i % 10 == 3)
        if not good:
            usage: dict[str, Any] = [
                {"input_tokens": -5},
                {"output_tokens": 2.5},
                {"gpu_seconds": math.nan},
                {"input_tokens": True},
                {"output_tokens": "12"},
                {"gpu_seconds": -1.0},
                {"input_tokens": wire.MAX_TOKENS_PER_CALL + 1},
            ][(i // 10) % 7]
            bad += 1
        else:
            usage = {"gpu_seconds": gpu, "input_tokens": a, "output_tokens": b}
            seconds, tin, tout = seconds + gpu, tin + a, tout + int(b)
        with mon.observe(features={"prompt_length": float(a)}) as obs:
            assert obs.usage(**usage) is good
            obs.predictions([1.0])
    return n, seconds, tin, tout, bad


def _metric(text: str, name: str, labels: str) -> float:
    return sample(text, name, labels)


def test_exported_cost_equals_the_price_table_applied_to_what_was_sent(db_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "chat.yaml"
    spec.write_text(SPEC)
    collector: Collector = start_collector(db_url, tmp_path, config=spec)
    rng = np.random.default_rng(20)
    try:
        sent: dict[str, tuple[int, float, int, int]] = {}
        common = {"collector": collector.url, "token": collector.ingest, "sample_rate": 0.0, "flush_interval": 0.05}
        v1 = Monitor("chat", "v1", **common)
        # v2 counts each call's wall seconds too (compute="wall"): its timer steps 0.125 s per read, so each
        # call lasts exactly 0.125 s of wall time on top of the GPU-seconds it reports
        v2 = Monitor("chat", "v2", compute="wall", timer=Ticks(0.125), **common)
        try:
            calls, seconds, tin, tout, bad = _serve(v1, rng, 300, hostile=True)
            assert v1.usage_dropped == bad == 30 and v1.internal_errors == 0
            sent["v1"] = (calls, seconds, tin, tout)
            calls, seconds, tin, tout, bad = _serve(v2, rng, 200, hostile=False)
            assert v2.usage_dropped == 0
            sent["v2"] = (calls, seconds + 0.125 * calls, tin, tout)
            assert v1.flush(timeout=30) and v2.flush(timeout=30)
        finally:
            v1.close(timeout=5)
            v2.close(timeout=5)

        def check(c: Collector) -> None:
            text = c.metrics()
            for version, (calls, seconds, tin, tout) in sent.items():
                mv = f'model="chat",version="{version}"'
                assert _metric(text, "driftline_compute_seconds_total", mv) == seconds
                assert _metric(text, "driftline_tokens_total", f'direction="input",{mv}') == tin
                assert _metric(text, "driftline_tokens_total", f'direction="output",{mv}') == tout
                cost = _metric(text, "driftline_cost_total", f'currency="EUR",{mv}')
                # exposition writes repr(float): the exact sum, rounded once, survives the text format
                assert cost == _expected(version, calls, seconds, tin, tout), version
                assert cost > 0

        check(collector)
        collector.stop()
        again = start_collector(
            collector.database_url, tmp_path, config=spec, port=collector.port,
            tokens=(collector.admin, collector.ingest, collector.read),
        )
        try:
            check(again)  # rebuilt from storage (table stats_usage), not lost on restart
        finally:
            again.stop()
    finally:
        collector.stop()


def test_bad_usage_is_dropped_counted_and_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    t = MockTransport()
    mon = Monitor("chat", "v1", transport=t, sample_rate=0.0)
    try:
        with mon.observe() as obs:
            assert obs.usage(input_tokens=-1, output_tokens=10) is False  # dropped whole: not the 10 either
        with mon.observe() as obs:
            assert obs.usage(gpu_seconds=math.inf) is False
        with mon.observe() as obs:
            assert obs.usage(gpu_seconds=np.float32(0.5), input_tokens=np.int64(7), output_tokens=3) is True
        assert mon.usage_dropped == 2
        assert mon.flush(timeout=5)
        stats = t.bodies(wire.STATS_PATH)
        assert sum(b.get("input_tokens", 0) for b in stats) == 7
        assert sum(b.get("output_tokens", 0) for b in stats) == 3
        assert sum(b.get("compute_seconds", 0) for b in stats) == 0.5
        assert sum(b["ok"] for b in stats) == 3  # the calls still count
        assert "usage dropped" in caplog.text and "input_tokens must be 0.." in caplog.text
    finally:
        mon.close(timeout=1)


def test_a_model_without_usage_sends_no_usage_fields() -> None:
    t = MockTransport()
    mon = Monitor("chat", "v1", transport=t, sample_rate=0.0)
    try:
        with mon.observe():
            pass
        assert mon.flush(timeout=5)
        (body,) = t.bodies(wire.STATS_PATH)
        assert not {"compute_seconds", "input_tokens", "output_tokens"} & body.keys()
    finally:
        mon.close(timeout=1)


def test_compute_must_be_reported_or_wall() -> None:
    with pytest.raises(ValueError, match="compute must be 'reported'"):
        Monitor("chat", "v1", transport=MockTransport(), compute="gpu")  # type: ignore[arg-type]
