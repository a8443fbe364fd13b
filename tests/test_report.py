"""`driftline report`: a self-contained HTML page of a model's drift, distributions, accuracy and SLOs.

The history is a replayed prediction log with a planted shift (income rises and accuracy falls from
hour 7) plus SDK counters whose error rate rises with it, so every figure on the page can be checked
against what was planted. The page is XML-well-formed, so the tests read it with ElementTree; a
headless Chromium renders it, and the screenshot and the DOM prove the plots were drawn.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

from analyzers.binning import FeatureReference, reference_from_values
from collector import db, migrations, repository, service
from collector.schemas import StatsBatch
from driftline import replay as rp
from driftline.report import ReportError, build_report, load, write_report
from report import CURRENT_COLOUR, DASH, REFERENCE_COLOUR, AttributionObs, nice_ticks, render, time_ticks
from report.text import fmt_span
from spec import Model, load_spec
from tests.conftest import EXAMPLES, missing
from tests.replay_data import START, prediction_log, write_parquet

SPEC = load_spec(EXAMPLES / "credit.yaml")
_credit = SPEC.model("credit")
assert _credit is not None
CREDIT: Model = _credit
HOURS, SHIFT, ROWS_PER_HOUR = 12, 7, 300
NOW = START + dt.timedelta(hours=HOURS)
DRIFT_FEATURES = ["income", "age", "debt_ratio", "region"]  # the spec's order
BOUNDS = [0.05, 0.1, 0.2, 0.5]


@dataclass(frozen=True)
class History:
    url: str
    log: dict[str, np.ndarray]

    def hour(self, h: int) -> np.ndarray:
        """Row mask of the log's event-time hour `h`."""
        return (self.log["ts"] >= START.timestamp() + h * 3600) & (
            self.log["ts"] < START.timestamp() + (h + 1) * 3600
        )


def add_stats(sink: rp.EmbeddedSink, version: str, hours: range, errors_from: int) -> None:
    """Hourly SDK counters: 1000 good calls, 30 failed ones from `errors_from`; 5 calls per hour over 200 ms."""
    for h in hours:
        error = 30 if h >= errors_from else 0
        batch = StatsBatch(
            batch_id=f"stats-{version}-{h}",
            model="credit",
            version=version,
            start=START + dt.timedelta(hours=h),
            end=START + dt.timedelta(hours=h + 1),
            ok=1000,
            error=error,
            latency_bounds=BOUNDS,
            latency_counts=[700, 250, 45, 5, error],
            latency_sum=80.0,
        )
        service.store_stats(sink.ctx, batch)


def fill(url: str, tmp: Path) -> History:
    """Replay the planted log into the database at `url` and add the SDK counters."""
    log = prediction_log(rows_per_hour=ROWS_PER_HOUR, hours=HOURS, shift_from_hour=SHIFT)
    sink = rp.EmbeddedSink(url, SPEC)
    rp.replay(
        write_parquet(log, tmp / "log.parquet"),
        CREDIT,
        sink,
        columns=rp.Columns(label="label"),
        reference_until=START + dt.timedelta(hours=4),
        progress=False,
    )
    add_stats(sink, "replay", range(HOURS), errors_from=SHIFT)
    sink.ctx.engine.dispose()
    return History(url, log)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    tmp = tmp_path_factory.mktemp("report")
    return fill(f"sqlite:///{tmp / 'driftline.db'}", tmp)


# ------------------------------------------------------------------------------------------ reading


def parse(page: str) -> ET.Element:
    """The page as an element tree: it must be well-formed, which also proves no markup leaked in."""
    assert page.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))


def charts(root: ET.Element, kind: str) -> list[ET.Element]:
    return [svg for svg in root.iter("svg") if svg.get("data-chart") == kind]


def coords(element: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in (element.get("points") or "").split())]


def line_points(svg: ET.Element) -> list[tuple[float, float]]:
    """Every vertex of the chart's data lines, left to right."""
    return sorted(p for line in svg.iter("polyline") for p in coords(line))


def rule_y(svg: ET.Element, kind: str) -> float:
    (line,) = [x for x in svg.iter("line") if x.get("data-kind") == kind]
    assert line.get("y1") == line.get("y2")
    return float(line.get("y1") or "nan")


def text_of(element: ET.Element) -> str:
    return " ".join(" ".join(element.itertext()).split())


def table(root: ET.Element, name: str) -> ET.Element:
    (found,) = [t for t in root.iter("table") if t.get("data-table") == name]
    return found


# ------------------------------------------------------------------------------------------ content


def test_drift_is_drawn_per_feature_and_the_planted_feature_crosses_the_alert_line(history: History) -> None:
    root = parse(build_report(history.url, SPEC, "credit", now=NOW))
    drift = charts(root, "drift")
    assert [svg.get("data-feature") for svg in drift] == DRIFT_FEATURES
    for svg in drift:
        feature = svg.get("data-feature")
        assert svg.get("role") == "img" and (svg.findtext("title") or "").startswith(f"PSI of {feature}")
        assert "12 windows" in (svg.findtext("desc") or "")
        points = line_points(svg)
        assert len(points) == HOURS, feature  # one vertex per hourly window
        alert, warn = rule_y(svg, "alert"), rule_y(svg, "warn")
        assert alert < warn  # SVG y grows downwards: the alert line sits above the warn line
        over = [y < alert for _, y in points]
        if feature == "income":
            assert over == [False] * SHIFT + [True] * (HOURS - SHIFT)
            assert all(y > warn for _, y in points[:SHIFT])
        else:
            assert not any(over), feature
        legend = [text_of(t) for t in svg.iter("text") if t.get("class") == "legend-text"]
        assert legend == ["replay", "warn 0.1", "alert 0.25"]


def test_distributions_compare_the_reference_with_the_newest_complete_window(history: History) -> None:
    root = parse(build_report(history.url, SPEC, "credit", now=NOW))
    dist = {svg.get("data-feature"): svg for svg in charts(root, "distribution")}
    assert list(dist) == DRIFT_FEATURES
    engine = db.make_engine(history.url)
    with engine.connect() as conn:
        (features,) = conn.execute(
            db.table(db.Reference).select().with_only_columns(db.Reference.features)
        ).one()
    engine.dispose()
    newest = history.hour(HOURS - 1)
    for feature, svg in dist.items():
        reference = FeatureReference.from_dict(features[feature])
        bars = [r for r in svg.iter("rect") if r.get("class") == "bar"]
        groups = Counter(r.get("data-group") for r in bars)
        assert groups == {"reference": reference.binning.n_bins(), "current": reference.binning.n_bins()}
        # the current bars are the last window's values (hour 11) counted in the reference's bins
        if feature == "income":
            top = float(np.mean(history.log["income"][newest] > reference.binning.edges[-1]))
            last = [r for r in bars if r.get("data-group") == "current"][-1]
            assert (last.findtext("title") or "").endswith(f"current {top * 100:.1f}%")
            assert top > 0.3  # the planted shift: 10% of the reference sits above its top edge
    assert f"11:00{DASH}12:00 UTC" in text_of(root.find(".//section[@id='distributions']"))  # type: ignore[arg-type]
    rows = table(root, "drift").findall("./tbody/tr")
    assert [text_of(r.find("th")) for r in rows] == DRIFT_FEATURES  # type: ignore[arg-type]
    assert "alert" in text_of(rows[0]) and all("alert" not in text_of(r) for r in rows[1:])


def test_accuracy_per_window_has_its_interval_band_and_the_slice_table_matches_the_log(
    history: History,
) -> None:
    root = parse(build_report(history.url, SPEC, "credit", now=NOW))
    (svg,) = charts(root, "performance")
    groups = {g.get("data-series"): g for g in svg.iter("g") if g.get("class") == "series"}
    assert list(groups) == ["replay", "replay CBPE estimate"]
    points = line_points(groups["replay"])
    assert len(points) == HOURS
    # the log's scores are uniform noise, so CBPE calibrates them to ~0.5 whatever the prediction: dashed there
    estimate = line_points(groups["replay CBPE estimate"])
    assert len(estimate) == HOURS
    assert all(line.get("stroke-dasharray") for line in groups["replay CBPE estimate"].iter("polyline"))
    assert all(y > rule_y(svg, "target") for _, y in estimate)
    (band,) = [p for p in svg.iter("polygon") if p.get("class") == "band"]
    assert len(coords(band)) == 2 * HOURS  # upper edge left to right, lower edge back
    target = rule_y(svg, "target")  # the accuracy SLO's target, 0.9
    below = [y > target for _, y in points]
    assert below[SHIFT:] == [True] * (HOURS - SHIFT) and below[:SHIFT].count(False) >= SHIFT - 2

    slices = table(root, "slices")
    assert f"2026-03-02 11:00{DASH}12:00 UTC" in text_of(slices.find("caption"))  # type: ignore[arg-type]
    rows = {r.get("data-slice"): r for r in slices.findall("./tbody/tr")}
    assert list(rows) == ["all", "region=APAC", "region=EU", "region=US"]
    log, newest = history.log, history.hour(HOURS - 1)
    for key, row in rows.items():
        mask = newest if key == "all" else newest & (log["region"] == str(key).split("=")[1])
        accuracy = float(np.mean(log["prediction"][mask] == log["label"][mask]))
        cells = [text_of(c) for c in row.findall("td")]
        n = int(mask.sum())
        assert cells[0] == f"{accuracy:.3f}", key
        assert re.fullmatch(r"\[0\.\d{3}, 0\.\d{3}\]", cells[1]), cells
        lo, hi = (float(x) for x in cells[1][1:-1].split(", "))
        assert lo < accuracy < hi
        assert cells[3] == f"{n} / {n} (100%)" and cells[4] == "ok"
        # judged against the accuracy SLO's target 0.9, not only by whether its labels matured
        verdict = "meets target" if accuracy >= 0.9 else "below target"
        assert cells[6].startswith(verdict), (key, accuracy, cells)
        assert len(charts(row, "interval")) == 1
    assert "below target" in text_of(slices)  # the shifted hour is at ~0.65
    glance = text_of(root.find(".//section[@id='summary']"))  # type: ignore[arg-type]
    assert f"Accuracy in the newest complete window with matured labels, 2026-03-02 11:00{DASH}12:00 UTC" in glance
    assert "below target" in glance and "SLO target 0.9" in glance
    assert "Estimated accuracy (CBPE, from scores alone)" in glance


def test_slo_budgets_and_burn_rates_are_shown_for_the_slos_the_collector_computes(history: History) -> None:
    root = parse(build_report(history.url, SPEC, "credit", now=NOW))
    rows = {r.get("data-slo"): r for r in table(root, "slos").findall("./tbody/tr")}
    assert list(rows) == ["credit-availability", "credit-latency", "credit-accuracy"]
    total = 1000 * HOURS + 30 * (HOURS - SHIFT)
    availability = 1 - (30 * (HOURS - SHIFT) / total) / 0.001  # objective 99.9%
    latency = 1 - ((5 * SHIFT + 35 * (HOURS - SHIFT)) / total) / 0.01  # objective 99%, threshold 200 ms
    for name, remaining in (("credit-availability", availability), ("credit-latency", latency)):
        cells = [text_of(c) for c in rows[name].findall("td")]
        assert cells[2] == f"{remaining * 100:.1f}%", cells
        assert f"of {total:,}" in cells[3] and "5m" in cells[4] and "30d" in cells[4]
    assert "page" in text_of(rows["credit-availability"])  # 30x the budget: the fast burn pages
    assert "judged by Prometheus" in text_of(rows["credit-accuracy"])  # a timeslice SLO
    (budget,) = charts(root, "slo-budget")
    bars = {r.get("data-slo"): r.findtext("title") for r in budget.iter("rect") if r.get("class") == "bar"}
    assert bars == {
        "credit-availability": f"credit-availability: {availability * 100:.1f}% of the error budget left",
        "credit-latency": f"credit-latency: {latency * 100:.1f}% of the error budget left",
    }


def test_the_header_names_the_model_versions_range_and_generation_time(history: History) -> None:
    root = parse(build_report(history.url, SPEC, "credit", now=NOW))
    header = text_of(root.find(".//header"))  # type: ignore[arg-type]
    assert "credit" in header and "Versions replay" in header
    assert "2026-03-02 00:00 to 2026-03-02 12:00 UTC, 12 windows" in header
    assert "Generated 2026-03-02 12:00 UTC" in header
    assert "runbooks.example.com/driftline/credit" in header
    assert root.findtext("./head/title") == "Driftline report: credit at 2026-03-02 12:00 UTC"
    glance = text_of(root.find(".//section[@id='summary']"))  # type: ignore[arg-type]
    assert "1 of 4 features over the alert threshold" in glance and "income (" in glance
    assert "First window over the alert threshold: 2026-03-02 07:00 UTC" in glance


def test_the_page_fetches_nothing_and_is_the_same_for_the_same_data(history: History, tmp_path: Path) -> None:
    page = build_report(history.url, SPEC, "credit", now=NOW)
    for needle in ("<script", " src=", "<link", "url(", "@import", "<iframe", "<img", "<object", "<embed"):
        assert needle not in page, needle
    assert 'http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;' in page
    assert build_report(history.url, SPEC, "credit", now=NOW) == page
    out = write_report(history.url, SPEC, "credit", tmp_path / "out" / "report.html", now=NOW)
    assert out.read_text(encoding="utf-8") == page


def test_postgresql_gives_the_same_page_as_sqlite(
    history: History, pg_fresh_url: str, tmp_path: Path
) -> None:
    fill(pg_fresh_url, tmp_path)
    on_sqlite = build_report(history.url, SPEC, "credit", now=NOW)
    on_postgres = build_report(pg_fresh_url, SPEC, "credit", now=NOW)
    source = re.compile(r"<code>[^<]*</code>|from (sqlite|postgresql)[^ ]*\. ")
    assert "postgresql+psycopg://" in on_postgres
    assert source.sub("", on_postgres) == source.sub("", on_sqlite)


def test_now_and_max_windows_bound_the_history(history: History) -> None:
    earlier = parse(build_report(history.url, SPEC, "credit", now=START + dt.timedelta(hours=9)))
    assert [len(line_points(svg)) for svg in charts(earlier, "drift")] == [9] * 4
    assert f"08:00{DASH}09:00 UTC" in text_of(earlier.find(".//section[@id='distributions']"))  # type: ignore[arg-type]
    recent = parse(build_report(history.url, SPEC, "credit", now=NOW, max_windows=5))
    assert [len(line_points(svg)) for svg in charts(recent, "drift")] == [5] * 4
    assert "5 windows (the 7 older windows are left out)" in text_of(recent.find(".//header"))  # type: ignore[arg-type]


def test_a_new_version_gets_its_own_line_and_a_deploy_marker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    log = prediction_log(rows_per_hour=100, hours=6, shift_from_hour=9)
    log["version"] = np.where(log["ts"] >= START.timestamp() + 3 * 3600, "v2", "v1")
    sink = rp.EmbeddedSink(url, SPEC)
    rp.replay(
        write_parquet(log, tmp_path / "log.parquet"),
        CREDIT,
        sink,
        columns=rp.Columns(label="label", version="version"),
        reference_until=START + dt.timedelta(hours=2),
        progress=False,
    )
    add_stats(sink, "v1", range(3), errors_from=99)
    add_stats(sink, "v2", range(3, 6), errors_from=99)
    sink.ctx.engine.dispose()
    root = parse(build_report(url, SPEC, "credit", now=START + dt.timedelta(hours=6)))
    for svg in (*charts(root, "drift"), *charts(root, "performance")):
        series = {g.get("data-series"): g for g in svg.iter("g") if g.get("class") == "series"}
        expected = {"version v1": 3, "version v2": 3}
        if svg.get("data-chart") == "performance":  # each version's CBPE estimate beside it, in its colour
            expected |= {"version v1 CBPE estimate": 3, "version v2 CBPE estimate": 3}
        assert {k: len(line_points(g)) for k, g in series.items()} == expected
        markers = [text_of(g) for g in svg.iter("g") if g.get("class") == "marker"]
        assert markers == [
            "deploy v1 at 2026-03-02 00:00 UTC deploy v1",
            "deploy v2 at 2026-03-02 03:00 UTC deploy v2",
        ]
    assert "Versions v1, v2" in text_of(root.find(".//header"))  # type: ignore[arg-type]


EVIL_MODEL = '<script>alert("model")</script>'
EVIL_FEATURE = "<img src=x onerror=alert(1)>"
EVIL_CATEGORY = '"><svg onload=alert(2)>'
EVIL_VERSION = "v1</title><script>alert(3)</script>"
EVIL_SLICE = "region=<b onclick=alert(4)>&amp;</b>"


@dataclass
class Row:
    id: str
    ts: dt.datetime
    features: dict[str, Any]
    prediction: Any
    score: float | None
    slices: dict[str, Any] | None


def test_text_from_the_database_is_escaped_everywhere(tmp_path: Path) -> None:
    """The collector validates names, but a report must stay inert whatever the database holds."""
    url = f"sqlite:///{tmp_path / 'evil.db'}"
    engine = db.make_engine(url)
    migrations.migrate(engine)
    start, end = START, START + dt.timedelta(hours=1)
    reference = reference_from_values(EVIL_FEATURE, ["a", EVIL_CATEGORY] * 50, kind="categorical")
    with Session(engine) as s, s.begin():
        ref_id = repository.create_reference(
            s,
            model=EVIL_MODEL,
            version=None,
            name=EVIL_FEATURE,
            n=100,
            features={EVIL_FEATURE: reference.to_dict()},
        )
        rows = [
            Row(f"r{i}", start + dt.timedelta(seconds=i), {EVIL_FEATURE: EVIL_CATEGORY}, 1, None, None)
            for i in range(40)
        ]
        repository.insert_records(
            s, model=EVIL_MODEL, version=EVIL_VERSION, batch_id="b", received_at=end, records=rows
        )
        repository.upsert_drift(
            s,
            rows=[
                {"model": EVIL_MODEL, "version": EVIL_VERSION, "feature": EVIL_FEATURE, "metric": "psi",
                 "window_seconds": int((end - start).total_seconds()), "window_start": start, "window_end": end,
                 "value": 0.7, "status": "alert", "n_reference": 100,
                 "n_current": 40, "reference_id": ref_id, "computed_at": end},
            ],
        )  # fmt: skip
        repository.upsert_performance(
            s,
            rows=[
                {"model": EVIL_MODEL, "version": EVIL_VERSION, "slice": name, "metric": "accuracy",
                 "window_seconds": int((end - start).total_seconds()), "window_start": start, "window_end": end,
                 "value": 0.8, "lower": 0.7, "upper": 0.9,
                 "support": 40, "total": 40, "status": "ok", "computed_at": end}
                for name in ("all", EVIL_SLICE)
            ],
        )  # fmt: skip
    engine.dispose()
    page = build_report(url, SPEC, EVIL_MODEL, now=end)
    root = parse(page)  # well-formed: nothing from the database opened or closed an element
    for evil in (EVIL_MODEL, EVIL_FEATURE, EVIL_CATEGORY, EVIL_VERSION, EVIL_SLICE):
        assert evil not in page
        assert html.escape(evil) in page, evil
    names = {e.tag for e in root.iter()}
    assert not names & {"script", "img", "b"}, names
    assert not [(e.tag, a) for e in root.iter() for a in e.attrib if a.lower().startswith("on")]
    assert [svg.get("data-feature") for svg in charts(root, "drift")] == [EVIL_FEATURE]
    assert root.findtext("./body/header/h1") == EVIL_MODEL


def test_a_missing_database_or_an_unknown_model_is_a_clear_error(history: History, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no database at"):
        build_report(f"sqlite:///{tmp_path / 'nowhere.db'}", SPEC, "credit")
    assert not (tmp_path / "nowhere.db").exists()  # a report never creates a database
    with pytest.raises(
        ReportError, match=r"model 'fraud' has no drift or performance windows .* models known: credit"
    ):
        build_report(history.url, SPEC, "fraud", now=NOW)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (
            "mysql://u@h/db",
            r"no storage dialect for 'mysql' databases: the collector stores into postgresql, sqlite",
        ),
        ("not a url", r"'not a url' is not a database URL Driftline can read"),
        ("sqlite://", r"no database at 'sqlite://'"),  # in memory: nothing to read, never an empty page
    ],
)
def test_a_database_url_the_report_cannot_read_is_named_with_why(url: str, says: str) -> None:
    with pytest.raises(ReportError, match=says):
        build_report(url, SPEC, "credit")


def test_a_model_without_data_yet_gets_a_page_that_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = db.make_engine(url)
    migrations.migrate(engine)
    engine.dispose()
    root = parse(build_report(url, SPEC, "credit", now=NOW))
    assert not list(root.iter("svg"))
    empty = [text_of(p) for p in root.iter("p") if p.get("class") == "empty"]
    assert len(empty) == 4 and empty[0].startswith("No drift windows stored")
    assert empty[3] == "No complete window with quality checks yet."
    assert "no events in the last 30d" in text_of(table(root, "slos"))


def test_scales_have_round_ticks() -> None:
    assert nice_ticks(0.0, 1.07) == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
    assert nice_ticks(0.55, 0.97) == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert nice_ticks(0.0, 0.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = time_ticks(START, START + dt.timedelta(hours=12))
    assert [t.hour for t in ticks] == [0, 2, 4, 6, 8, 10, 12]
    assert len(time_ticks(START, START + dt.timedelta(days=30))) <= 7


# ------------------------------------------------------------------------------------------ browser


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        missing("Chromium (headless, Debian's chromium package)", "apt-get install chromium")
    assert path is not None
    return path


def run_chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def decode_png(data: bytes) -> np.ndarray:
    """An 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) as an (h, w, channels) array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    image = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind_ = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1)
        if kind_ == 0:
            row = line.copy()
        elif kind_ == 1:  # Sub: a running sum of each channel along the row, modulo 256
            row = np.cumsum(line.reshape(width, bpp), axis=0, dtype=np.uint8).reshape(-1)
        elif kind_ == 2:  # Up
            row = line + prev
        else:  # Average and Paeth depend on the byte just decoded: one at a time
            cur, up = bytearray(line.tobytes()), prev.tobytes()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = up[i]
                if kind_ == 3:
                    cur[i] = (cur[i] + ((a + b) >> 1)) & 255
                    continue
                c = up[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            row = np.frombuffer(bytes(cur), np.uint8)
        image[y] = row
        prev = image[y]
    return image.reshape(height, width, bpp)[:, :, :3]


def near(pixels: np.ndarray, colour: str, tolerance: int = 6) -> int:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels.astype(np.int16) - rgb).max(axis=1) <= tolerance).sum())


class Tags(HTMLParser):
    """Counts of the drawing elements, as parsed by a browser-like HTML parser."""

    DRAWN = ("svg", "polyline", "polygon", "rect", "circle", "line", "text", "title")

    def __init__(self, page: str) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.DRAWN and not (tag == "polyline" and not dict(attrs).get("points")):
            self.counts[tag] += 1


PROBE = """<script>
const probe = [...document.querySelectorAll("svg.chart")].map((svg) => {
  const box = svg.getBoundingClientRect();
  return {kind: svg.dataset.chart, feature: svg.dataset.feature || null, width: box.width, height: box.height,
          lines: [...svg.querySelectorAll("polyline")].map((p) => p.getTotalLength()),
          bars: [...svg.querySelectorAll("rect.bar")].map((r) => r.getBBox().height)};
});
const pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(probe);
document.body.appendChild(pre);
</script>"""


def test_the_report_renders_its_plots_in_headless_chromium(history: History, tmp_path: Path) -> None:
    chromium()
    report = write_report(history.url, SPEC, "credit", tmp_path / "report.html", now=NOW)
    page = report.read_text(encoding="utf-8")
    shot = tmp_path / "report.png"
    run_chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,2400", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000
    image = decode_png(shot.read_bytes())
    assert image.shape == (2400, 1400, 3)
    pixels = image.reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 500  # text, lines, bars and bands: far from a blank page
    assert (pixels.min(axis=1) < 200).mean() > 0.05
    # the distribution bars were painted in their own colours (each ~0.5% of the page or more)
    assert near(pixels, CURRENT_COLOUR) > 15_000 and near(pixels, REFERENCE_COLOUR) > 15_000
    if os.environ.get("DRIFTLINE_REPORT_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["DRIFTLINE_REPORT_SCREENSHOT"])

    # Chromium parsed every drawing element of the page into its DOM as SVG
    dom = run_chromium(tmp_path / "profile", "--dump-dom", report.as_uri()).stdout
    assert Tags(dom).counts == Tags(page).counts
    assert Tags(dom).counts["polyline"] >= 5 and Tags(dom).counts["svg"] >= 14

    # and laid them out: a copy with a probe script (the report itself runs none) measures what was drawn
    probe_page = tmp_path / "probe.html"
    csp = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*/>')
    assert csp.search(page)
    probe_page.write_text(csp.sub("", page).replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dumped = run_chromium(tmp_path / "profile", "--dump-dom", probe_page.as_uri()).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dumped, re.S)
    assert found, dumped[-2000:]
    drawn = json.loads(html.unescape(found.group(1)))
    assert all(c["width"] > 100 and c["height"] > 15 for c in drawn), drawn
    by_kind = Counter(c["kind"] for c in drawn)
    assert by_kind == {"drift": 4, "distribution": 4, "performance": 1, "slo-budget": 1, "interval": 4}
    for c in drawn:
        if c["kind"] in ("drift", "performance"):
            assert c["lines"] and min(c["lines"]) > 100, c  # each line spans the chart
        if c["kind"] == "distribution":
            assert sum(h > 1 for h in c["bars"]) >= len(c["bars"]) - 2, c  # bars have height


def test_quality_attributions_and_times_follow_the_newest_complete_window(history: History) -> None:
    """Data quality of the newest complete window is counted from the log; a window shorter than a minute is
    shown to the second; attributions are listed largest first with their drift verdict."""
    data = load(history.url, SPEC, "credit", now=NOW)
    root = parse(render(data))
    quality = table(root, "quality")
    rows = {r.get("data-check"): [text_of(c) for c in r.findall("td")] for r in quality.findall("./tbody/tr")}
    newest = history.hour(HOURS - 1)
    assert rows, "the shifted income leaves the reference's range"
    for key, cells in rows.items():
        assert int(cells[1].split(" / ")[1]) == int(newest.sum())
        assert int(cells[1].split(" / ")[0]) > 0, (key, cells)
    assert next(iter(rows)) == "income:out_of_range"  # income moved 1 sd: the worst check
    assert "other checks pass" in text_of(quality.find("caption"))  # type: ignore[arg-type]
    glance = text_of(root.find(".//section[@id='summary']"))  # type: ignore[arg-type]
    assert "worst income out of range" in glance

    start = data.quality[0].start
    shap = (
        AttributionObs("replay", "income", start, start + dt.timedelta(hours=1), 0.3, 0.1, "drift", 300),
        AttributionObs("replay", "<age>", start, start + dt.timedelta(hours=1), 0.2, 0.2, "ok", 300),
    )
    root = parse(render(replace(data, attributions=shap)))
    assert [r.get("data-feature") for r in table(root, "attributions").findall("./tbody/tr")] == ["income", "<age>"]
    glance = text_of(root.find(".//section[@id='summary']"))  # type: ignore[arg-type]
    assert "income (0.300), <age> (0.200); attributions drifted for income" in glance

    t0 = dt.datetime(2026, 3, 2, 7, 50, 5, tzinfo=dt.UTC)
    assert fmt_span(t0, t0 + dt.timedelta(seconds=5)) == f"2026-03-02 07:50:05{DASH}07:50:10 UTC"
    assert fmt_span(START, START + dt.timedelta(hours=1)) == f"2026-03-02 00:00{DASH}01:00 UTC"
