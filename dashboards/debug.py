"""Debug dashboard of one model: drift per feature over time, reference against current distributions,
per-slice performance with intervals, data quality, label coverage and recent sampled records.

Sample-level panels read the collector's PostgreSQL tables (`records`, `labels`, `drift`, `performance`,
`references`) with Grafana's SQL macros; without a PostgreSQL datasource only the Prometheus panels remain.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import barchart, bargauge, heatmap, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.heatmap import HeatmapColorMode

from contract import FEATURE_ATTRIBUTION, FEATURE_DRIFT, LABELS, MODEL_PERFORMANCE, PREDICTIONS, SDK_DROPPED
from dashboards import uids
from dashboards.board import (
    EVENT_TAG,
    Board,
    constant_variable,
    custom_variable,
    override,
    query_variable,
    threshold_lines,
    thresholds,
    window_variable,
)
from dashboards.options import GrafanaOptions
from dashboards.targets import prom, sql, sql_identifier, sql_string
from spec import Model

SELECTOR = 'model="$model",version=~"$version"'
IN_MODEL = "model = ${model:sqlstring} AND version IN (${version:sqlstring})"
#: Per-window gauges and tables: one window length, the `window` variable (text 1h for the label, value in
#: seconds for the tables' window_seconds column).
WINDOWED = SELECTOR + ',window="${window:text}"'
IN_WINDOW = IN_MODEL + " AND window_seconds = ${window}"


def performance_metric(m: Model) -> str:
    """The realized-performance metric the collector computes for this model (analyzers.performance)."""
    return "mae" if m.prediction_type == "regression" else "accuracy"


def distribution_sql() -> str:
    """Reference against current share per bin of `$feature`, with the reference's own bins as analyzers.binning
    makes them: numeric (a, b] (a value's bin is the number of edges below it), or categories then `other`."""
    return f"""
        WITH ref AS (
          SELECT features -> ${{feature:sqlstring}} AS f
          FROM "references"
          WHERE model = ${{model:sqlstring}} AND features -> ${{feature:sqlstring}} IS NOT NULL
          ORDER BY created_at DESC, id DESC
          LIMIT 1
        ),
        binning AS (
          SELECT f -> 'binning' ->> 'kind' AS kind,
                 ARRAY(SELECT e::float8 FROM jsonb_array_elements_text(f -> 'binning' -> 'edges')
                       WITH ORDINALITY AS t(e, i) ORDER BY i) AS edges,
                 ARRAY(SELECT c FROM jsonb_array_elements_text(f -> 'binning' -> 'categories')
                       WITH ORDINALITY AS t(c, i) ORDER BY i) AS categories
          FROM ref
        ),
        labels AS (
          SELECT b AS bin,
                 CASE WHEN kind = 'numeric'
                      THEN '(' || CASE WHEN b = 0 THEN '-inf' ELSE edges[b]::text END || ', '
                           || CASE WHEN b = cardinality(edges) THEN 'inf)' ELSE edges[b + 1]::text || ']' END
                      ELSE coalesce(categories[b + 1], 'other')
                 END AS label
          FROM binning,
               generate_series(0, CASE WHEN kind = 'numeric' THEN cardinality(edges)
                                       ELSE cardinality(categories) END) AS b
        ),
        ref_bins AS (
          SELECT (i - 1)::int AS bin, n::float8 AS n
          FROM ref, jsonb_array_elements_text(f -> 'counts') WITH ORDINALITY AS t(n, i)
        ),
        cur_values AS (
          SELECT features ->> ${{feature:sqlstring}} AS txt,
                 CASE WHEN jsonb_typeof(features -> ${{feature:sqlstring}}) = 'number'
                      THEN (features ->> ${{feature:sqlstring}})::float8 END AS num
          FROM records
          WHERE {IN_MODEL} AND $__timeFilter(ts)
        ),
        cur_bins AS (
          SELECT CASE WHEN kind = 'numeric'
                      THEN (SELECT count(*) FROM unnest(edges) AS e WHERE e < num)::int
                      ELSE coalesce(array_position(categories, txt) - 1, cardinality(categories))
                 END AS bin,
                 count(*)::float8 AS n
          FROM binning, cur_values
          WHERE (kind = 'numeric' AND num IS NOT NULL) OR (kind <> 'numeric' AND txt IS NOT NULL)
          GROUP BY 1
        )
        SELECT l.label AS bin,
               coalesce(r.n / NULLIF(sum(r.n) OVER (), 0), 0) AS reference,
               coalesce(c.n / NULLIF(sum(c.n) OVER (), 0), 0) AS current
        FROM labels AS l
        LEFT JOIN ref_bins AS r ON r.bin = l.bin
        LEFT JOIN cur_bins AS c ON c.bin = l.bin
        ORDER BY l.bin
        """


def quality_sql(m: Model) -> str:
    """Per declared feature, the share of sampled records where it is missing, null or (numeric) not a number."""
    columns = []
    for f in m.features:
        if f.pii:
            continue  # the SDK hashes or drops personal fields before they are sent
        value = f"features -> {sql_string(f.name)}"
        bad = (
            f"jsonb_typeof({value}) IS DISTINCT FROM 'number'"
            if f.type == "numeric"
            else f"{value} IS NULL OR jsonb_typeof({value}) = 'null'"
        )
        columns.append(f"avg(CASE WHEN {bad} THEN 1.0 ELSE 0.0 END) AS {sql_identifier(f.name)}")
    select = ",\n  ".join(["$__timeGroupAlias(ts, $__interval)", *columns])
    return f"""
SELECT
  {select}
FROM records
WHERE {IN_MODEL} AND $__timeFilter(ts)
GROUP BY 1
ORDER BY 1
"""


def debug(m: Model, options: GrafanaOptions) -> dict[str, Any]:
    """The debug dashboard of one model."""
    board = Board(
        uids.model_uid(m.name),
        f"Driftline / Model / {m.name}",
        f"Why is {m.name} misbehaving? Drift, distributions, slices, data quality, labels and records.",
        options,
        tags=("model", f"model:{m.name}"),
        time_from="now-24h",
    )
    drift_features = [f.name for f in m.drift_features]
    metric = performance_metric(m)
    board.variable(constant_variable("model", m.name))
    board.variable(
        query_variable(
            "version",
            "Version",
            f'label_values({PREDICTIONS.name}{{model="$model"}}, version)',
            options,
        )
    )
    board.variable(
        query_variable(
            "slice",
            "Slice",
            f'label_values({MODEL_PERFORMANCE.name}{{model="$model",version=~"$version"}}, slice)',
            options,
        )
    )
    board.variable(custom_variable("metric", "Drift metric", list(m.drift.metrics), multi=False))
    board.variable(window_variable(m.drift.windows))
    if options.has_sql:
        board.variable(custom_variable("feature", "Feature", drift_features))
    board.deploys(["driftline-deploy", "model:$model"])
    board.events([EVENT_TAG, "model:$model"])

    _drift_row(board, m, drift_features)
    _performance_row(board, m, metric)
    _quality_row(board, m)
    _explanations_row(board, options.has_sql)
    if options.has_sql:
        board.row("Recent sampled records")
        board.add(
            table.Panel()
            .title("Sampled records, newest first")
            .description(
                "The last 100 sampled predictions with their label when it has arrived, and the three features "
                "that pushed each prediction most (SHAP value, in the model's output units). Features are as "
                "the SDK sent them, after redaction."
            )
            .height(10)
            .span(24)
            .filterable(True),
            sql(
                """
                SELECT r.ts AS time, r.record_id, r.version, r.prediction::text AS prediction, r.score,
                       l.label::text AS label, (
                         SELECT string_agg(a.key || ' ' || to_char(a.v, 'FMS9990.000'), ', ' ORDER BY abs(a.v) DESC)
                         FROM (SELECT key, value::float8 AS v
                               FROM jsonb_each_text(r.attributions -> 'values')
                               ORDER BY abs(value::float8) DESC, key
                               LIMIT 3) AS a
                       ) AS top_shap_features,
                       r.slices::text AS slices, r.features::text AS features
                FROM records AS r
                LEFT JOIN labels AS l ON l.model = r.model AND l.record_id = r.record_id
                WHERE r.model = ${model:sqlstring} AND r.version IN (${version:sqlstring})
                  AND $__timeFilter(r.ts)
                ORDER BY r.ts DESC
                LIMIT 100
                """
            ),
            sql=True,
        )
    return board.to_json()


def _explanations_row(board: Board, has_sql: bool) -> None:
    """Mean |SHAP| per feature over time, and which features' attributions moved from the reference's."""
    board.row("Explanations (SHAP)")
    board.add(
        timeseries.Panel()
        .title("Mean |SHAP| per feature")
        .description(
            "How much each feature moved the model's output on average, per complete window. Needs an "
            "explainer: `explain:` in the spec (collector-side) or `Monitor(explainer=...)` (SDK-side)."
        )
        .height(8)
        .span(12 if has_sql else 24),
        prom(f'{FEATURE_ATTRIBUTION.name}{{{WINDOWED},kind="prediction"}}', "{{feature}}"),
    )
    if not has_sql:
        return
    board.add(
        table.Panel()
        .title("Attributions against the reference, newest window")
        .description(
            "prediction: what moves the output (moves with the inputs). loss: what moves the error, on labelled "
            "records; a feature whose loss attribution drifted changed its relation to the target."
        )
        .height(8)
        .span(12),
        sql(
            f"""
            SELECT DISTINCT ON (feature, kind)
                   feature, kind, status, mean_abs, reference_mean_abs, mean, reference_mean,
                   p_adjusted, n, window_start AS "window"
            FROM attributions
            WHERE {IN_WINDOW} AND $__timeFilter(window_start)
            ORDER BY feature, kind, window_start DESC
            """
        ),
        sql=True,
    )


def _drift_row(board: Board, m: Model, features: list[str]) -> None:
    board.row("Drift")
    drift = f'{FEATURE_DRIFT.name}{{{WINDOWED},metric="$metric"}}'
    levels = thresholds((None, "green"), (m.drift.warn, "orange"), (m.drift.alert, "red"))
    note = f"warn at {m.drift.warn:g} and alert at {m.drift.alert:g} apply to {m.drift.metrics[0]}"
    board.add(
        bargauge.Panel()
        .title("Drift now, per feature")
        .description(f"Newest complete window against the reference; {note}.")
        .thresholds(levels)
        .min(0)
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .height(8)
        .span(8),
        prom(f"max by (feature) ({drift})", "{{feature}}", instant=True),
    )
    if board.options.has_sql:
        board.add(
            heatmap.Panel()
            .title("Drift per feature over time")
            .description(
                f"Every evaluated window, replays included (rows: features; colour: $metric); {note}."
            )
            .calculate(False)
            .color(
                heatmap.HeatmapColorOptions()
                .mode(HeatmapColorMode.SCHEME)
                .scheme("Oranges")
                .exponent(0.5)
                .steps(64)
            )
            .height(8)
            .span(16),
            sql(
                f"""
                SELECT window_start AS time, feature AS metric, max(value) AS value
                FROM drift
                WHERE {IN_WINDOW} AND metric = ${{metric:sqlstring}} AND $__timeFilter(window_start)
                GROUP BY 1, 2
                ORDER BY 1, 2
                """,
                "time_series",
            ),
            sql=True,
        )
    else:
        board.add(
            timeseries.Panel()
            .title("Drift per feature over time")
            .description(note)
            .height(8)
            .span(16)
            .thresholds(levels)
            .thresholds_style(threshold_lines()),
            prom(f"max by (feature) ({drift})", "{{feature}}"),
        )
    if board.options.has_sql and features:
        board.add(
            barchart.Panel()
            .title("$feature: reference against current")
            .description("Share of values per reference bin: the reference sample against the time range.")
            .unit("percentunit")
            .x_field("bin")
            .x_tick_label_rotation(-45)
            .repeat("feature")
            .repeat_direction("h")
            .max_per_row(4)
            .height(8)
            .span(6),
            sql(distribution_sql()),
            sql=True,
        )


def _performance_row(board: Board, m: Model, metric: str) -> None:
    board.row("Performance")
    unit = "short" if metric == "mae" else "percentunit"
    board.add(
        timeseries.Panel()
        .title(f"Realized {metric} per slice")
        .description("Newest window whose labels matured, per slice; `other` folds rare slice values.")
        .unit(unit)
        .height(8)
        .span(12),
        prom(f'{MODEL_PERFORMANCE.name}{{{WINDOWED},slice=~"$slice",metric="{metric}"}}', "{{slice}}"),
    )
    if not board.options.has_sql:
        return
    board.add(
        timeseries.Panel()
        .title(f"Overall {metric} with its 95% interval")
        .description("Every window with labels; the band is the Wilson (accuracy) or normal (MAE) interval.")
        .unit(unit)
        .height(8)
        .span(12)
        .override_by_name(*override("upper 95%", custom__fillBelowTo="lower 95%", custom__lineWidth=0))
        .override_by_name(*override("lower 95%", custom__lineWidth=0)),
        sql(
            f"""
            SELECT window_start AS time, avg(value) AS "{metric}", min(lower) AS "lower 95%",
                   max(upper) AS "upper 95%"
            FROM performance
            WHERE {IN_WINDOW} AND slice = 'all' AND metric = {sql_string(metric)}
              AND value IS NOT NULL AND $__timeFilter(window_start)
            GROUP BY 1
            ORDER BY 1
            """,
            "time_series",
        ),
        sql=True,
    )
    board.add(
        table.Panel()
        .title("Per-slice performance, newest window")
        .description(
            "Value, 95% interval, labelled support and records per slice; status says why a value is missing."
        )
        .height(8)
        .span(24),
        sql(
            f"""
            SELECT DISTINCT ON (slice, version, metric)
                   slice, version, metric, value, lower, upper, support, total, status,
                   window_start AS "window"
            FROM performance
            WHERE {IN_WINDOW} AND slice IN (${{slice:sqlstring}}) AND $__timeFilter(window_start)
            ORDER BY slice, version, metric, window_start DESC
            """
        ),
        sql=True,
    )


def _quality_row(board: Board, m: Model) -> None:
    board.row("Data quality and labels")
    if board.options.has_sql:
        board.add(
            timeseries.Panel()
            .title("Missing or invalid feature values")
            .description(
                "Share of sampled records per feature where the value is absent, null or, for numeric"
                " features, not a number."
            )
            .unit("percentunit")
            .height(8)
            .span(8),
            sql(quality_sql(m), "time_series"),
            sql=True,
        )
        board.add(
            timeseries.Panel()
            .title("Label coverage")
            .description("Share of sampled records whose ground-truth label has arrived, by prediction time.")
            .unit("percentunit")
            .min(0)
            .max(1)
            .height(8)
            .span(8),
            sql(
                """
                SELECT $__timeGroupAlias(r.ts, $__interval),
                       avg(CASE WHEN l.record_id IS NULL THEN 0.0 ELSE 1.0 END) AS "labelled"
                FROM records AS r
                LEFT JOIN labels AS l ON l.model = r.model AND l.record_id = r.record_id
                WHERE r.model = ${model:sqlstring} AND r.version IN (${version:sqlstring})
                  AND $__timeFilter(r.ts)
                GROUP BY 1
                ORDER BY 1
                """,
                "time_series",
            ),
            sql=True,
        )
    board.add(
        timeseries.Panel()
        .title("Labels and dropped samples")
        .description("Ground-truth labels received per second, and samples the SDK had to drop.")
        .height(8)
        .span(8),
        prom(f'sum(rate({LABELS.name}{{model="$model"}}[$__rate_interval]))', "labels"),
        prom(f"sum(rate({SDK_DROPPED.name}{{{SELECTOR}}}[$__rate_interval]))", "dropped"),
    )
