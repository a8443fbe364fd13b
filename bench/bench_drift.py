"""Benchmark: fit a reference and score one window with analyzers, beside plain numpy/scipy and peers.

Run by hand: `python bench/bench_drift.py [--rows N] [--features F] [--repeat R] [--peers-python PATH]`.
Prints one table of time and peak traced memory (tracemalloc: what the call allocates, inputs excluded)
per approach, with the ratio to its baseline: the histogram statistics against a numpy baseline
(quantile bins, searchsorted, bincount; target <= 1.5x), KS and Wasserstein against scipy on the same
10,000-value reference sample, and every statistic against Evidently's and NannyML's drift reports.
The peers run in their own virtual environment (never the project's), made with
`python3 -m venv /tmp/bench-peers && /tmp/bench-peers/bin/pip install evidently nannyml 'pandas<3'`;
this script re-runs itself there with `--peer NAME` on the same seeded data.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HISTOGRAM_METRICS = ("psi", "kl", "kl_reverse", "js", "jeffreys", "hellinger", "chi2")
SAMPLE_METRICS = ("ks", "wasserstein")
SAMPLE_SIZE = 10_000  # analyzers.binning.SAMPLE_SIZE; repeated so that --peer runs need no analyzers
PEERS = ("evidently", "nannyml")
Columns = dict[str, np.ndarray]


def make_columns(rows: int, features: int, seed: int, shifted: int | None) -> Columns:
    """Seeded standard-normal columns; the `shifted` one moves by half a standard deviation."""
    data = np.random.default_rng(seed).normal(size=(features, rows))
    if shifted is not None:
        data[shifted] += 0.5
    return {f"f{j:02d}": data[j] for j in range(features)}


def numpy_psi(reference: Columns, window: Columns, n_bins: int = 10) -> dict[str, float]:
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


def scipy_ks_wasserstein(reference: Columns, window: Columns) -> dict[str, float]:
    """What one would write with scipy: a 10,000-value systematic reference sample, ks_2samp, wasserstein."""
    from scipy.stats import ks_2samp, wasserstein_distance

    out = {}
    for name, r in reference.items():
        sample = r[(np.arange(SAMPLE_SIZE) * r.size) // SAMPLE_SIZE] if r.size > SAMPLE_SIZE else r
        ks_2samp(sample, window[name])
        out[name] = wasserstein_distance(sample, window[name]) / float(np.std(r, ddof=1))
    return out


def analyzers_drift(metrics: tuple[str, ...]) -> Callable[..., dict[str, dict[str, float]]]:
    """analyzers fit the reference, then `drift_table` of the window: {metric: {feature: value}}."""
    from analyzers.binning import fit_reference
    from analyzers.drift import drift_table

    def run(reference: Columns, window: Columns) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {m: {} for m in metrics}
        for v in drift_table(fit_reference(reference), window, metrics):
            out[v.metric][v.feature] = v.value
        return out

    return run


def measure(fn: Callable[..., Any], repeat: int, *args: Any) -> tuple[float, float, Any]:
    """Best wall time of `repeat` runs, then peak traced memory (MiB) of one more run."""
    best, result = float("inf"), None
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


def evidently_report(reference: Any, window: Any) -> Any:
    """Evidently's DataDriftPreset, defaults: normalised Wasserstein for numeric columns of over 1000 rows."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=list(reference.columns))
    return Report([DataDriftPreset()]).run(Dataset.from_pandas(window, data_definition=definition),
                                           Dataset.from_pandas(reference, data_definition=definition))


def nannyml_report(reference: Any, window: Any) -> Any:
    """NannyML's univariate drift calculator, KS and Jensen-Shannon, one chunk a side: fit, then calculate."""
    import nannyml

    calc = nannyml.UnivariateDriftCalculator(column_names=list(reference.columns), chunk_number=1,
                                             continuous_methods=["kolmogorov_smirnov", "jensen_shannon"])
    return calc.fit(reference).calculate(window)


def run_peer(name: str, args: argparse.Namespace) -> None:
    """Inside the peers' venv: time one peer on the same seeded data and print a JSON line."""
    import importlib.metadata
    import warnings

    import pandas as pd

    warnings.filterwarnings("ignore")
    reference, window = (pd.DataFrame(c) for c in data(args))
    fn = evidently_report if name == "evidently" else nannyml_report
    seconds, peak, _ = measure(fn, args.peer_repeat, reference, window)
    version = importlib.metadata.version(name)
    print(json.dumps({"name": name, "version": version, "time": seconds, "peak": peak}))


def peer_rows(args: argparse.Namespace) -> list[tuple[str, float, float] | str]:
    """Run each peer in its own venv; a row per peer, or a line saying why it did not run."""
    python = Path(args.peers_python)
    if not python.exists():
        return [f"peers not run: {python} does not exist (see this file's docstring to make it)"]
    rows: list[tuple[str, float, float] | str] = []
    for name in PEERS:
        command = [str(python), __file__, "--peer", name, "--rows", str(args.rows), "--features",
                   str(args.features), "--seed", str(args.seed), "--peer-repeat", str(args.peer_repeat)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.peer_timeout)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not lines:
            rows.append(f"{name} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(lines[-1])
        label = f"{name} {r['version']} " + ("DataDriftPreset" if name == "evidently" else "KS + JS")
        rows.append((label, r["time"], r["peak"]))
    return rows


def data(args: argparse.Namespace) -> tuple[Columns, Columns]:
    """The reference and the window: same seeds in every process, the middle feature shifted."""
    shifted = args.features // 2
    return (make_columns(args.rows, args.features, args.seed, None),
            make_columns(args.rows, args.features, args.seed + 1, shifted))


def row(label: str, t: float, m: float, base: tuple[float, float] | None) -> str:
    """One table line; ratios against `base` (time, memory) when given."""
    ratios = f"{t / base[0]:>11.2f}x{m / base[1]:>10.2f}x" if base else f"{'':>12}{'':>11}"
    return f"{label:48}{t:>10.3f}{m:>12.1f}{ratios}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side (default 1,000,000)")
    parser.add_argument("--features", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peers-python", default="/tmp/bench-peers/bin/python")
    parser.add_argument("--peer-repeat", type=int, default=1)
    parser.add_argument("--peer-timeout", type=int, default=1800)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peer", choices=PEERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        return run_peer(args.peer, args)

    reference, window = data(args)
    shifted = f"f{args.features // 2:02d}"
    cases = {
        "numpy baseline: quantile bins + PSI": (numpy_psi, None),
        "analyzers: PSI, KL, JS (default metrics)": (analyzers_drift(("psi", "kl", "js")), "numpy"),
        "analyzers: 7 histogram statistics (+ chi2 p)": (analyzers_drift(HISTOGRAM_METRICS), "numpy"),
        "scipy baseline: ks_2samp + wasserstein (10k ref)": (scipy_ks_wasserstein, None),
        "analyzers: KS + Wasserstein": (analyzers_drift(SAMPLE_METRICS), "scipy"),
        "analyzers: all 9 statistics": (analyzers_drift(HISTOGRAM_METRICS + SAMPLE_METRICS), None),
    }
    results = {label: measure(fn, args.repeat, reference, window) for label, (fn, _) in cases.items()}
    bases = {"numpy": results["numpy baseline: quantile bins + PSI"][:2],
             "scipy": results["scipy baseline: ks_2samp + wasserstein (10k ref)"][:2]}

    print(f"{args.features} features x {args.rows:,} rows per side, {shifted} shifted by 0.5 sd; "
          f"fit + score, best of {args.repeat} (peers: {args.peer_repeat})")
    print(f"{'':48}{'time (s)':>10}{'peak (MiB)':>12}{'vs base':>12}{'mem':>11}")
    for label, (_, base) in cases.items():
        t, m, _ = results[label]
        print(row(label, t, m, bases[base] if base else None))
    everything = results["analyzers: all 9 statistics"]
    histograms = results["analyzers: 7 histogram statistics (+ chi2 p)"]
    for peer in ([] if args.no_peers else peer_rows(args)):
        if isinstance(peer, str):
            print(peer)
        else:
            label, t, m = peer
            print(row(label, t, m, None) + f"   analyzers is {t / everything[0]:.1f}x faster (all 9), "
                  f"{t / histograms[0]:.1f}x (histogram statistics)")
    ours = everything[2]
    psi_numpy = results["numpy baseline: quantile bins + PSI"][2]
    w_scipy = results["scipy baseline: ks_2samp + wasserstein (10k ref)"][2]
    print(f"{shifted}: PSI {ours['psi'][shifted]:.4f}, KS {ours['ks'][shifted]:.4f}, normalised Wasserstein "
          f"{ours['wasserstein'][shifted]:.4f}; max |difference| over all features: PSI vs numpy "
          f"{max(abs(psi_numpy[k] - ours['psi'][k]) for k in psi_numpy):.1e}, Wasserstein vs scipy "
          f"{max(abs(w_scipy[k] - ours['wasserstein'][k]) for k in w_scipy):.1e}")


if __name__ == "__main__":
    main()
