"""Acceptance (issue 4): the collector's burn rates equal those real Prometheus computes from the generated rules.

One synthetic timeline of SDK traffic goes to a real collector (SQLite) and, as the collector's own
`/metrics`, into a real Prometheus; both then answer "what is each SLO's burn rate over each window, now?"
and must agree within 1%.

1. Traffic (seeded): 125 one-minute SDK stats deltas for the credit model, ending now, with a burst of
   errors and slow calls in the last 20 minutes, so the 5m, 30m, 1h, 2h and 6h burn rates all differ.
   Each delta is posted to `POST /v1/stats` with its `end` on a synthetic clock, and right after each post
   `/metrics` is scraped; the scrape is kept with a synthetic timestamp.
2. The scrapes become one OpenMetrics file with a timestamp on every sample, which
   `promtool tsdb create-blocks-from openmetrics` backfills into TSDB blocks.
3. A real Prometheus (no scrape jobs, 127.0.0.1, a free port) opens those blocks. For every window the
   collector reports, the expression of the generated recording rule `slo:sli_error:ratio_rate<window>`
   (read back from the rule file `write_rule_file` writes) is evaluated at time=now through
   `/api/v1/query`. The expressions are queried rather than the recorded series: Prometheus evaluates
   recording rules only at the wall-clock time of each evaluation, not at a chosen instant over
   backfilled data. For occurrence SLOs a window's ratio divides two recorded counts, each an `increase`
   over the collector's counters: the test inlines them (`inline`). The period's ratio sums the recorded
   5m counts over 30 days, which only exist as Prometheus evaluates the rules, so it is not compared here
   (tests/promtool/period_ratio.test.yaml shows it is the ratio of sums); the test checks it is the only
   window built that way.
4. burn rate = error ratio / (1 - objective / 100), compared with `GET /v1/slos` of the collector.

Why `increase()` gives exact sums here, without its usual extrapolation. Let A be "now" (whole seconds).
Scrapes are timestamped on the minute grid A - 60j (j = 125 .. 0); the delta posted before the scrape at
A - 60j ends 30 s earlier, at A - 60j - 30. Every window the policy uses (5m .. 2h) is a whole number of
minutes, so at time A both edges of `[A - w, A]` carry a sample, and `increase` is then exactly
v(A) - v(A - w) (Prometheus extrapolates only the gap between the outermost samples and the range's
edges, which is zero): the deltas ending in (A - w, A]. Windows longer than the timeline (6h, 1d, 3d,
30d) start before the first sample; that first sample is the counters at 0 (the first delta posted is
an empty one, as when the SDK first reports), and `increase` extrapolates a counter back only to where
it would reach zero, which is that very sample: again the exact sum of every delta. The collector sums
the deltas whose `end` lies in (now - w, now] with now its wall clock when answering. Answered at
A <= now < A + 30 s, that is the same set: every delta end sits 30 s away from a grid point, so a window
edge now - w never falls within 30 s of a delta's end, on either side. The test answers within a few
seconds of A and fails (it cannot be right) if it took longer.

Locally a missing prometheus or promtool skips; in CI (CI=true) it fails.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import time
import urllib.parse
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sdk.wire import DEFAULT_LATENCY_BOUNDS
from slo.writer import write_rule_file
from spec import load_spec, parse_duration
from tests.conftest import EXAMPLES, Collector, free_port, http, missing, start_collector

SPEC = EXAMPLES / "credit.yaml"
#: The occurrence SLOs of the spec, which the collector computes itself.
SLOS = ("credit-availability", "credit-latency")
MINUTES = 125  # one delta a minute: just over the longest window (2h) that lies inside the timeline
BURST = 20  # the last BURST minutes fail and slow down
SLOW_AFTER = 0.2  # credit-latency's threshold (200 ms), a bucket bound
SEED = 20240604
PROMETHEUS_INSTALL = "apt-get install prometheus (Debian's package ships prometheus and promtool)"


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        missing(name, PROMETHEUS_INSTALL)
    assert found is not None
    return found


# --- the synthetic traffic -------------------------------------------------------------------------------


def traffic(rng: np.random.Generator) -> list[tuple[int, int, list[int]]]:
    """Per minute, oldest first: (ok, error, latency counts per bucket of DEFAULT_LATENCY_BOUNDS and +Inf)."""
    bounds = np.array([*DEFAULT_LATENCY_BOUNDS, math.inf])
    fast, slow = bounds <= SLOW_AFTER + 1e-12, bounds > SLOW_AFTER + 1e-12
    out = []
    for minute in range(MINUTES):
        burst = minute >= MINUTES - BURST
        calls = int(rng.integers(800, 1200))
        error = int(rng.binomial(calls, 0.03 if burst else 0.0005))
        slow_calls = int(rng.binomial(calls, 0.08 if burst else 0.004))
        counts = np.zeros(len(bounds), dtype=int)
        counts[fast] = rng.multinomial(calls - slow_calls, np.full(int(fast.sum()), 1 / fast.sum()))
        counts[slow] = rng.multinomial(slow_calls, np.full(int(slow.sum()), 1 / slow.sum()))
        out.append((calls - error, error, [int(c) for c in counts]))
    return out


def stats_delta(ok: int, error: int, counts: list[int], end: float) -> dict[str, Any]:
    """One SDK stats delta covering the minute that ends at `end`."""
    mids = [*DEFAULT_LATENCY_BOUNDS, DEFAULT_LATENCY_BOUNDS[-1] * 2]
    return {
        "batch_id": uuid.uuid4().hex,
        "model": "credit",
        "version": "v1",
        "start": end - 60,
        "end": end,
        "ok": ok,
        "error": error,
        "latency_bounds": list(DEFAULT_LATENCY_BOUNDS),
        "latency_counts": counts,
        "latency_sum": float(sum(c * m for c, m in zip(counts, mids, strict=True))),
    }


# --- scrapes to OpenMetrics ------------------------------------------------------------------------------


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    esc = {k: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for k, v in labels.items()}
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(esc.items())) + "}"


def openmetrics(scrapes: list[tuple[int, str]]) -> str:
    """Prometheus-text scrapes (unix second, text) as one OpenMetrics document with timestamped samples.

    Each family once, each of its metrics (labels but `le`) once, and under it one point per scrape in
    time order (a histogram point: its buckets, count and sum together), then `# EOF`.
    """
    types: dict[str, str] = {}
    points: dict[str, dict[tuple[tuple[str, str], ...], dict[int, list[str]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for ts, text in scrapes:
        for fam in text_string_to_metric_families(text):
            types[fam.name] = {"untyped": "unknown"}.get(fam.type, fam.type)
            for s in fam.samples:
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                line = f"{s.name}{_labels(s.labels)} {_value(s.value)} {ts}"
                points[fam.name][key].setdefault(ts, []).append(line)
    lines = []
    for name in sorted(points):
        lines.append(f"# TYPE {name} {types[name]}")
        for key in sorted(points[name]):
            for ts in sorted(points[name][key]):
                lines += points[name][key][ts]
    return "\n".join([*lines, "# EOF"]) + "\n"


# --- Prometheus ------------------------------------------------------------------------------------------


def backfill(promtool: str, om_file: Path, data: Path) -> None:
    result = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om_file), str(data)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"promtool backfill failed:\n{result.stdout}{result.stderr}"


def start_prometheus(prometheus: str, data: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  evaluation_interval: 1m\nscrape_configs: []\n")
    port = free_port()
    log = workdir / "prometheus.log"
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=30d",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if http("GET", url + "/-/ready", timeout=2)[0] == 200:
                return proc, url
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"prometheus did not become ready:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def query(url: str, expr: str, at: int) -> float:
    """An instant query at unix second `at`; the single series it must return, as a float."""
    qs = urllib.parse.urlencode({"query": expr, "time": str(at)})
    status, body = http("GET", f"{url}/api/v1/query?{qs}")
    assert status == 200 and body["status"] == "success", (expr, body)
    result = body["data"]["result"]
    assert len(result) == 1, f"expected one series from\n{expr}\ngot {result}"
    assert result[0]["metric"] == {"model": "credit"}, result
    return float(result[0]["value"][1])


# --- the test --------------------------------------------------------------------------------------------


@pytest.fixture
def binaries() -> tuple[str, str]:
    """promtool and prometheus, looked for before a collector is started for nothing."""
    return binary("promtool"), binary("prometheus")


@pytest.fixture
def credit_collector(tmp_path: Path) -> Iterator[Collector]:
    c = start_collector(f"sqlite:///{tmp_path / 'driftline.db'}", tmp_path, config=SPEC)
    yield c
    c.stop()


def ratio_rules(rule_file: Path) -> dict[tuple[str, str], str]:
    """(slo, record) -> expr of every recording rule in the generated file."""
    doc = yaml.safe_load(rule_file.read_text())
    return {
        (r["labels"]["slo"], r["record"]): r["expr"]
        for g in doc["groups"]
        for r in g["rules"]
        if "record" in r
    }


def inline(rules: dict[tuple[str, str], str], slo: str, expr: str) -> str:
    """`expr` with each instant read of one of the SLO's recorded counts replaced by that rule's expression."""
    for (name, record), body in rules.items():
        if name == slo and record.startswith(("slo:sli_bad_events:", "slo:sli_events:")):
            expr = re.sub(
                re.escape(f'{record}{{slo="{slo}"}}') + r"(?!\[)", lambda _m, b=body: f"({b})", expr
            )
    return expr


def test_collector_burn_rates_equal_prometheus_over_the_generated_rules(
    binaries: tuple[str, str], credit_collector: Collector, tmp_path: Path
) -> None:
    promtool, prometheus = binaries
    spec = load_spec(SPEC)
    objectives = {s.name: s.objective for s in spec.slos}
    rules = ratio_rules(write_rule_file(spec, tmp_path / "generated"))

    # 1. the timeline, posted and scraped; A ("now") is a whole second, every delta end is before it
    minutes = traffic(np.random.default_rng(SEED))
    anchor = int(time.time())
    grid = [anchor - 60 * j for j in range(MINUTES, -1, -1)]  # oldest first; grid[-1] == anchor
    deltas = [(0, 0, [0] * (len(DEFAULT_LATENCY_BOUNDS) + 1)), *minutes]  # counters at 0 first
    scrapes: list[tuple[int, str]] = []
    for at, (ok, error, counts) in zip(grid, deltas, strict=True):
        status, body = credit_collector.post("/v1/stats", stats_delta(ok, error, counts, at - 30))
        assert status == 200 and body["accepted"] == 1, body
        scrapes.append((at, credit_collector.metrics()))

    # 2. the collector's answer "now", within 30 s after A (see the module docstring)
    while time.time() < anchor:
        time.sleep(0.05)
    status, reports = credit_collector.get("/v1/slos")
    answered = time.time()
    assert status == 200, reports
    assert answered < anchor + 29, (
        f"the collector answered {answered - anchor:.1f} s after the synthetic now; past 30 s its windows"
        " no longer hold the same deltas as Prometheus's, so the comparison would be meaningless"
    )
    collector = {r["name"]: r for r in reports}
    exported = {
        (s.labels["slo"], s.labels["window"]): s.value
        for fam in text_string_to_metric_families(credit_collector.metrics())
        for s in fam.samples
        if s.name == "driftline_slo_burn_rate"
    }

    # 3. Prometheus over the same scrapes
    om_file = tmp_path / "scrapes.om.txt"
    om_file.write_text(openmetrics(scrapes))
    data = tmp_path / "tsdb"
    backfill(promtool, om_file, data)
    proc, url = start_prometheus(prometheus, data, tmp_path)
    try:
        rows, wrong = [], []
        for name in SLOS:
            report = collector[name]
            assert report["computed_by"] == "collector", report
            windows = report["burn_rates"]
            assert set(windows) == {
                rec.removeprefix("slo:sli_error:ratio_rate")
                for slo, rec in rules
                if slo == name and rec.startswith("slo:sli_error:ratio_rate")
            }, (name, sorted(windows))
            budget = 1 - objectives[name] / 100
            period = next(s.period_seconds for s in spec.slos if s.name == name)
            for window, burn in windows.items():
                expr = inline(rules, name, rules[(name, f"slo:sli_error:ratio_rate{window}")])
                if "sum_over_time(slo:" in expr:
                    assert parse_duration(window) == period, f"{name} {window}: only the period sums counts"
                    continue
                assert "slo:" not in expr, f"{name} {window}: the ratio reads another recording rule:\n{expr}"
                prom = query(url, expr, anchor) / budget
                rows.append(f"{name:20} {window:>4}  collector {burn:10.5f}  prometheus {prom:10.5f}")
                if burn != pytest.approx(prom, rel=0.01):
                    wrong.append(rows[-1])
        table = "\n".join(rows)
        assert not wrong, "burn rates differ by more than 1%:\n" + "\n".join(wrong) + "\n\nall:\n" + table

        # the traffic gate's event counts (slo:sli_events:increase<window>) agree too
        for (name, record), expr in rules.items():
            if name in SLOS and record.startswith("slo:sli_events:increase"):
                window = record.removeprefix("slo:sli_events:increase")
                events = collector[name]["events"][window]
                assert query(url, expr, anchor) == pytest.approx(events, rel=0.01), (name, window, expr)
    finally:
        stop(proc)

    # what the collector exports is what it answered
    for name in SLOS:
        for window, burn in collector[name]["burn_rates"].items():
            assert exported[(name, window)] == pytest.approx(burn), (name, window)

    # the burst shows: the short windows burn far faster than the long ones, so the comparison has teeth
    for name in SLOS:
        burns = collector[name]["burn_rates"]
        assert burns["5m"] > 3 * burns["6h"] > 0, (name, burns)
        assert burns["5m"] != pytest.approx(burns["30m"], rel=0.05), (name, burns)
