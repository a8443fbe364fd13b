"""What every layer agrees on and no layer owns: the exported series and the root of every error.

The bottom floor beside `sdk` and `analyzers`: plain data and one exception class, no I/O, no imports
from the rest of the code base.
"""

from contract.errors import DriftlineError
from contract.series import (
    ATTRIBUTION_DRIFT,
    CARDINALITY_LIMITED,
    DATA_QUALITY,
    EVALUATION_FAILURES,
    FEATURE_ATTRIBUTION,
    FEATURE_DRIFT,
    LABELLED_PREDICTIONS,
    LABELS,
    LAST_LABEL_TIMESTAMP,
    LAST_RECEIVED,
    LAST_RECORD_TIMESTAMP,
    MODEL_EVENTS,
    MODEL_PERFORMANCE,
    MODEL_VERSION_INFO,
    PREDICTION_LATENCY,
    PREDICTIONS,
    RECORDS,
    SDK_DROPPED,
    SERIES,
    SLO_BURN_RATE,
    SLO_ERROR_BUDGET_REMAINING,
    Series,
    SeriesKind,
    series_named,
)

__all__ = [
    "ATTRIBUTION_DRIFT",
    "CARDINALITY_LIMITED",
    "DATA_QUALITY",
    "EVALUATION_FAILURES",
    "FEATURE_ATTRIBUTION",
    "FEATURE_DRIFT",
    "LABELLED_PREDICTIONS",
    "LABELS",
    "LAST_LABEL_TIMESTAMP",
    "LAST_RECEIVED",
    "LAST_RECORD_TIMESTAMP",
    "MODEL_EVENTS",
    "MODEL_PERFORMANCE",
    "MODEL_VERSION_INFO",
    "PREDICTIONS",
    "PREDICTION_LATENCY",
    "RECORDS",
    "SDK_DROPPED",
    "SERIES",
    "SLO_BURN_RATE",
    "SLO_ERROR_BUDGET_REMAINING",
    "DriftlineError",
    "Series",
    "SeriesKind",
    "series_named",
]
