"""Generated prediction logs with a planted input shift and accuracy loss, for replay tests and bench."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

START = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)


def prediction_log(
    rows_per_hour: int, hours: int, shift_from_hour: int, seed: int = 3
) -> dict[str, np.ndarray]:
    """Hourly credit predictions; from `shift_from_hour` income rises 1 sd and 35% of predictions go wrong."""
    rng = np.random.default_rng(seed)
    n = rows_per_hour * hours
    hour = np.repeat(np.arange(hours), rows_per_hour)
    shifted = hour >= shift_from_hour
    ts = np.array([START.timestamp()]) + hour * 3600 + rng.uniform(0, 3599, n)
    income = rng.normal(50, 10, n) + np.where(shifted, 10, 0)
    label = rng.integers(0, 2, n)
    wrong = rng.random(n) < np.where(shifted, 0.35, 0.08)
    return {
        "id": np.array([f"p{i}" for i in range(n)]),
        "ts": ts,
        "income": income,
        "age": rng.normal(40, 8, n),
        "debt_ratio": rng.beta(2, 5, n),
        "region": rng.choice(["EU", "US", "APAC"], n),
        "email": np.array([f"user{i}@example.com" for i in range(n)]),
        "prediction": np.where(wrong, 1 - label, label),
        "score": rng.random(n),
        "label": label,
    }


def write_parquet(cols: dict[str, np.ndarray], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(cols)
    table = table.set_column(
        1,
        "ts",
        pa.array([dt.datetime.fromtimestamp(t, dt.UTC) for t in cols["ts"]], pa.timestamp("us", tz="UTC")),
    )
    pq.write_table(table, path)
    return path
