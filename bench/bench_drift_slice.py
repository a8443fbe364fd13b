"""Cost of finding the slice behind a drift incident, beside the feature's drift on the same rows.

A window's reservoir (10,000 rows by default) with a numeric feature drifted in one region; the explaining
slice tries every value of each slice column (the 20 most frequent, each with at least 30 rows) and
measures the feature's drift on the rest. The baseline is one `feature_drift` of the same rows in the same
run: the ratio is about the number of slice values tried, since each costs one binning of the rest.

Run by hand: `.venv/bin/python bench/bench_drift_slice.py [--rows 10000]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analyzers.binning import fit_reference
from analyzers.drift import feature_drift
from analyzers.drift_slice import explaining_slice


def best_of(fn, repeats: int = 5) -> float:  # type: ignore[no-untyped-def]
    """The fastest of `repeats` calls, in seconds."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    """Print the table: baseline drift, then the slice search over 1 and 3 slice columns."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    n = parser.parse_args().rows
    rng = np.random.default_rng(0)
    reference = fit_reference({"income": rng.normal(0, 1, 5_000)})["income"]
    regions = rng.choice([f"r{i}" for i in range(20)], n)
    devices = rng.choice(["ios", "android", "web"], n)
    plans = rng.choice([f"p{i}" for i in range(8)], n)
    income = rng.normal(0, 1, n) + np.where(regions == "r3", 2.0, 0.0)
    rows = [{"income": float(x), "region": str(r), "device": str(d), "plan": str(p)}
            for x, r, d, p in zip(income, regions, devices, plans, strict=True)]  # fmt: skip
    values = [r["income"] for r in rows]
    base = best_of(lambda: feature_drift(reference, values, ("psi",)))
    print(f"{n:,} rows, psi; best of 5 on this machine\n")
    print("| case | ms | x one feature_drift |")
    print("| --- | ---: | ---: |")
    print(f"| one `feature_drift` of the rows (baseline) | {base * 1e3:.1f} | 1.0 |")
    for columns in (("region",), ("region", "device", "plan")):
        t = best_of(lambda c=columns: explaining_slice(reference, rows, c, "psi"))
        found = explaining_slice(reference, rows, columns, "psi")
        tried = sum(min(20, len({r[c] for r in rows})) for c in columns)
        label = f"`explaining_slice`, {len(columns)} column(s), {tried} values tried"
        print(f"| {label} (found {found.slice if found else None}) | {t * 1e3:.1f} | {t / base:.1f} |")


if __name__ == "__main__":
    main()
