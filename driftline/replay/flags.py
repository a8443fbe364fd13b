"""The `driftline replay` command's flags, kept beside the replay they configure."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_replay_parser(sub: Any, func: Callable[[argparse.Namespace], int]) -> None:
    """The `driftline replay` command's flags (backfill a prediction log); `func` runs it."""
    r = sub.add_parser("replay", help="backfill logged predictions (CSV, Parquet) by their own timestamps")
    r.add_argument("file", help="CSV, TSV or Parquet file of logged predictions, or a directory of Parquet parts")
    r.add_argument("--config", help="spec file; env DRIFTLINE_CONFIG")
    r.add_argument("--model", required=True, help="the spec's model these predictions belong to")
    r.add_argument(
        "--database-url", help="store into this database (default: DRIFTLINE_DATABASE_URL or sqlite)"
    )
    r.add_argument("--collector", help="send to a running collector at this URL instead of a database")
    r.add_argument("--token", help="ingest token for --collector (env DRIFTLINE_TOKEN)")
    r.add_argument(
        "--admin-token", help="admin token for --collector, to evaluate (env DRIFTLINE_ADMIN_TOKEN)"
    )
    r.add_argument("--labels", help="second file of labels joined by id (columns: id and label)")
    r.add_argument("--label-column", help="column of this file holding the label")
    r.add_argument("--time-column", default="ts", help="event-time column (default ts)")
    r.add_argument(
        "--time-unit",
        choices=("s", "ms", "us", "ns"),
        default="s",
        help="unit of a numeric event-time column, since 1970-01-01 (default s); never guessed. ISO-8601 text "
        "and Parquet timestamp columns carry their own",
    )
    r.add_argument("--id-column", default="id", help="record id column (default id; row numbers without it)")
    r.add_argument("--prediction-column", default="prediction")
    r.add_argument("--score-column", default="score")
    r.add_argument("--version", default="replay", help="model version of every row (default replay)")
    r.add_argument("--version-column", help="column holding each row's model version")
    ref = r.add_mutually_exclusive_group()
    ref.add_argument("--reference-until", help="rows before this ISO-8601 time form the reference")
    ref.add_argument("--reference", help="a separate file of reference rows")
    r.add_argument("--strict", action="store_true", help="stop at the first bad value")
    r.add_argument("--batch-rows", type=int, default=5000, help="rows per ingest batch")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument(
        "--dask",
        metavar="SCHEDULER|local:N",
        help="bin a Parquet file or directory of Parquet parts on Dask workers (a scheduler address, or "
        "local:N worker processes started for the run); stores into --database-url. Needs driftline[dask]",
    )
    r.set_defaults(func=func)
