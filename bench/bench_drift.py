"""Benchmark: fit a reference and score one window with analyzers, beside a plain numpy baseline.

Run by hand: `python bench/bench_drift.py [--rows N] [--features F] [--repeat R]`. Prints a table of
time and peak traced memory per approach and the ratio to the baseline (target <= 1.5x).
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from analyzers.binning import fit_reference
from analyzers.drift import drift_table


def make_columns(rows: int, features: int, seed: int, shifted: int | None) -> dict[str, np.ndarray]:
    """Seeded standard-normal columns; the `shifted` one moves by half a standard deviation."""
    data = np.random.default_rng(seed).normal(size=(features, rows))
    if shifted is not None:
        data[shifted] += 0.5
    return {f"f{j:02d}": data[j] for j in range(features)}


def baseline(
    reference: dict[str, np.ndarray], window: dict[str, np.ndarray], n_bins: int = 10
) -> dict[str, float]:
    """What one would write with numpy alone: quantile edges, searchsorted, bincount, the PSI sum."""
    out = {}
    q = np.arange(1, n_bins) / n_bins
    for name, r in reference.items():
        edges = np.unique(np.quantile(r, q, method="inverted_cdf"))
        rc = np.bincount(np.searchsorted(edges, r, side="left"), minlength=edges.size + 1)
        cc = np.bincount(np.searchsorted(edges, window[name], side="left"), minlength=edges.size + 1)
        p, c = np.maximum(rc / rc.sum(), 1e-4), np.maximum(cc / cc.sum(), 1e-4)
        p, c = p / p.sum(), c / c.sum()
        out[name] = float(np.sum((c - p) * np.log(c / p)))
    return out


def driftline(reference: dict[str, np.ndarray], window: dict[str, np.ndarray]) -> dict[str, float]:
    """analyzers end to end: fit the reference, bin the window, PSI + KL + JS from one histogram pair."""
    table = drift_table(fit_reference(reference), window)
    return {v.feature: v.value for v in table if v.metric == "psi"}


def measure(fn: Callable[..., Any], repeat: int, *args: Any) -> tuple[float, float, Any]:
    """Best wall time of `repeat` runs, then peak traced memory (MiB) of one more run."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return best, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side (default 1,000,000)")
    parser.add_argument("--features", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    shifted = args.features // 2
    reference = make_columns(args.rows, args.features, args.seed, None)
    window = make_columns(args.rows, args.features, args.seed + 1, shifted)

    base_t, base_m, base_psi = measure(baseline, args.repeat, reference, window)
    ours_t, ours_m, ours_psi = measure(driftline, args.repeat, reference, window)
    diff = max(abs(base_psi[k] - ours_psi[k]) for k in base_psi)

    print(f"{args.features} features x {args.rows:,} rows per side, f{shifted:02d} shifted by 0.5 sd, "
          f"best of {args.repeat}")
    print(f"{'':34}{'time (s)':>10}{'peak (MiB)':>12}{'time ratio':>12}{'mem ratio':>11}")
    print(f"{'numpy baseline (PSI only)':34}{base_t:>10.3f}{base_m:>12.1f}{1:>11.2f}x{1:>10.2f}x")
    print(f"{'analyzers drift_table (PSI/KL/JS)':34}{ours_t:>10.3f}{ours_m:>12.1f}"
          f"{ours_t / base_t:>11.2f}x{ours_m / base_m:>10.2f}x")
    print(f"PSI of f{shifted:02d}: {ours_psi[f'f{shifted:02d}']:.4f}; "
          f"max |PSI difference| vs baseline over all features: {diff:.2e}")


if __name__ == "__main__":
    main()
