"""examples/genai_service.py against a real collector on examples/assistant.yaml: the SDK way and the
OpenTelemetry way each count every call, its finish reason and its time to first token."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, ROOT, start_collector
from tests.test_collector_api import sample


def test_the_generative_model_example_reports_through_the_sdk_and_through_opentelemetry(tmp_path: Path) -> None:
    collector = start_collector(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, config=EXAMPLES / "assistant.yaml")
    try:
        for via in ("sdk", "otel"):
            done = subprocess.run(
                [sys.executable, str(EXAMPLES / "genai_service.py"), "--via", via, "--calls", "30",
                 "--collector", collector.url, "--token", collector.ingest],
                capture_output=True, text=True, timeout=120, cwd=ROOT,
            )
            assert done.returncode == 0, done.stderr
            assert f"sent 30 LLM calls via {via}" in done.stdout
        text = collector.metrics()
        v = 'model="assistant",version="gpt-4o-2024-08-06"'
        calls = 'model="assistant",outcome="ok",version="gpt-4o-2024-08-06"'
        assert sample(text, "driftline_predictions_total", calls) == 60
        assert sample(text, "driftline_genai_time_to_first_token_seconds_count", v) == 60
        reasons = sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith("driftline_genai_finish_reasons_total{")
        )
        assert reasons == 60
        assert sample(text, "driftline_cost_total", f'currency="USD",{v}') > 0
    finally:
        collector.stop()
