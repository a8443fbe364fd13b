"""The SDK's LLM calls (`sdk.genai.llm_call`) against a real collector: every call counted like observe's
calls, tokens, time to first token, time per output token and finish reasons exact on /metrics; sampled calls
stored as records whose features describe the prompt and response without their text."""

from __future__ import annotations

import json
from bisect import bisect_left
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from collector import db
from sdk import Monitor, llm_call, wire
from sdk.genai import descriptors, is_refusal, language
from tests.conftest import start_collector
from tests.test_collector_api import sample

SPEC = """version: 1
models:
  - name: assistant
    features:
      - {name: prompt_chars, type: numeric}
      - {name: response_chars, type: numeric}
      - {name: prompt_language, type: categorical}
    prediction: {type: multiclass}
slos:
  - {name: assistant-first-token, model: assistant, sli: time_to_first_token, threshold_ms: 1000, objective: 90}
"""
REASONS = ("stop", "length", "tool_calls")
PROMPTS = (
    "How can I reset the password of my account? It is not working",
    "¿Cómo puedo cambiar la dirección de envío de mi pedido para la semana que viene?",
    "Write to jane.doe@example.com that the invoice is late",
)


def _cumulative(values: list[float], bounds: tuple[float, ...]) -> list[int]:
    counts = [0] * (len(bounds) + 1)
    for v in values:
        counts[bisect_left(bounds, v)] += 1
    return [sum(counts[: i + 1]) for i in range(len(counts))]


def test_llm_calls_reach_metrics_exactly_and_sampled_ones_are_described_records(db_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "assistant.yaml"
    spec.write_text(SPEC)
    collector = start_collector(db_url, tmp_path, config=spec)
    now = [1000.0]
    rng = np.random.default_rng(11)
    ttfts: list[float] = []
    tpots: list[float] = []
    reasons: list[str] = []
    tokens_in = tokens_out = 0
    try:
        mon = Monitor(
            "assistant", "v1", collector=collector.url, token=collector.ingest, sample_rate=1.0,
            flush_interval=0.05, timer=lambda: now[0],  # a manual clock: every duration is known exactly
        )
        try:
            for i in range(60):
                tin, tout = int(rng.integers(5, 500)), int(rng.integers(1, 300))
                reason = REASONS[i % 3]
                start = now[0]
                embedding = [float(x) for x in rng.normal(size=4)]
                with llm_call(mon, request_model="gpt-4o", prompt=PROMPTS[i % 3], id=f"call-{i}",
                              features={"prompt_embedding": embedding}) as call:
                    now[0] += float(rng.uniform(0.01, 3.0))
                    first = now[0]
                    call.first_token()
                    now[0] += float(rng.uniform(0.005, 0.2)) * (tout - 1)
                    text = "I'm sorry, but I can't help with that." if i % 10 == 0 else "Sure: here is how."
                    call.response(text, input_tokens=tin, output_tokens=tout, finish_reason=reason,
                                  response_model="gpt-4o-2024-08-06")
                ttfts.append(first - start)
                if tout >= 2:
                    tpots.append((now[0] - first) / (tout - 1))
                reasons.append(reason)
                tokens_in, tokens_out = tokens_in + tin, tokens_out + tout
            with pytest.raises(RuntimeError), llm_call(mon, prompt="boom") as call:  # the caller's error
                raise RuntimeError("upstream 500")
            with llm_call(mon, prompt="x") as call:
                call.response(finish_reason="not a reason!")  # dropped and counted, never raised
            assert mon.usage_dropped == 1 and mon.internal_errors == 0
            assert mon.flush(timeout=30)
        finally:
            mon.close(timeout=5)
        text_ = collector.metrics()
        v = 'model="assistant",version="v1"'
        got = [
            sample(text_, "driftline_genai_time_to_first_token_seconds_bucket", f'le="{le}",{v}')
            for le in [*map(repr, wire.GENAI_TTFT_BOUNDS), "+Inf"]
        ]
        assert got == _cumulative(ttfts, wire.GENAI_TTFT_BOUNDS)
        assert sample(text_, "driftline_genai_time_per_output_token_seconds_count", v) == len(tpots)
        assert sample(text_, "driftline_genai_time_per_output_token_seconds_sum", v) == pytest.approx(sum(tpots))
        for reason in REASONS:
            want = reasons.count(reason)
            labels = f'model="assistant",reason="{reason}",version="v1"'
            assert sample(text_, "driftline_genai_finish_reasons_total", labels) == want
        assert sample(text_, "driftline_tokens_total", f'direction="input",{v}') == tokens_in
        assert sample(text_, "driftline_tokens_total", f'direction="output",{v}') == tokens_out
        assert sample(text_, "driftline_predictions_total", 'model="assistant",outcome="ok",version="v1"') == 61
        assert sample(text_, "driftline_predictions_total", 'model="assistant",outcome="error",version="v1"') == 1

        # the collector's own count of the first-token SLO (GET /v1/slos) equals the calls slower than 1 s
        status, slos = collector.get(wire.SLOS_PATH)
        assert status == 200, slos
        (first_token,) = [x for x in slos if x["name"] == "assistant-first-token"]
        assert first_token["computed_by"] == "collector"
        assert first_token["error_ratio"] == pytest.approx(sum(t > 1.0 for t in ttfts) / len(ttfts))

        engine = db.make_engine(collector.database_url)
        try:
            with engine.connect() as conn:
                rows = {r: (f, p) for r, f, p in conn.execute(
                    select(db.Record.record_id, db.Record.features, db.Record.prediction)
                )}
        finally:
            engine.dispose()
        assert {f"call-{i}" for i in range(60)} <= set(rows)
        features, prediction = rows["call-0"]
        assert prediction == "stop"
        assert features["prompt_chars"] == len(PROMPTS[0]) and features["prompt_language"] == "en"
        assert len(features["prompt_embedding"]) == 4  # an embedding feature: multivariate drift reads it
        assert features["response_refusal"] is True and features["gen_ai.response.model"] == "gpt-4o-2024-08-06"
        assert rows["call-1"][0]["prompt_language"] == "es" and rows["call-1"][0]["response_refusal"] is False
        assert rows["call-2"][0]["prompt_pii"] is True and rows["call-1"][0]["prompt_pii"] is False
        stored = json.dumps(rows)
        assert "jane.doe" not in stored and "password" not in stored  # descriptors only, never the text
    finally:
        collector.stop()


def test_descriptors_of_texts() -> None:
    assert language("Das ist nicht was ich wollte, und die Antwort ist falsch") == "de"
    assert language("これは日本語の文です") == "ja"
    assert language("ok") == "unknown"
    assert is_refusal("As an AI, I cannot provide that.") and not is_refusal("Here you go.")
    d = descriptors("response", "Call me at +1 415 555 0100")
    assert d["response_pii"] is True and d["response_chars"] == 26
    assert descriptors("prompt", None) == {}


def test_a_disabled_monitor_records_nothing() -> None:
    mon = Monitor("assistant", enabled=False)
    with llm_call(mon, prompt="hi") as call:
        call.first_token()
        call.response("hello", output_tokens=3, finish_reason="stop")
    assert mon._buffers.genai == {} and mon._buffers.ok == 0
