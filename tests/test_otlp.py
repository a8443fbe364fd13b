"""OpenTelemetry in: the real opentelemetry-sdk with its OTLP/HTTP exporters, pointed at a real collector process.
GenAI spans become exact call counters, tokens, finish reasons and records; GenAI latency histograms (delta of
cumulative exports) equal what was recorded; malformed exports get a 4xx naming the problem."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from bisect import bisect_left
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from sqlalchemy import select

from collector import db
from sdk import wire
from tests.conftest import Collector, http, start_collector
from tests.test_collector_api import sample

SPEC = """version: 1
models:
  - name: chat
    features:
      - {name: gen_ai.usage.input_tokens, type: numeric}
      - {name: gen_ai.usage.output_tokens, type: numeric}
      - {name: gen_ai.request.temperature, type: numeric}
      - {name: prompt_chars, type: numeric}
    prediction: {type: multiclass}
"""
REASONS = ("stop", "length", "content_filter")
NOW_NS = time.time_ns() - 60 * 10**9


@pytest.fixture
def chat(db_url: str, tmp_path: Path) -> Any:
    spec = tmp_path / "chat.yaml"
    spec.write_text(SPEC)
    c = start_collector(db_url, tmp_path, config=spec)
    yield c
    c.stop()


def _spans(provider: TracerProvider, rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    """n chat spans as an instrumented LLM client records them; returns what each one said."""
    tracer = provider.get_tracer("genai-test")
    sent = []
    for i in range(n):
        tin, tout = int(rng.integers(1, 4000)), int(rng.integers(0, 800))
        reason = REASONS[int(rng.integers(0, 3))]
        failed = i % 17 == 3
        with tracer.start_as_current_span("chat gpt-4o") as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.request.temperature": 0.2,
                    "gen_ai.usage.input_tokens": tin,
                    "gen_ai.usage.output_tokens": tout,
                    "gen_ai.response.finish_reasons": [reason],
                    "driftline.feature.prompt_chars": 4 * tin,
                    "gen_ai.input.messages": "never stored: message content",
                }
            )
            if failed:
                span.set_status(Status(StatusCode.ERROR, "upstream 500"))
            sid = format(span.get_span_context().span_id, "016x")
        sent.append({"id": sid, "in": tin, "out": tout, "reason": reason, "failed": failed})
    with tracer.start_as_current_span("GET /health"):  # not a model call: ignored
        pass
    return sent


def test_genai_spans_through_the_otlp_exporter_become_exact_counters_and_records(chat: Collector) -> None:
    exporter = OTLPSpanExporter(
        endpoint=chat.url + wire.OTLP_TRACES_PATH, headers={"Authorization": f"Bearer {chat.ingest}"}
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "chat"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sent = _spans(provider, np.random.default_rng(7), 120)
    provider.shutdown()

    text = chat.metrics()
    v = 'model="chat",version="gpt-4o-2024-08-06"'
    failed = sum(s["failed"] for s in sent)
    calls = "driftline_predictions_total"
    assert sample(text, calls, 'model="chat",outcome="ok",version="gpt-4o-2024-08-06"') == len(sent) - failed
    assert sample(text, calls, 'model="chat",outcome="error",version="gpt-4o-2024-08-06"') == failed
    assert sample(text, "driftline_tokens_total", f'direction="input",{v}') == sum(s["in"] for s in sent)
    assert sample(text, "driftline_tokens_total", f'direction="output",{v}') == sum(s["out"] for s in sent)
    for reason in REASONS:
        want = sum(s["reason"] == reason for s in sent)
        labels = f'model="chat",reason="{reason}",version="gpt-4o-2024-08-06"'
        assert sample(text, "driftline_genai_finish_reasons_total", labels) == want
    assert sample(text, "driftline_prediction_latency_seconds_count", v) == len(sent)

    status, rows = chat.get("/v1/models/chat/records?limit=1000")
    assert status == 200, rows
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {s["id"] for s in sent}
    engine = db.make_engine(chat.database_url)
    try:
        with engine.connect() as conn:
            stored = {rid: f for rid, f in conn.execute(select(db.Record.record_id, db.Record.features))}
    finally:
        engine.dispose()
    for s in sent:
        assert by_id[s["id"]]["prediction"] == s["reason"]
        assert stored[s["id"]]["gen_ai.usage.input_tokens"] == s["in"]
        assert stored[s["id"]]["prompt_chars"] == 4 * s["in"]
    assert "never stored" not in json.dumps(stored)


def test_an_exporters_retry_is_stored_once_and_json_equals_protobuf(chat: Collector) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "chat", "service.version": "v2"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    for tokens in (10, 20):
        with tracer.start_as_current_span("embeddings") as span:
            span.set_attributes({"gen_ai.operation.name": "embeddings", "gen_ai.usage.input_tokens": tokens})
    body = encode_spans(memory.get_finished_spans()).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf"}
    for _ in range(2):  # the exporter retries after a timeout: the same bytes again
        status, _ = http("POST", chat.url + wire.OTLP_TRACES_PATH, token=chat.ingest, raw=body, headers=headers)
        assert status == 200
    text = chat.metrics()
    assert sample(text, "driftline_tokens_total", 'direction="input",model="chat",version="v2"') == 30

    # the same spans as OTLP/JSON (hex ids), as another model version
    doc = json_format.MessageToDict(encode_spans(memory.get_finished_spans()))
    for rs in doc["resourceSpans"]:
        for kv in rs["resource"]["attributes"]:
            if kv["key"] == "service.version":
                kv["value"] = {"stringValue": "v3"}
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                for k in ("traceId", "spanId"):
                    sp[k] = base64.b64decode(sp[k]).hex()
    status, answer = chat.post(wire.OTLP_TRACES_PATH, doc)
    assert status == 200, answer
    assert sample(chat.metrics(), "driftline_tokens_total", 'direction="input",model="chat",version="v3"') == 30


def _ttft_hist(values: list[float]) -> list[int]:
    counts = [0] * (len(wire.GENAI_TTFT_BOUNDS) + 1)
    for x in values:
        counts[bisect_left(wire.GENAI_TTFT_BOUNDS, x)] += 1
    return [sum(counts[: i + 1]) for i in range(len(counts))]


def test_genai_latency_metrics_cumulative_exports_become_exact_histograms(chat: Collector) -> None:
    exporter = OTLPMetricExporter(
        endpoint=chat.url + wire.OTLP_METRICS_PATH, headers={"Authorization": f"Bearer {chat.ingest}"}
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "chat"}))
    meter = provider.get_meter("genai-test")
    ttft = meter.create_histogram(
        "gen_ai.server.time_to_first_token", unit="s", explicit_bucket_boundaries_advisory=wire.GENAI_TTFT_BOUNDS
    )
    tpot = meter.create_histogram(
        "gen_ai.server.time_per_output_token", unit="s", explicit_bucket_boundaries_advisory=wire.GENAI_TPOT_BOUNDS
    )
    rng = np.random.default_rng(3)
    firsts: list[float] = []
    attrs = {"gen_ai.response.model": "llama-3.1-8b"}
    for _ in range(3):  # three cumulative exports: each counts only what is new
        for x in rng.exponential(0.3, 50):
            ttft.record(float(x), attrs)
            firsts.append(float(x))
        tpot.record(0.02, attrs)
        assert reader.force_flush(10_000)
    provider.shutdown()
    text = chat.metrics()
    v = 'model="chat",version="llama-3.1-8b"'
    got = [
        sample(text, "driftline_genai_time_to_first_token_seconds_bucket", f'le="{le}",{v}')
        for le in [*map(repr, wire.GENAI_TTFT_BOUNDS), "+Inf"]
    ]
    assert got == _ttft_hist(firsts)
    assert sample(text, "driftline_genai_time_to_first_token_seconds_sum", v) == pytest.approx(sum(firsts))
    assert sample(text, "driftline_genai_time_per_output_token_seconds_count", v) == 3


def test_genai_histograms_survive_a_restart(db_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "chat.yaml"
    spec.write_text(SPEC)
    first = start_collector(db_url, tmp_path, config=spec)
    reader = InMemoryMetricReader()
    try:
        provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "chat"}))
        h = provider.get_meter("m").create_histogram(
            "gen_ai.server.time_to_first_token", explicit_bucket_boundaries_advisory=wire.GENAI_TTFT_BOUNDS
        )
        for x in (0.003, 0.2, 9.0, 12.0):
            h.record(x, {"gen_ai.request.model": "small"})
        data = reader.get_metrics_data()
        assert data is not None
        body = encode_metrics(data).SerializeToString()
        status, _ = http(
            "POST", first.url + wire.OTLP_METRICS_PATH, token=first.ingest, raw=body,
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert status == 200
        before = first.metrics()
        first.stop()
        second = start_collector(
            db_url, tmp_path, config=spec, tokens=(first.admin, first.ingest, first.read)
        )
        try:
            after = second.metrics()
        finally:
            second.stop()
    finally:
        first.stop()
    for text in (before, after):
        ttft = "driftline_genai_time_to_first_token_seconds"
        assert sample(text, f"{ttft}_count", 'model="chat",version="small"') == 4
        assert sample(text, f"{ttft}_bucket", 'le="10.0",model="chat",version="small"') == 3


def _span_doc(attributes: list[dict[str, Any]], service: str = "chat") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "chat",
                                "startTimeUnixNano": str(NOW_NS),
                                "endTimeUnixNano": str(NOW_NS + 5 * 10**8),
                                "attributes": attributes,
                            }
                        ]
                    }
                ],
            }
        ]
    }


def test_malformed_exports_get_a_4xx_naming_the_problem(chat: Collector) -> None:
    url = chat.url + wire.OTLP_TRACES_PATH
    proto = {"Content-Type": "application/x-protobuf"}
    status, body = http("POST", url, token=chat.ingest, raw=b"\xff\xff\xff garbage", headers=proto)
    assert status == 400 and "ExportTraceServiceRequest" in json.dumps(body)
    status, body = http("POST", url, token=chat.ingest, raw=b"x", headers={"Content-Type": "text/plain"})
    assert status == 415 and "application/x-protobuf" in json.dumps(body)
    status, body = chat.post(wire.OTLP_TRACES_PATH, None, raw=b"{not json")
    assert status == 400 and "not JSON" in json.dumps(body)
    tokens = [{"key": "gen_ai.usage.input_tokens", "value": {"stringValue": "12"}}]
    status, body = chat.post(wire.OTLP_TRACES_PATH, _span_doc(tokens))
    assert status == 422 and "gen_ai.usage.input_tokens" in json.dumps(body)
    bad_id = _span_doc([{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}])
    bad_id["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = "zz"
    status, body = chat.post(wire.OTLP_TRACES_PATH, bad_id)
    assert status == 400 and "spanId" in json.dumps(body)
    ok_attrs = [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]
    status, body = chat.post(wire.OTLP_TRACES_PATH, _span_doc(ok_attrs, service="nope"))
    assert status == 422 and "'nope' is not registered" in json.dumps(body)
    version = [*ok_attrs, {"key": "gen_ai.response.model", "value": {"stringValue": "meta/llama 3"}}]
    status, body = chat.post(wire.OTLP_TRACES_PATH, _span_doc(version))
    assert status == 422 and "driftline.version" in json.dumps(body)
    reasons = [*ok_attrs, {"key": "gen_ai.response.finish_reasons", "value": {"stringValue": "no way!"}}]
    status, body = chat.post(wire.OTLP_TRACES_PATH, _span_doc(reasons))
    assert status == 422 and "finish_reasons" in json.dumps(body)
    status, body = http("POST", url, raw=b"", headers=proto)
    assert status == 401
    unnamed = _span_doc(ok_attrs)
    unnamed["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["events"] = [
        {"name": "gen_ai.evaluation.result", "timeUnixNano": str(NOW_NS),
         "attributes": [{"key": "gen_ai.evaluation.score.label", "value": {"stringValue": "pass"}}]}
    ]
    status, body = chat.post(wire.OTLP_TRACES_PATH, unnamed)
    assert status == 422 and "gen_ai.evaluation.name" in json.dumps(body), body
    status, body = chat.post(wire.OTLP_TRACES_PATH, _span_doc(ok_attrs))
    assert status == 200, body
    exp = {"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "chat"}}]},
           "scopeMetrics": [{"metrics": [{"name": "gen_ai.server.time_to_first_token",
                                          "exponentialHistogram": {"dataPoints": [{"count": "1"}]}}]}]}]}
    status, body = chat.post(wire.OTLP_METRICS_PATH, exp)
    assert status == 422 and "explicit-bucket" in json.dumps(body)


def test_evaluation_events_on_spans_become_judge_verdicts_that_humans_can_be_compared_with(chat: Collector) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "chat", "service.version": "v9"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("judge")
    verdicts = {}
    for i, label in enumerate(["pass", "Fail", "pass", "relevant"]):
        with tracer.start_as_current_span("chat") as span:
            span.set_attributes({"gen_ai.operation.name": "chat", "driftline.record_id": f"q-{i}"})
            span.add_event(
                "gen_ai.evaluation.result",
                {"gen_ai.evaluation.name": "groundedness", "gen_ai.evaluation.score.label": label,
                 "gen_ai.evaluation.score.value": 0.5},
            )
        verdicts[f"q-{i}"] = label.lower()
    req = urllib.request.Request(
        chat.url + wire.OTLP_TRACES_PATH,
        data=encode_spans(memory.get_finished_spans()).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {chat.ingest}"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # the answer is protobuf, in the request's encoding
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/x-protobuf"
        response = ExportTraceServiceResponse()
        response.ParseFromString(resp.read())
    assert "1 gen_ai.evaluation.result event" in response.partial_success.error_message
    # a reviewer judged two of the same answers: one agrees with the judge, one does not
    human = [{"id": "q-0", "name": "groundedness", "source": "human", "passed": True},
             {"id": "q-1", "name": "groundedness", "source": "human", "passed": True}]
    assert chat.post(wire.EVALS_PATH, {"model": "chat", "evals": human})[0] == 200
    text = chat.metrics()
    g = 'model="chat",name="groundedness"'
    assert sample(text, "driftline_genai_evals_total", f'{g},source="judge",verdict="pass",version="v9"') == 2
    assert sample(text, "driftline_genai_evals_total", f'{g},source="judge",verdict="fail",version="v9"') == 1
    assert sample(text, "driftline_genai_eval_agreement_total", f'{g},outcome="agree",version="v9"') == 1
    assert sample(text, "driftline_genai_eval_agreement_total", f'{g},outcome="disagree",version="v9"') == 1
