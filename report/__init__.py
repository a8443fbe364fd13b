"""`report`: one self-contained HTML page of a model's key views, for people without Grafana.

The page holds drift per feature over time (with the warn and alert thresholds), reference vs current
distributions of the newest complete window, realized accuracy per window with its interval beside CBPE's
estimate, a slice table judged against the accuracy SLO, data quality, attributions and the SLO budgets.
Plots are inline SVG drawn here. This package only draws: it takes a `ReportData` and returns HTML, a pure
function of it, so two reports of the same data are byte-identical.
Every text in the data is escaped. Reading the database is `driftline.report`'s job.
"""

from report.charts import CURRENT_COLOUR, REFERENCE_COLOUR
from report.data import (
    MAX_WINDOWS,
    AttributionObs,
    Distribution,
    DriftObs,
    PerfObs,
    QualityObs,
    ReportData,
    newest_windows,
)
from report.distributions import MAX_BARS, axis_labels, distribution, distribution_window
from report.page import render
from report.scales import nice_ticks, time_ticks
from report.text import DASH

__all__ = [
    "CURRENT_COLOUR",
    "DASH",
    "MAX_BARS",
    "MAX_WINDOWS",
    "REFERENCE_COLOUR",
    "AttributionObs",
    "Distribution",
    "DriftObs",
    "PerfObs",
    "QualityObs",
    "ReportData",
    "axis_labels",
    "distribution",
    "distribution_window",
    "newest_windows",
    "nice_ticks",
    "render",
    "time_ticks",
]
