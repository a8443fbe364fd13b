"""No dead panels: every query of every generated dashboard, run against what a real collector produces.

A collector process on PostgreSQL is filled with two event-time windows of records (the second drifted),
a reference, SDK stats with errors, and labels, then evaluated. Then:

- every PromQL target and variable query names metrics that its `/metrics` exports, with the labels (and
  the literal label values) the query uses. Names with a `:` are recording rules: they are checked
  against the rules `slo.generate_rules` writes for the same spec, and `ALERTS` against its alerts;
- every SQL target runs, as the read-only Grafana role, on the collector's PostgreSQL schema and returns
  rows. Grafana's macros are expanded the way its PostgreSQL datasource expands them
  (`$__timeFilter(c)` -> `c BETWEEN '<from>' AND '<to>'`, `$__timeGroupAlias(c, $__interval)` ->
  `floor(extract(epoch from c)/60)*60 AS "time"`), `${v:sqlstring}` becomes the quoted, comma-separated
  values and `$v` the raw value; a repeated panel runs once per value of its variable.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from collector import db
from collector.migrations import migrate
from dashboards import READABLE_TABLES, create_readonly_role, generate_dashboards
from dashboards.promql import label_values, legend_labels, parse
from slo import AlertingRule, RecordingRule, generate_rules
from spec import ResolvedSpec, load_spec
from tests.conftest import EXAMPLES, Collector, start_collector
from tests.test_collector_api import batch, records, stats

Series = dict[str, dict[str, set[str]]]  # metric name -> label -> values seen
HOUR = 3600.0


@dataclass
class Live:
    spec: ResolvedSpec
    collector: Collector
    series: Series
    known: Series
    window_start: float


def scrape(text_: str) -> Series:
    out: Series = defaultdict(lambda: defaultdict(set))
    for family in text_string_to_metric_families(text_):
        for sample in family.samples:
            labels = out[sample.name]
            for k, v in sample.labels.items():
                labels[k].add(v)
    return out


def rule_series(spec: ResolvedSpec) -> Series:
    """Series the generated recording rules create, and `ALERTS` as Prometheus writes it for the alerts."""
    out: Series = defaultdict(lambda: defaultdict(set))
    for group in generate_rules(spec):
        for rule in group.rules:
            if isinstance(rule, RecordingRule):
                labels = out[rule.record]
                for label in parse(rule.expr).grouping:
                    labels.setdefault(label, set())
            else:
                assert isinstance(rule, AlertingRule)
                labels = out["ALERTS"]
                labels["alertname"].add(rule.alert)
                labels["alertstate"] |= {"firing", "pending"}
            for k, v in rule.labels.items():
                labels[k].add(v)
    return out


def shap_like(features: dict[str, Any]) -> dict[str, Any]:
    """Attributions of a linear score, as an SDK-side explainer would attach them."""
    return {
        "base": 0.3,
        "values": {"income": (features["income"] - 50) * 0.02, "age": (features["age"] - 40) * -0.01},
    }


def fill(c: Collector) -> float:
    rng = np.random.default_rng(11)
    ref_rows = records(4000, 0, rng)
    cols = {k: [r["features"][k] for r in ref_rows] for k in ref_rows[0]["features"]}
    explained = [shap_like(r["features"]) for r in ref_rows]
    status, body = c.post("/v1/references", {"model": "credit", "columns": cols, "attributions": explained})
    assert status == 200, body
    base = (time.time() // HOUR - 3) * HOUR  # two complete hourly windows
    first = records(600, base + 60, rng, prefix="a")
    second = records(600, base + HOUR + 60, rng, income_shift=8, prefix="b")
    for r in first + second:
        r["attributions"] = shap_like(r["features"])
    for recs in (first, second):
        assert c.post("/v1/records", batch(recs))[0] == 200
    truth = [r["prediction"] if i % 4 else 1 - r["prediction"] for i, r in enumerate(first + second)]
    labels = [{"id": r["id"], "label": y} for r, y in zip(first + second, truth, strict=True)]
    assert c.post("/v1/labels", {"batch_id": "live-labels", "model": "credit", "labels": labels})[0] == 200
    assert c.post("/v1/stats", stats(950, 50, [700, 250, 40, 10]))[0] == 200
    assert c.evaluate() == 2
    return base


@pytest.fixture(scope="module")
def live(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    engine = create_engine(pg_url)
    with engine.begin() as conn:  # as pg_fresh_url does, for a module
        tables = conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).all()
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
    engine.dispose()
    spec = load_spec(EXAMPLES / "credit.yaml")
    c = start_collector(pg_url, tmp_path_factory.mktemp("collector"))
    try:
        base = fill(c)
        series = scrape(c.metrics())
        known: Series = defaultdict(lambda: defaultdict(set), {**series, **rule_series(spec)})
        yield Live(spec, c, series, known, base)
    finally:
        c.stop()


def check_promql(expr: str, legend: str, known: Series) -> list[str]:
    """What a PromQL target asks for that the collector (or the generated rules) do not provide."""
    q = parse(expr)
    problems, available = [], set(q.created)
    for sel in q.selectors:
        if sel.metric is not None:
            names = [sel.metric] if sel.metric in known else []
            if not names:
                problems.append(f"{sel.metric} is neither exported nor a generated recording rule")
        else:
            regexes = [m for m in sel.matchers if m.label == "__name__"]
            names = [n for n in known if all(re.fullmatch(m.value, n) for m in regexes)]
            if not names:
                problems.append(f"no series matches {regexes}")
        labels = {k for n in names for k in known[n]}
        available |= labels
        for m in sel.matchers:
            if m.label == "__name__":
                continue
            if m.label not in labels:
                problems.append(f"{names}: no label {m.label!r} (has {sorted(labels)})")
                continue
            values = {v for n in names for v in known[n].get(m.label, set())}
            if m.literal and m.op == "=" and m.value not in values:
                problems.append(f"{names}: {m.label}={m.value!r} never seen (seen {sorted(values)})")
            if m.literal and m.op == "=~" and not any(re.fullmatch(m.value, v) for v in values):
                problems.append(f"{names}: {m.label}=~{m.value!r} matches nothing (seen {sorted(values)})")
    for label in q.grouping | legend_labels(legend):
        if label not in available:
            problems.append(f"groups or labels by {label!r}, which none of its series has")
    return problems


def prom_targets(spec: ResolvedSpec) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for board in generate_dashboards(spec):
        for panel in board.model["panels"]:
            for t in panel.get("targets", []):
                if "expr" in t:
                    yield board.uid, panel["title"], t


def test_the_collector_exports_every_driftline_metric_the_dashboards_read(live: Live) -> None:
    exported = {n for n in live.series if n.startswith("driftline_")}
    assert {
        "driftline_predictions_total",
        "driftline_prediction_latency_seconds_bucket",
        "driftline_feature_drift",
        "driftline_model_performance",
        "driftline_labels_total",
        "driftline_sdk_dropped_total",
        "driftline_model_version_info",
        "driftline_feature_attribution",
        "driftline_attribution_drift",
    } <= exported


def test_every_promql_target_names_metrics_the_collector_exports_with_the_labels_it_uses(live: Live) -> None:
    problems, checked = [], 0
    for uid, title, t in prom_targets(live.spec):
        checked += 1
        problems += [
            f"{uid} / {title}: {p}" for p in check_promql(t["expr"], t.get("legendFormat", ""), live.known)
        ]
    assert checked > 30
    assert problems == []


def test_every_variable_query_names_an_exported_metric_and_label(live: Live) -> None:
    checked = 0
    for board in generate_dashboards(live.spec):
        for var in board.model["templating"]["list"]:
            if var["type"] != "query":
                continue
            parsed = label_values(var["query"])
            assert parsed is not None, var["query"]
            selector, label = parsed
            assert selector is not None and selector.metric is not None
            assert label in live.known[selector.metric], (board.uid, var["name"])
            assert check_promql(var["query"].split("(", 1)[1].rsplit(",", 1)[0], "", live.known) == []
            checked += 1
    assert checked >= 4


def test_the_checker_catches_a_misspelt_metric_a_missing_label_and_an_unseen_value(live: Live) -> None:
    assert check_promql('driftline_prediction_total{model="credit"}', "", live.known)
    assert check_promql('driftline_labels_total{version="v1"}', "", live.known)
    assert check_promql('driftline_model_performance{slice="region=XX"}', "", live.known)
    assert check_promql("sum by (feature) (driftline_predictions_total)", "", live.known)
    assert check_promql("driftline_predictions_total", "{{slo}}", live.known)
    assert check_promql('slo:sli_error:ratio_rate7m{slo="credit-availability"}', "", live.known)


# ---------------------------------------------------------------------------------------------------
# SQL


def sqlstring(values: list[str]) -> str:
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


def render_sql(raw: str, variables: dict[str, list[str]], start: float, end: float) -> str:
    """Expand Grafana's PostgreSQL macros and template variables as Grafana would for this time range."""
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    sql = re.sub(r"\$\{(\w+):sqlstring\}", lambda m: sqlstring(variables[m.group(1)]), raw)
    sql = re.sub(
        r"\$__timeGroupAlias\(([^,]+),\s*\$__interval\)",
        lambda m: f'floor(extract(epoch from {m.group(1)})/60)*60 AS "time"',
        sql,
    )
    sql = re.sub(
        r"\$__timeFilter\(([^)]+)\)", lambda m: f"{m.group(1)} BETWEEN '{iso(start)}' AND '{iso(end)}'", sql
    )
    sql = re.sub(
        r"\$\{?(\w+)\}?", lambda m: variables[m.group(1)][0] if m.group(1) in variables else m.group(0), sql
    )
    assert "$" not in sql, f"an unexpanded macro or variable is left in:\n{sql}"
    return sql


def run(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    """Run a panel's SQL as Grafana does: plain text, no driver placeholders (a '%' is just a '%')."""
    conn = engine.raw_connection()
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        conn.rollback()
        conn.close()


@pytest.fixture(scope="module")
def readonly(live: Live, pg_url: str) -> Iterator[Engine]:
    role, password = f"dl_grafana_{secrets.token_hex(3)}", "grafana-reads"
    admin = db.make_engine(pg_url)
    create_readonly_role(admin, role, password)
    url = make_url(pg_url).set(username=role, password=password)
    engine = create_engine(url)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
        conn.exec_driver_sql(f'DROP ROLE "{role}"')
    admin.dispose()


def sql_targets(spec: ResolvedSpec) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for board in generate_dashboards(spec):
        for panel in board.model["panels"]:
            for t in panel.get("targets", []):
                if "rawSql" in t:
                    yield board.uid, panel, t


def test_every_sql_target_runs_as_the_readonly_role_and_returns_rows(live: Live, readonly: Engine) -> None:
    model = live.spec.models[0]
    variables = {
        "model": [model.name],
        "version": sorted(live.series["driftline_predictions_total"]["version"]),
        "slice": sorted(live.series["driftline_model_performance"]["slice"]),
        "metric": [model.drift.metrics[0]],
        "feature": [f.name for f in model.drift_features],
        "window": [str(model.drift.window_seconds)],
    }
    ran, empty = 0, []
    for uid, panel, t in sql_targets(live.spec):
        repeat = panel.get("repeat")
        for value in variables[repeat] if repeat else [None]:
            values = dict(variables)
            if repeat:
                values[repeat] = [str(value)]  # a repeated panel: one value of its variable at a time
            rows = run(readonly, render_sql(t["rawSql"], values, live.window_start - HOUR, time.time() + 60))
            ran += 1
            if not rows:
                empty.append(f"{uid} / {panel['title']} ({value})")
    assert ran >= 9 + len(variables["feature"])
    assert empty == [], "SQL panels without data on a filled collector"


def test_the_distribution_panel_puts_the_drifted_window_in_the_references_bins(
    live: Live, readonly: Engine
) -> None:
    (_, _, target) = next(x for x in sql_targets(live.spec) if x[1].get("repeat") == "feature")
    variables = {"model": ["credit"], "version": ["v1"], "feature": ["income"]}
    hour = live.window_start + HOUR
    rows = run(readonly, render_sql(target["rawSql"], variables, hour, hour + HOUR - 1))
    assert rows[0][0].startswith("(-inf, ") and rows[-1][0].endswith(", inf)")
    assert sum(r[1] for r in rows) == pytest.approx(1) and sum(r[2] for r in rows) == pytest.approx(1)
    assert (
        rows[-1][2] > 2 * rows[-1][1]
    )  # income shifted up: the top bin holds far more than in the reference


# ---------------------------------------------------------------------------------------------------
# The read-only role on its own


def test_the_readonly_role_can_select_every_dashboard_table_and_cannot_write_or_read_tokens(
    pg_fresh_url: str, tmp_path: Path
) -> None:
    admin = db.make_engine(pg_fresh_url)
    migrate(admin)
    role, password = f"dl_grafana_{secrets.token_hex(3)}", "it's 100% read-only"
    create_readonly_role(admin, role, password)
    create_readonly_role(admin, role, password)  # idempotent: a second run converges, no error
    engine = create_engine(make_url(pg_fresh_url).set(username=role, password=password))
    try:
        with engine.connect() as conn:
            for table in READABLE_TABLES:
                conn.exec_driver_sql(f'SELECT count(*) FROM "{table}"').scalar_one()
            conn.rollback()

            def refused(sql: str, reason: str) -> None:
                with pytest.raises(DBAPIError) as err:
                    conn.exec_driver_sql(sql)
                conn.rollback()
                assert type(err.value.orig).__name__ == reason, err.value

            insert = "INSERT INTO models (name, source, created_at) VALUES ('x', 'api', now())"
            refused(insert, "ReadOnlySqlTransaction")
            conn.exec_driver_sql("SET default_transaction_read_only = off")  # the role may lift it ...
            conn.commit()
            refused(insert, "InsufficientPrivilege")  # ... and still has no write privilege
            refused("DELETE FROM records", "InsufficientPrivilege")
            refused("SELECT * FROM tokens", "InsufficientPrivilege")
            refused("CREATE TABLE grafana_scratch (x int)", "InsufficientPrivilege")
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
            conn.exec_driver_sql(f'DROP ROLE "{role}"')
        admin.dispose()
