"""On-call dashboard: latency quantiles, errors, burn rate per window against its page/ticket threshold,
the serving version, recent deploys and the alerts firing with their runbooks."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from contract import COST, MODEL_VERSION_INFO, PREDICTION_LATENCY, PREDICTIONS, SDK_DROPPED
from dashboards import uids
from dashboards.board import Board, custom_variable, override, query_variable, threshold_lines, thresholds
from dashboards.options import GrafanaOptions
from dashboards.targets import prom, sql
from slo.definition import SLO
from slo.sli import ratio_record
from slo.windows import format_duration
from spec import ResolvedSpec

SELECTOR = 'model=~"$model",version=~"$version"'


def latency_quantile(q: float) -> str:
    """PromQL for a latency quantile per model from the SDK's histogram."""
    bucket = f"{PREDICTION_LATENCY.bucket}{{{SELECTOR}}}"
    return f"histogram_quantile({q}, sum by (model, le) (rate({bucket}[$__rate_interval])))"


def error_ratio_expr() -> str:
    """PromQL for the share of failed calls per model."""
    errors = f'{PREDICTIONS.name}{{{SELECTOR},outcome="error"}}'
    calls = f"{PREDICTIONS.name}{{{SELECTOR}}}"
    return (
        f"sum by (model) (rate({errors}[$__rate_interval]))\n/\n"
        f"sum by (model) (rate({calls}[$__rate_interval]))"
    )


def burn_rate_expr(slo: SLO, window_seconds: int) -> str:
    """PromQL for an SLO's burn rate over a window: its error ratio divided by its error budget."""
    sel = f'{{slo="{slo.name}",model=~"$model"}}'
    return f"{ratio_record(window_seconds)}{sel}\n/ on (slo)\nslo:error_budget:ratio{sel}"


def burn_thresholds(slo: SLO) -> dict[int, float]:
    """Per long window (seconds) of the SLO's policy, the burn-rate factor at which its alert fires."""
    out: dict[int, float] = {}
    for w in slo.windows:
        out[w.long_seconds] = min(out.get(w.long_seconds, w.factor), w.factor)
    return dict(sorted(out.items()))


def firing_alerts_expr(spec: ResolvedSpec) -> str:
    """Firing alerts, each model's with a `runbook_url` label taken from the spec."""
    parts = []
    for m in spec.models:
        alerts = f'ALERTS{{alertstate="firing",model=~"$model",model="{m.name}"}}'
        if m.runbook_url:
            url = m.runbook_url.replace("\\", "\\\\").replace('"', '\\"')
            alerts = f'label_replace({alerts}, "runbook_url", "{url}", "", "")'
        parts.append(alerts)
    return "\nor\n".join(parts)


def oncall(spec: ResolvedSpec, options: GrafanaOptions) -> dict[str, Any]:
    """The on-call dashboard for every model of the spec."""
    board = Board(
        uids.ONCALL,
        "Driftline / On-call",
        "What is broken now, since when, and what to do: golden signals, burn rates, deploys, alerts.",
        options,
        tags=("on-call",),
        time_from="now-6h",
    )
    board.variable(custom_variable("model", "Model", [m.name for m in spec.models]))
    board.variable(
        query_variable(
            "version",
            "Version",
            f'label_values({PREDICTIONS.name}{{model=~"$model"}}, version)',
            options,
        )
    )
    board.deploys(["driftline-deploy"])

    _golden_signals_row(board, spec)
    _throughput_row(board, spec)
    if spec.slos:
        board.row("Error budget burn rate")
        for slo in spec.slos:
            _burn_panel(board, slo)

    _model_row(board, options)
    _alerts_row(board, spec)
    return board.to_json()


def _golden_signals_row(board: Board, spec: ResolvedSpec) -> None:
    """Latency quantiles, error rate and traffic, with the tightest latency and availability SLO lines."""
    latency_slos = [s for s in spec.slos if s.sli == "latency" and s.threshold_seconds is not None]
    availability = [s for s in spec.slos if s.sli == "availability"]
    board.row("Golden signals")
    latency = (
        timeseries.Panel()
        .title("Latency p50 / p95 / p99")
        .description("From the SDK's latency histogram, every call counted (not sampled).")
        .unit("s")
        .height(8)
        .span(8)
    )
    if latency_slos:
        limit = min(s.threshold_seconds or 0.0 for s in latency_slos)
        latency = latency.thresholds(thresholds((None, "green"), (limit, "red"))).thresholds_style(
            threshold_lines()
        )
    board.add(
        latency,
        prom(latency_quantile(0.5), "p50 {{model}}"),
        prom(latency_quantile(0.95), "p95 {{model}}"),
        prom(latency_quantile(0.99), "p99 {{model}}"),
    )
    errors = (
        timeseries.Panel()
        .title("Error rate")
        .description("Share of calls that raised inside the model (counted by the SDK, then re-raised).")
        .unit("percentunit")
        .height(8)
        .span(8)
    )
    if availability:
        budget = min(s.error_budget for s in availability)
        errors = errors.thresholds(thresholds((None, "green"), (budget, "red"))).thresholds_style(
            threshold_lines()
        )
    board.add(errors, prom(error_ratio_expr(), "{{model}}"))
    board.add(
        timeseries.Panel()
        .title("Traffic")
        .description("Calls per second by outcome.")
        .unit("reqps")
        .height(8)
        .span(8),
        prom(
            f"sum by (model, outcome) (rate({PREDICTIONS.name}{{{SELECTOR}}}[$__rate_interval]))",
            "{{model}} {{outcome}}",
        ),
    )


def _throughput_row(board: Board, spec: ResolvedSpec) -> None:
    """Predictions per second per model and version beside the same time last week (the traffic-drop
    alert's baseline) and, where the spec prices a model, its spend per hour."""
    board.row("Throughput")
    calls = f"{PREDICTIONS.name}{{{SELECTOR}}}"
    priced = any(m.prices is not None for m in spec.models)
    board.add(
        timeseries.Panel()
        .title("Predictions per second")
        .description(
            "Per model and version, every call counted by the SDK (a batch of N rows is N predictions); dashed:"
            " the model's rate a week earlier, which DriftlineTrafficDrop compares the last hour with."
        )
        .unit("reqps")
        .height(8)
        .span(16 if priced else 24),
        prom(f"sum by (model, version) (rate({calls}[$__rate_interval]))", "{{model}} {{version}}"),
        prom(f"sum by (model) (rate({calls}[$__rate_interval] offset 1w))", "{{model}} last week"),
    )
    if priced:
        board.add(
            timeseries.Panel()
            .title("Spend per hour")
            .description("The spec's price table applied to calls, compute seconds and tokens, per version.")
            .unit("short")
            .height(8)
            .span(8),
            prom(
                f"sum by (model, version, currency) (rate({COST.name}{{{SELECTOR}}}[$__rate_interval])) * 3600",
                "{{model}} {{version}} ({{currency}})",
            ),
        )


def _model_row(board: Board, options: GrafanaOptions) -> None:
    """The serving version, recent deploys (with SQL) and samples the SDK dropped."""
    board.row("Model")
    board.add(
        stat.Panel()
        .title("Serving version")
        .description("The version in each model's newest SDK stats.")
        .text_mode(common.BigValueTextMode.NAME)
        .color_mode(common.BigValueColorMode.NONE)
        .graph_mode(common.BigValueGraphMode.NONE)
        .height(6)
        .span(8),
        prom(f'{MODEL_VERSION_INFO.name}{{model=~"$model"}}', "{{model}}: {{version}}", instant=True),
    )
    if options.has_sql:
        board.add(
            table.Panel()
            .title("Recent deploys")
            .description("Versions by the time their first SDK stats arrived, newest first.")
            .height(6)
            .span(8),
            sql(
                """
                SELECT min("start") AS time, model, version, sum(ok + error) AS calls
                FROM stats
                WHERE model IN (${model:sqlstring})
                GROUP BY model, version
                ORDER BY 1 DESC
                LIMIT 20
                """
            ),
            sql=True,
        )
    board.add(
        timeseries.Panel()
        .title("Samples dropped by the SDK")
        .description("Sampled records the SDK could not ship (queue full or batches refused).")
        .unit("short")
        .height(6)
        .span(8),
        prom(
            f"sum by (model) (rate({SDK_DROPPED.name}{{{SELECTOR}}}[$__rate_interval]))",
            "{{model}}",
        ),
    )


def _alerts_row(board: Board, spec: ResolvedSpec) -> None:
    """The alerts firing now, each with a link to its model's runbook."""
    board.row("Alerts")
    board.add(
        table.Panel()
        .title("Firing alerts")
        .description("Alerts firing now; the runbook column links to the model's runbook.")
        .height(8)
        .span(24)
        .with_transformation(
            model.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True, "Value": True, "__name__": True, "alertstate": True}
                },
            )
        )
        .override_by_name(
            *override(
                "runbook_url",
                links=[{"title": "Open the runbook", "url": "${__value.raw}", "targetBlank": True}],
            )
        ),
        prom(firing_alerts_expr(spec), instant=True, table=True),
    )


def _burn_panel(board: Board, slo: SLO) -> None:
    """One SLO's burn rate per long window, each line against the factor at which its alert fires."""
    windows = burn_thresholds(slo)
    rules = "; ".join(
        f"{w.severity} when {format_duration(w.long_seconds)} and {format_duration(w.short_seconds)}"
        f" burn at {w.factor:g}x"
        for w in slo.windows
    )
    panel = (
        timeseries.Panel()
        .title(f"Burn rate: {slo.name}")
        .description(
            f"Error ratio over each long window divided by the {slo.error_budget:.4g} error budget of the"
            f" {slo.objective:g}% objective; 1 spends the budget exactly over the period. Dashed lines: {rules}"
            " (the short window must agree)."
        )
        .unit("x")
        .min(0)
        .height(8)
        .span(8)
        .thresholds_style(threshold_lines())
    )
    for seconds, factor in windows.items():
        panel = panel.override_by_name(
            *override(
                format_duration(seconds),
                thresholds=thresholds((None, "green"), (factor, "red")).build(),
            )
        )
    board.add(panel, *(prom(burn_rate_expr(slo, s), format_duration(s)) for s in windows))
