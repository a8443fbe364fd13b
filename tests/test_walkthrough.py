"""A new user's first hour, exactly as the README tells it, against real processes: check the spec, start
the collector, upload a reference with the CLI, send traffic and labels through the SDK, read with
`driftline models`/`status` and the API (time filters, the cursor), render the report, and generate the
artifacts that promtool and amtool then accept. Each step is judged by what it prints."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from sdk import CollectorClient, Monitor
from sdk.client import next_cursor
from tests.conftest import EXAMPLES, ROOT, cli, free_port, http, missing

SPEC = EXAMPLES / "credit.yaml"


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        missing(name, f"apt-get install {package}")
    assert found is not None
    return found


def credit_rows(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, list[object]]:
    """Credit applications with the spec's features; `shift` moves income by that many standard deviations."""
    income = rng.normal(50 + 10 * shift, 10, n)
    debt = rng.beta(2, 5, n)
    score = 1 / (1 + np.exp(-(income - 50) / 10 + 3 * (debt - 0.3)))
    return {
        "income": income.round(2).tolist(),
        "age": rng.integers(18, 80, n).tolist(),
        "debt_ratio": debt.round(4).tolist(),
        "region": rng.choice(["EU", "US", "APAC"], n).tolist(),
        "email": [f"user{i}@example.com" for i in range(n)],
        "score": score.round(4).tolist(),
        "label": (rng.random(n) < score).astype(int).tolist(),
    }


def serve(tmp: Path, database_url: str) -> tuple[subprocess.Popen[bytes], str, dict[str, str], Path]:
    """`driftline serve --config examples/credit.yaml`, as the README starts it; its URL and printed tokens."""
    port, log = free_port(), tmp / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftline.cli", "serve", "--config", str(SPEC), "--port", str(port),
         "--database-url", database_url, "--evaluation-interval", "3600"],
        cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if http("GET", url + "/readyz", timeout=2)[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    tokens = dict(re.findall(r"^\s+(admin|ingest|read) token:\s+(dl_\S+)", log.read_text(), re.M))
    assert set(tokens) == {"admin", "ingest", "read"}, log.read_text()
    return proc, url, tokens, log


def test_the_readme_walkthrough_works_step_by_step(tmp_path: Path) -> None:
    promtool = tool("promtool", "prometheus")
    amtool = tool("amtool", "prometheus-alertmanager")
    rng = np.random.default_rng(2026)

    checked = cli("check", str(SPEC))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "credit" in checked.stdout and "error" not in checked.stdout.lower(), checked.stdout

    database_url = f"sqlite:///{tmp_path / 'driftline.db'}"
    proc, url, tokens, log = serve(tmp_path, database_url)
    try:
        # the reference, from a CSV of training rows with scores and labels: CBPE is calibrated from them
        train = tmp_path / "train.csv"
        rows = credit_rows(rng, 3000)
        with train.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(rows)
            w.writerows(zip(*rows.values(), strict=True))
        uploaded = cli("reference", "upload", str(train), "--config", str(SPEC), "--model", "credit",
                       "--collector", url, "--token", tokens["ingest"])  # fmt: skip
        assert uploaded.returncode == 0, uploaded.stderr
        assert "3,000 rows" in uploaded.stdout and "CBPE: calibrated" in uploaded.stdout, uploaded.stdout

        # traffic through the SDK as "Using it" shows it, income shifted by 3 sd, then the labels
        mon = Monitor(model="credit", version="v7", collector=url, token=tokens["ingest"], sample_rate=1.0,
                      redact=["email"], flush_interval=0.2)  # fmt: skip
        live = credit_rows(rng, 2000, shift=3.0)
        ids = [f"req-{i}" for i in range(2000)]
        for at in range(0, 2000, 100):
            features = {k: live[k][at : at + 100] for k in ("income", "age", "debt_ratio", "region", "email")}
            with mon.observe(ids=ids[at : at + 100], features=features,
                             slices={"region": live["region"][at : at + 100]}) as obs:  # fmt: skip
                scores = np.array(live["score"][at : at + 100])
                obs.predictions((scores >= 0.5).astype(int), scores=scores)
        mon.log_labels(ids=ids, labels=live["label"])
        assert mon.flush(timeout=30), "the SDK could not deliver everything"
        mon.close()
        assert http("POST", url + "/v1/evaluate", None, token=tokens["admin"])[0] == 200

        models = cli("models", "--collector", url, "--token", tokens["read"])
        assert models.returncode == 0, models.stderr
        row = r"^credit\s+default\s+v7\s+2,000\s+\d{4}-\d\d-\d\d \d\d:00:00\s+.*income.*accuracy 0\.\d{3} \["
        assert re.search(row, models.stdout, re.M), models.stdout
        status = cli("status", "credit", "--collector", url, "--token", tokens["read"])
        assert status.returncode == 0, status.stderr
        assert re.search(r"^  drift \(psi\): income \d+\.\d{3} ALERT", status.stdout, re.M), status.stdout
        assert re.search(r"^  estimated \(CBPE\): accuracy 0\.\d{3} \[", status.stdout, re.M), status.stdout
        assert re.search(r"^  SLO credit-availability \(99\.9% over 30d\): too early", status.stdout, re.M)

        # the API: a time filter, then every page of the same read through its cursors
        whole = http("GET", url + "/v1/models/credit/drift?metric=psi", token=tokens["read"])[1]
        start = whole[0]["window_start"]
        since = http("GET", url + f"/v1/models/credit/drift?metric=psi&since={quote(start)}", token=tokens["read"])[1]
        assert since and {p["window_start"] for p in since} == {start}
        client = CollectorClient.connect(url, tokens["read"])
        paged, cursor = [], None
        while True:
            query = {"metric": "psi", "limit": 2} | ({"cursor": cursor} if cursor else {})
            page = client.get("/v1/models/credit/drift", query)
            paged += page.json()
            cursor = next_cursor(page.header("Link"))
            if cursor is None:
                break
        assert paged == whole and len(whole) > 2

        report = cli("report", "--model", "credit", "--config", str(SPEC), "--database-url", database_url,
                     "--out", str(tmp_path / "report.html"))  # fmt: skip
        assert report.returncode == 0, report.stderr
        assert "report.html" in report.stdout, report.stdout
        page_text = (tmp_path / "report.html").read_text()
        assert "At a glance" in page_text and "income" in page_text and "Data quality" in page_text
    finally:
        proc.terminate()
        proc.wait(15)
    assert "Traceback" not in log.read_text(), log.read_text()

    out = tmp_path / "out"
    generated = cli("generate", str(SPEC), "--out", str(out))
    assert generated.returncode == 0, generated.stderr
    for rules in sorted((out / "prometheus").glob("*.yaml")):
        checked_rules = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
        assert checked_rules.returncode == 0 and "SUCCESS" in checked_rules.stdout, checked_rules.stdout
    am = subprocess.run([amtool, "check-config", str(out / "alertmanager" / "alertmanager.yml")],
                        capture_output=True, text=True)  # fmt: skip
    assert am.returncode == 0 and "SUCCESS" in am.stdout, am.stdout + am.stderr


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receivers' secrets, named by environment variable in the spec, as an operator exports them."""
    monkeypatch.setenv("PAGERDUTY_KEY", "walkthrough")
    monkeypatch.setenv("SLACK_WEBHOOK", "https://hooks.slack.example.com/walkthrough")
