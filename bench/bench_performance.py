"""Cost of one window's realized performance (7 binary metrics per slice, 1,000-resample intervals).

Baseline, measured in the same run: the same metrics and percentile intervals computed the plain way,
sklearn.metrics on each resample's rows, for the window's "all" slice only (the analyzer does every
slice). Run: `.venv/bin/python bench/bench_performance.py [--rows 10000] [--resamples 1000]`.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from sklearn.metrics import f1_score, log_loss, roc_auc_score

from analyzers.performance import LabelledRow, resample_indices, window_performance


def window(n: int, seed: int = 0) -> list[LabelledRow]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.5 + (y - 0.5) * rng.uniform(0, 0.8, n) + rng.normal(0, 0.2, n), 0, 1)
    slices = {
        "region": rng.choice(["EU", "US", "APAC", "LATAM"], n),
        "device": rng.choice(["ios", "android", "web"], n),
        "plan": rng.choice(["free", "pro"], n),
    }
    return [
        LabelledRow(int(s >= 0.5), int(t), {k: str(v[i]) for k, v in slices.items()}, float(s))
        for i, (t, s) in enumerate(zip(y, score, strict=True))
    ]


def sklearn_baseline(rows: list[LabelledRow], resamples: int) -> None:
    y = np.array([r.label for r in rows])
    pred = np.array([r.prediction for r in rows])
    score = np.array([r.score for r in rows])
    for fn, a, b in ((f1_score, y, pred), (roc_auc_score, y, score), (log_loss, y, score)):
        values = [fn(a[i], b[i]) for idx in resample_indices(len(y), resamples, 0) for i in idx]
        np.percentile(values, [2.5, 97.5])


def timed(fn: object, *args: object, **kw: object) -> tuple[float, float]:
    tracemalloc.start()
    t = time.perf_counter()
    fn(*args, **kw)  # type: ignore[operator]
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return elapsed, peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 10000, 50000])
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args()
    print(
        f"{'rows':>7} {'slices':>6} {'analyzer s':>11} {'MiB':>6} {'no-CI s':>8} "
        f"{'sklearn all-only s':>19} {'ratio':>6}"
    )
    for n in args.rows:
        rows = window(n)
        kw = {"prediction_type": "binary", "slice_columns": ["region", "device", "plan"]}
        t_an, mem = timed(window_performance, rows, resamples=args.resamples, **kw)
        t_no, _ = timed(window_performance, rows, resamples=0, **kw)
        slices = len({v.slice for v in window_performance(rows, resamples=0, **kw)})
        base_resamples = args.resamples if n <= 10000 else max(50, args.resamples // 10)
        t_sk, _ = timed(sklearn_baseline, rows, base_resamples)
        t_sk *= args.resamples / base_resamples  # extrapolated when fewer resamples were run
        print(f"{n:>7} {slices:>6} {t_an:>11.3f} {mem:>6.0f} {t_no:>8.3f} {t_sk:>19.2f} {t_an / t_sk:>6.3f}")


if __name__ == "__main__":
    main()
