"""Executive dashboard: availability and error budgets per model, accuracy, deployments, alerts firing."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.models import common

from contract import MODEL_PERFORMANCE, MODEL_VERSION_INFO, PREDICTIONS
from dashboards import uids
from dashboards.board import Board, custom_variable, thresholds
from dashboards.options import GrafanaOptions
from dashboards.targets import prom, sql, sql_string
from slo.windows import format_duration
from spec import DEFAULT_DRIFT, Model, ResolvedSpec

CALLS = PREDICTIONS.name + '{model=~"$model"%s}'
#: A literal dot in a regular expression, written inside a PromQL string.
DOT = "\\\\."


def availability_expr(window: str = "$__range") -> str:
    """Share of calls that succeeded per model over a window."""
    ok = CALLS % ',outcome="ok"'
    return f"sum by (model) (increase({ok}[{window}]))\n/\nsum by (model) (increase({CALLS % ''}[{window}]))"


def performance_expr(metric: str, models: list[Model]) -> str:
    """The headline performance gauge of one metric (one unit per panel), for the given models, each in its
    first window (the one its alerts read); with no models, every model in the default window."""
    by_window: dict[int, list[str]] = {}
    for m in models:
        by_window.setdefault(m.drift.window_seconds, []).append(m.name)
    if not by_window:
        by_window[DEFAULT_DRIFT.window_seconds] = []
    parts = []
    for seconds, names in sorted(by_window.items()):
        # model names hold letters, digits, _ . and -: only the dot is special, escaped for RE2 in a PromQL string
        pattern = "|".join(n.replace(".", DOT) for n in names)
        only = f',model=~"{pattern}"' if names else ""
        window = format_duration(seconds)
        parts.append(
            f'{MODEL_PERFORMANCE.name}{{model=~"$model"{only},window="{window}",slice="all",metric="{metric}"}}'
        )
    return "\nor\n".join(parts)


def executive(spec: ResolvedSpec, options: GrafanaOptions) -> dict[str, Any]:
    """The executive dashboard for every model of the spec."""
    models = [m.name for m in spec.models]
    board = Board(
        uids.EXECUTIVE,
        "Driftline / Executive",
        "Are the models up, within budget and accurate? One line per model.",
        options,
        tags=("executive",),
        time_from="now-7d",
    )
    board.variable(custom_variable("model", "Model", models)).deploys(["driftline-deploy"])
    _service_row(board, spec)
    _quality_row(board, spec, options)
    _change_row(board, options)
    return board.to_json()


def _service_row(board: Board, spec: ResolvedSpec) -> None:
    """Availability against the tightest availability objective, error budgets left, alerts firing."""
    objectives = [s.objective / 100 for s in spec.slos if s.sli == "availability"]
    objective = max(objectives, default=0.999)
    board.row("Service")
    board.add(
        stat.Panel()
        .title("Availability over the time range")
        .description("Share of model calls that succeeded, from the SDK's exact counters.")
        .unit("percentunit")
        .decimals(3)
        .thresholds(thresholds((None, "red"), (objective, "green")))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .height(6)
        .span(8),
        prom(availability_expr(), "{{model}}", instant=True),
    )
    if spec.slos:
        board.add(
            bargauge.Panel()
            .title("Error budget left, per SLO")
            .description("Share of each SLO's error budget not yet spent over its rolling period.")
            .unit("percentunit")
            .min(0)
            .max(1)
            .thresholds(thresholds((None, "red"), (0.25, "orange"), (0.5, "green")))
            .orientation(common.VizOrientation.HORIZONTAL)
            .height(6)
            .span(8),
            prom('slo:period_error_budget_remaining:ratio{model=~"$model"}', "{{slo}}", instant=True),
        )
    board.add(
        stat.Panel()
        .title("Alerts firing")
        .description("Driftline alerts firing now in Prometheus, by severity.")
        .thresholds(thresholds((None, "green"), (1, "red")))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .height(6)
        .span(8 if spec.slos else 16),
        prom(
            'count(ALERTS{alertstate="firing",model=~"$model",severity="page"}) or vector(0)',
            "page",
            instant=True,
        ),
        prom(
            'count(ALERTS{alertstate="firing",model=~"$model",severity="ticket"}) or vector(0)',
            "ticket",
            instant=True,
        ),
    )


def _quality_row(board: Board, spec: ResolvedSpec, options: GrafanaOptions) -> None:
    """Realized accuracy (classifiers) or error (regressors), and accuracy estimated before labels arrive."""
    board.row("Quality")
    classifiers = [m for m in spec.models if m.prediction_type != "regression"]
    regressors = [m for m in spec.models if m.prediction_type == "regression"]
    if classifiers or not regressors:
        board.add(
            timeseries.Panel()
            .title("Realized accuracy")
            .description(
                "Share of labelled predictions that were right, in the newest window whose labels matured "
                "(classifiers; regressors' error is in its own panel, in the target's unit)."
            )
            .unit("percentunit")
            .min(0)
            .max(1)
            .height(8)
            .span(12),
            prom(performance_expr("accuracy", classifiers), "{{model}} {{version}}"),
        )
    if regressors:
        board.add(
            timeseries.Panel()
            .title("Realized mean absolute error")
            .description(
                "Mean absolute error of the regressors' predictions in the newest window whose labels matured, "
                "in the unit of their target: lower is better."
            )
            .unit("none")
            .min(0)
            .height(8)
            .span(12),
            prom(performance_expr("mae", regressors), "{{model}} {{version}}"),
        )
    binary = [m.name for m in spec.models if m.prediction_type == "binary"]
    if options.has_sql and binary:
        board.add(
            timeseries.Panel()
            .title("Estimated accuracy, before labels arrive")
            .description(
                "Expected accuracy from the scores alone (confidence-based, as NannyML's CBPE): the mean of "
                "max(score, 1 - score) over sampled binary predictions. Trust it when scores are calibrated."
            )
            .unit("percentunit")
            .height(8)
            .span(12),
            sql(
                f"""
                SELECT $__timeGroupAlias(ts, $__interval), model AS metric,
                       avg(GREATEST(score, 1 - score)) AS value
                FROM records
                WHERE model IN (${{model:sqlstring}})
                  AND model IN ({", ".join(sql_string(m) for m in binary)})
                  AND score BETWEEN 0 AND 1
                  AND $__timeFilter(ts)
                GROUP BY 1, 2
                ORDER BY 1, 2
                """,
                "time_series",
            ),
            sql=True,
        )


def _change_row(board: Board, options: GrafanaOptions) -> None:
    """Versions served and deployments in the time range."""
    board.row("Change")
    board.add(
        stat.Panel()
        .title("Versions served in the time range")
        .description("Distinct model versions that reported calls.")
        .height(6)
        .span(12),
        prom(
            f'count by (model) (count_over_time({MODEL_VERSION_INFO.name}{{model=~"$model"}}[$__range]))',
            "{{model}}",
            instant=True,
        ),
    )
    if options.has_sql:
        board.add(
            table.Panel()
            .title("Deployments in the time range")
            .description("Versions first seen (first SDK stats) inside the time range, per model.")
            .height(6)
            .span(12),
            sql(
                """
                SELECT model, count(*) AS deployments, max(first_seen) AS latest
                FROM (
                  SELECT model, version, min("start") AS first_seen
                  FROM stats
                  WHERE model IN (${model:sqlstring})
                  GROUP BY model, version
                ) AS versions
                WHERE $__timeFilter(first_seen)
                GROUP BY model
                ORDER BY model
                """
            ),
            sql=True,
        )
