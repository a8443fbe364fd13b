"""End to end: SDK errors → collector /metrics → real Prometheus with the generated rules → real
Alertmanager with the generated config → the page arrives at the pager's webhook.

Windows are scaled down with the spec's documented per-SLO override (`alerting.windows`): a 1-minute
long window and a 20-second short one instead of 1h/5m, Prometheus scraping and evaluating every second.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from alerting import Timing, build_config
from driftline.generate import generate
from sdk import Monitor
from slo.writer import dump_yaml
from spec import load_spec_text
from tests.conftest import Capture, free_port, missing, start_collector

SPEC = """\
models:
  - name: credit
    features: [{name: income, type: numeric}]
    prediction: {type: binary}
slos:
  - name: credit-availability
    model: credit
    sli: availability
    objective: 99
    window: 30d
    alerting:
      windows:
        - {severity: page, long: 1m, short: 20s, factor: 14.4}
      min_events: 50
alerting:
  receivers:
    - {name: oncall, pagerduty: {routing_key_env: PD_KEY, url: "BASE/pagerduty"}}
    - {name: ml-team, slack: {webhook_url_env: SLACK_URL}}
  page: oncall
  ticket: ml-team
  secrets_dir: SECRETS
  runbook_base_url: https://git.example.com/driftline/blob/main/docs/runbooks/
grafana: {url: "https://grafana.example.com"}
"""


def _ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(150):
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(log.read_text())


@pytest.mark.slow
def test_sdk_errors_page_the_pager_through_prometheus_and_alertmanager(
    tmp_path: Path,
    capture: tuple[Capture, str],
) -> None:
    prometheus = shutil.which("prometheus")
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not prometheus or not alertmanager:
        missing("prometheus and alertmanager", "apt-get install prometheus prometheus-alertmanager")
    assert prometheus and alertmanager  # missing() skipped or failed otherwise
    cap, base = capture
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "PD_KEY").write_text("e2e-key")
    (secrets / "SLACK_URL").write_text(f"{base}/slack")
    spec_file = tmp_path / "driftline.yaml"
    spec_file.write_text(SPEC.replace("BASE", base).replace("SECRETS", str(secrets)))
    spec = load_spec_text(spec_file.read_text())
    out = tmp_path / "out"
    rule_files = [str(p) for p in generate(spec, out) if "prometheus" in p.parts]

    collector = start_collector(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, config=spec_file)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        am_port, prom_port = free_port(), free_port()
        am_cfg = tmp_path / "alertmanager.yml"
        am_cfg.write_text(
            dump_yaml(build_config(spec.alerting, Timing(group_wait="1s", group_interval="1s")))
        )
        am_log = tmp_path / "am.log"
        procs.append(subprocess.Popen(
            [alertmanager, f"--config.file={am_cfg}", f"--storage.path={tmp_path / 'am'}",
             f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
            stdout=am_log.open("wb"), stderr=subprocess.STDOUT,
        ))  # fmt: skip
        _ready(f"http://127.0.0.1:{am_port}/-/ready", procs[-1], am_log)

        prom_cfg = tmp_path / "prometheus.yml"
        prom_cfg.write_text(dump_yaml({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": rule_files,
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [{"job_name": "driftline-collector",
                                "static_configs": [{"targets": [f"127.0.0.1:{collector.port}"]}]}],
        }))  # fmt: skip
        prom_log = tmp_path / "prometheus.log"
        procs.append(subprocess.Popen(
            [prometheus, f"--config.file={prom_cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=prom_log.open("wb"), stderr=subprocess.STDOUT,
        ))  # fmt: skip
        _ready(f"http://127.0.0.1:{prom_port}/-/ready", procs[-1], prom_log)

        mon = Monitor(model="credit", version="v1", collector=collector.url, token=collector.ingest,
                      sample_rate=0.0, flush_interval=0.2)  # fmt: skip
        stop = threading.Event()

        def traffic() -> None:
            i = 0
            while not stop.is_set():
                try:
                    with mon.observe(ids=[f"r{i}"], features={"income": 1.0}):
                        if i % 2:  # half the calls fail: 50x the 1% budget, over the 14.4x page threshold
                            raise RuntimeError("model failed")
                except RuntimeError:
                    pass
                i += 1
                time.sleep(0.005)

        worker = threading.Thread(target=traffic, daemon=True)
        worker.start()
        try:
            page = cap.wait_for(
                "/pagerduty",
                lambda b: "CreditAvailabilityErrorBudgetBurn" in b["payload"]["summary"],
                timeout=150,
            )
        finally:
            stop.set()
            worker.join(5)
            mon.close(timeout=2)
        assert page["routing_key"] == "e2e-key" and page["event_action"] == "trigger"
        assert page["payload"]["severity"] == "critical"
        details = page["payload"]["custom_details"]
        assert details["runbook"] == (
            "https://git.example.com/driftline/blob/main/docs/runbooks/DriftlineErrorBudgetBurn.md#availability"
        )
        assert details["dashboard"] == (
            "https://grafana.example.com/d/driftline-slos/driftline-slos?var-model=credit&var-slo=credit-availability"
        )
        assert not any("ErrorBudgetBurn" in b["attachments"][0]["title"] for b in cap.on("/slack"))
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        collector.stop()
