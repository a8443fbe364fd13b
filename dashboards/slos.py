"""SLO dashboard: per SLO, the error budget left, its burn-down over the period, and the burn rate per window.

One row repeated for each selected `$slo`, reading the series `slo.rules` records (`slo:*`), so an
alert's dashboard link (`?var-model=...&var-slo=...`, built by `slo.links`) opens the
row of the SLO that fired.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.models import common

from dashboards import uids
from dashboards.board import Board, custom_variable, query_variable, threshold_lines, thresholds
from dashboards.options import GrafanaOptions
from dashboards.targets import prom
from spec import ResolvedSpec

SLO = '{slo="$slo"}'
#: Every recorded error ratio of the SLO, with its window taken from the record name as a `window` label.
RATIOS = (
    'label_replace({__name__=~"slo:sli_error:ratio_rate.+",slo="$slo"},'
    ' "window", "$1", "__name__", "slo:sli_error:ratio_rate(.+)")'
)


def slos(spec: ResolvedSpec, options: GrafanaOptions) -> dict[str, Any]:
    """The SLO dashboard for every SLO of the spec."""
    board = Board(
        uids.SLOS,
        "Driftline / SLOs",
        "Error budgets: how much is left, how fast it burns, per SLO.",
        options,
        tags=("slo",),
        time_from="now-30d",
    )
    board.variable(custom_variable("model", "Model", [m.name for m in spec.models]))
    board.variable(
        query_variable("slo", "SLO", 'label_values(slo:objective:ratio{model=~"$model"}, slo)', options)
    )
    board.deploys(["driftline-deploy"])
    budget = thresholds((None, "red"), (0.0, "orange"), (0.25, "green"))

    board.row("$slo", repeat="slo")
    board.add(
        stat.Panel()
        .title("Error budget left")
        .description("Share of the period's error budget not yet spent; below zero the objective is missed.")
        .unit("percentunit")
        .decimals(1)
        .thresholds(budget)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.AREA)
        .height(7)
        .span(6),
        prom(f"slo:period_error_budget_remaining:ratio{SLO}", "left", instant=True),
    )
    board.add(
        stat.Panel()
        .title("Objective")
        .description("Share of good events (or timeslices) the SLO promises over its period.")
        .unit("percentunit")
        .decimals(3)
        .color_mode(common.BigValueColorMode.NONE)
        .graph_mode(common.BigValueGraphMode.NONE)
        .height(7)
        .span(4),
        prom(f"slo:objective:ratio{SLO}", "objective", instant=True),
    )
    board.add(
        timeseries.Panel()
        .title("Budget burn-down")
        .description("Error budget left over the rolling period, as it was at each moment.")
        .unit("percentunit")
        .thresholds(budget)
        .thresholds_style(threshold_lines())
        .height(7)
        .span(7),
        prom(f"slo:period_error_budget_remaining:ratio{SLO}", "budget left"),
    )
    board.add(
        timeseries.Panel()
        .title("Burn rate per window")
        .description("Error ratio over each window divided by the error budget; 1 spends it exactly on time.")
        .unit("x")
        .min(0)
        .thresholds(thresholds((None, "green"), (1.0, "orange")))
        .thresholds_style(threshold_lines())
        .height(7)
        .span(7),
        prom(f"{RATIOS}\n/ on (slo) group_left\nslo:error_budget:ratio{SLO}", "{{window}}"),
    )
    return board.to_json()
