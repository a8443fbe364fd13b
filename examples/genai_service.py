"""A generative-model service reporting to Driftline, two ways (spec: examples/assistant.yaml).

    driftline serve --config examples/assistant.yaml          # prints an ingest token
    python examples/genai_service.py --via sdk  --collector http://127.0.0.1:8650 --token dl_...
    python examples/genai_service.py --via otel --collector http://127.0.0.1:8650 --token dl_...

``--via sdk`` records each call with `sdk.llm_call` (tokens, time to first token, time per output token,
finish reason, text descriptors). ``--via otel`` is a service already instrumented with OpenTelemetry: its
GenAI spans and time-to-first-token histogram go to the collector's OTLP/HTTP receiver, no Driftline SDK
(needs ``pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http``). The "LLM" is a stub that
streams a canned answer with a few milliseconds per token, so the example runs anywhere in seconds.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sdk import Monitor, llm_call

PROMPTS = [
    "How do I reset my password? The link in the e-mail does not work.",
    "¿Puedo cambiar la dirección de envío de mi pedido después de pagar?",
    "Please send the invoice to jane.doe@example.com and cancel the order.",
    "Explain the difference between the basic and the premium plan.",
]
ANSWERS = {
    "stop": "You can do that from Settings, then Account; the change applies at once.",
    "length": "There are several things to consider here, starting with the plan you are on and",
    "content_filter": "I'm sorry, but I can't help with that request.",
}


def stream(prompt: str, rng: random.Random) -> tuple[str, Iterator[str]]:
    """The stub LLM: its finish reason and its streamed tokens, the first after a short wait."""
    reason = rng.choices(list(ANSWERS), weights=[90, 7, 3])[0]

    def tokens() -> Iterator[str]:
        time.sleep(rng.uniform(0.005, 0.03))  # time to first token
        for i, word in enumerate(ANSWERS[reason].split()):
            if i:
                time.sleep(rng.uniform(0.0005, 0.002))  # time per output token
            yield word + " "

    return reason, tokens()


def via_sdk(collector: str, token: str, calls: int, rng: random.Random) -> None:
    """Every call through `sdk.llm_call`; a tenth of them sampled as records."""
    with Monitor("assistant", "gpt-4o-2024-08-06", collector=collector, token=token, sample_rate=0.1) as mon:
        for _ in range(calls):
            prompt = rng.choice(PROMPTS)
            with llm_call(mon, request_model="gpt-4o", prompt=prompt) as call:
                parts: list[str] = []
                reason, tokens = stream(prompt, rng)
                for i, tok in enumerate(tokens):
                    if i == 0:
                        call.first_token()
                    parts.append(tok)
                call.response("".join(parts), input_tokens=len(prompt) // 4, output_tokens=len(parts),
                              finish_reason=reason, response_model="gpt-4o-2024-08-06")
        mon.flush(10)


def via_otel(collector: str, token: str, calls: int, rng: random.Random) -> None:
    """The same calls as OpenTelemetry GenAI spans and a time-to-first-token histogram, over OTLP/HTTP."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter,  # optional: otel mode
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # optional: otel mode
    from opentelemetry.sdk.metrics import MeterProvider  # optional: otel mode
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader  # optional: otel mode
    from opentelemetry.sdk.resources import Resource  # optional: otel mode
    from opentelemetry.sdk.trace import TracerProvider  # optional: otel mode
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # optional: otel mode

    headers = {"Authorization": f"Bearer {token}"}
    resource = Resource.create({"service.name": "assistant"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{collector}/v1/otlp/v1/traces", headers=headers))
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{collector}/v1/otlp/v1/metrics", headers=headers), export_interval_millis=5000
    )
    meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
    tracer = tracer_provider.get_tracer("genai_service")
    ttft = meter_provider.get_meter("genai_service").create_histogram(
        "gen_ai.server.time_to_first_token", unit="s",
        explicit_bucket_boundaries_advisory=[0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                                             1.0, 2.5, 5.0, 7.5, 10.0],
    )
    for _ in range(calls):
        prompt = rng.choice(PROMPTS)
        with tracer.start_as_current_span("chat gpt-4o") as span:
            start, parts = time.perf_counter(), []
            reason, tokens = stream(prompt, rng)
            for i, tok in enumerate(tokens):
                if i == 0:
                    ttft.record(time.perf_counter() - start, {"gen_ai.response.model": "gpt-4o-2024-08-06"})
                parts.append(tok)
            span.set_attributes({
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": len(prompt) // 4,
                "gen_ai.usage.output_tokens": len(parts),
                "gen_ai.response.finish_reasons": [reason],
                "driftline.feature.prompt_chars": len(prompt),
            })
    tracer_provider.shutdown()
    meter_provider.shutdown()


def main() -> None:
    """Send ``--calls`` stub LLM calls to a collector, through the SDK or OpenTelemetry."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--via", choices=["sdk", "otel"], default="sdk")
    parser.add_argument("--collector", default="http://127.0.0.1:8650")
    parser.add_argument("--token", required=True, help="an ingest token")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    (via_sdk if args.via == "sdk" else via_otel)(args.collector, args.token, args.calls, rng)
    print(f"sent {args.calls} LLM calls via {args.via}; see {args.collector}/metrics (driftline_genai_*)")


if __name__ == "__main__":
    main()
