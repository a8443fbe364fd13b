"""`driftline replay`: backfill logged predictions (CSV, Parquet) by their own timestamps.

Rows go through the collector's own ingest path (validation, redaction, idempotent batch ids derived
from the file's content, so replaying a file twice stores each record once), then every historical
window is evaluated. Bad values are reported with their row number and column; `strict` stops at the
first one, otherwise the row is kept (a non-numeric numeric value is a data-quality event) or, when
it has no usable event time, skipped.

One module per job: `files` reads (a file, or the parts of a Parquet data set directory), `columns` maps
columns onto records, `run` sends and evaluates, `sinks` stores (in-process or over HTTP through
`sdk.CollectorClient`), `summary` prints the table, `flags` are the command's; `cluster` bins a Parquet
data set's batches on Dask workers (`--dask`).
"""

from driftline.replay.base import (
    MAX_REFERENCE_ROWS,
    Columns,
    Problem,
    ReplayError,
    ReplayFileError,
    ReplayResult,
    Sink,
)
from driftline.replay.columns import NUMERIC_NULL_WORDS, TIME_UNITS, Converter, parse_time
from driftline.replay.files import check_file, count_rows, file_digest, parquet_parts, read_batches
from driftline.replay.flags import add_replay_parser
from driftline.replay.run import replay
from driftline.replay.sinks import EmbeddedSink, HTTPSink
from driftline.replay.summary import summary

__all__ = [
    "MAX_REFERENCE_ROWS",
    "NUMERIC_NULL_WORDS",
    "TIME_UNITS",
    "Columns",
    "Converter",
    "EmbeddedSink",
    "HTTPSink",
    "Problem",
    "ReplayError",
    "ReplayFileError",
    "ReplayResult",
    "Sink",
    "add_replay_parser",
    "check_file",
    "count_rows",
    "file_digest",
    "parquet_parts",
    "parse_time",
    "read_batches",
    "replay",
    "summary",
]
