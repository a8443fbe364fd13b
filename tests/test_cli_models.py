"""`driftline serve` on an empty database prints an admin, an ingest and a read token; `driftline models`
reads every model with the read token: versions, records, the newest window, its drifting features and
realized accuracy; `driftline status` one model. Both say the same from the database with --database-url."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from tests.conftest import EXAMPLES, ROOT, cli, free_port, http


def test_first_start_prints_a_read_token_and_models_reads_every_model_with_it(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftline.cli", "serve", "--port", str(port), "--config", str(EXAMPLES / "credit.yaml"),
         "--database-url", f"sqlite:///{tmp_path / 'd.db'}", "--evaluation-interval", "3600"],
        cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if http("GET", url + "/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        tokens = dict(re.findall(r"^\s+(admin|ingest|read) token:\s+(dl_\S+)", log.read_text(), re.M))
        assert set(tokens) == {"admin", "ingest", "read"}, log.read_text()

        empty = cli("models", "--collector", url, "--token", tokens["read"])
        assert empty.returncode == 0, empty.stderr
        assert re.search(r"^credit\s+default\s+-\s+0\s+-\s+-\s+-$", empty.stdout, re.M), empty.stdout

        rng = np.random.default_rng(5)
        ref = {"income": rng.normal(50, 10, 3000).tolist(), "age": rng.normal(40, 8, 3000).tolist(),
               "debt_ratio": rng.beta(2, 5, 3000).tolist(),
               "region": rng.choice(["EU", "US"], 3000).tolist()}  # fmt: skip
        answer = http("POST", url + "/v1/references", {"model": "credit", "columns": ref}, token=tokens["ingest"])
        assert answer[0] == 200, answer
        start = (time.time() // 3600 - 2) * 3600
        records = [
            {"id": f"r{i}", "ts": start + 60 + i, "prediction": int(i % 4 != 0),
             "features": {"income": float(rng.normal(70, 10)), "age": float(rng.normal(40, 8)),
                          "debt_ratio": float(rng.beta(2, 5)), "region": "EU"}}
            for i in range(600)
        ]  # fmt: skip
        body = {"batch_id": uuid.uuid4().hex, "model": "credit", "version": "v9", "records": records}
        assert http("POST", url + "/v1/records", body, token=tokens["ingest"])[0] == 200
        labels = {"batch_id": uuid.uuid4().hex, "model": "credit",
                  "labels": [{"id": f"r{i}", "label": 1} for i in range(600)]}  # fmt: skip
        assert http("POST", url + "/v1/labels", labels, token=tokens["ingest"])[0] == 200
        assert http("POST", url + "/v1/evaluate", None, token=tokens["admin"])[0] == 200

        out = cli("models", "--collector", url, "--token", tokens["read"])
        assert out.returncode == 0, out.stderr
        header, row = out.stdout.splitlines()[:2]
        assert header.split() == ["model", "project", "versions", "records", "newest", "window", "drifting",
                                  "performance"]  # fmt: skip
        window = time.strftime("%Y-%m-%d %H:00:00", time.gmtime(start))
        expected = rf"credit\s+default\s+v9\s+600\s+{window}\s+income, region\s+accuracy 0\.750 \[0\.7\d\d, 0\.7\d\d\]$"
        assert re.match(expected, row), out.stdout

        status = cli("status", "credit", "--collector", url, "--token", tokens["read"])
        assert status.returncode == 0, status.stderr
        lines = status.stdout.splitlines()
        assert lines[0] == f"credit: newest window {window} (1h)", status.stdout
        # the features over their alert threshold first, the most drifted first
        drift_line = r"  drift \(psi\): region \d\.\d{3} ALERT, income \d\.\d{3} ALERT, age 0"
        assert re.match(drift_line, lines[1]), status.stdout
        assert re.match(r"  realized: accuracy 0\.750 \[", lines[2]), status.stdout
        assert any(line.startswith("  worst data-quality check: ") for line in lines), status.stdout
        assert any(line.startswith("  SLO credit-availability (99.9% over 30d): ") for line in lines), status.stdout
        unknown = cli("status", "nosuch", "--collector", url, "--token", tokens["read"])
        assert unknown.returncode == 2 and "404" in unknown.stderr, unknown.stderr

        # the same answers straight from the database, with no token and no collector needed
        database = ("--database-url", f"sqlite:///{tmp_path / 'd.db'}", "--config", str(EXAMPLES / "credit.yaml"))
        assert cli("models", *database).stdout == out.stdout
        assert cli("status", "credit", *database).stdout == status.stdout
        unknown = cli("status", "nosuch", *database)
        assert unknown.returncode == 2 and "no model 'nosuch'" in unknown.stderr and "credit" in unknown.stderr
        missing = cli("models", "--database-url", f"sqlite:///{tmp_path / 'none.db'}")
        assert missing.returncode == 2 and "no database at" in missing.stderr, missing.stderr

        refused = cli("models", "--collector", url, "--token", "dl_not-a-token")
        assert refused.returncode == 2 and "401" in refused.stderr, refused.stderr
        unreachable = cli("models", "--collector", f"http://127.0.0.1:{free_port()}", "--token", tokens["read"])
        assert unreachable.returncode == 2 and "cannot be reached" in unreachable.stderr
    finally:
        proc.terminate()
        proc.wait(15)
