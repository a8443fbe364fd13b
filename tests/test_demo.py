"""`driftline demo` end to end: a real collector, a real model served through the SDK, a drift table."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import cli


@pytest.mark.slow
def test_the_demo_flags_the_two_shifted_features_and_only_them(tmp_path: Path) -> None:
    out = tmp_path / "driftline-out"
    result = cli("demo", "--duration", "20", "--out", str(out), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = dict(
        re.findall(
            r"^(\w+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+\s+(OK|WARN|ALERT)$", result.stdout, re.M
        )
    )
    assert rows == {
        "age": "OK",
        "credit_lines": "OK",
        "region": "OK",
        "debt_ratio": "ALERT",
        "income": "ALERT",
    }, result.stdout
    assert "rows/s" in result.stderr  # the progress bar
    assert "Worst slice after the shift: region=EU" in result.stdout
    # 20 s of traffic is too little history for a share of a 30-day budget: the burn rates say it instead
    assert re.search(r"^credit-availability\s+99\.9%\s+too early\s+[\d.]+x", result.stdout, re.M), (
        result.stdout
    )
    assert not re.search(r"-\d+(\.\d+)?%", result.stdout)  # no negative budget share anywhere
    assert re.search(
        r"^credit-accuracy\s+95\.0%\s+n/a\s+Prometheus rules \(accuracy\): newest window's accuracy 0\.\d+ "
        r"against target 0\.9: a (bad|good) slice$", result.stdout, re.M
    ), result.stdout
    assert "TICKET  DriftlineFeatureDriftAlert credit/income" in result.stdout
    assert re.search(r"^before the shift\s+0\.\d+ \[", result.stdout, re.M)  # CBPE beside realized
    assert re.search(r"^credit_lines\s+type_violation\s+0\.00%\s+[1-9][\d.]*%", result.stdout, re.M), (
        result.stdout
    )
    attributions = dict(
        re.findall(r"^(\w+)\s+[\d.]+\s+[\d.]+\s+[\d.]+  (OK|DRIFT|INSUFFICIENT_DATA)$", result.stdout, re.M)
    )
    assert attributions == {
        "age": "OK",
        "credit_lines": "OK",
        "region": "OK",
        "debt_ratio": "DRIFT",
        "income": "DRIFT",
    }, result.stdout  # the SDK-side explainer's attributions moved for the shifted features alone
    assert re.search(r"^roc_auc\s+0\.\d+ \[0\.\d+, 0\.\d+\]", result.stdout, re.M), result.stdout
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {
        "driftline.yaml",
        "drift.json",
        "metrics.txt",
        "performance.json",
        "slos.json",
        "prometheus/driftline-slo.rules.yaml",
        "prometheus/driftline-alerts.rules.yaml",
        "alertmanager/alertmanager.yml",
    } <= files
    assert "driftline_feature_drift{" in (out / "metrics.txt").read_text()
    # the demo's last line is the report command, and it works on the database the demo kept
    command = result.stdout.strip().splitlines()[-1].strip()
    assert command.startswith("driftline report --model credit"), result.stdout
    report = cli(*shlex.split(command)[1:], timeout=120)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "income" in (out / "report.html").read_text()
