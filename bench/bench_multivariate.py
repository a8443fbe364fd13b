"""Benchmark: cost per window of multivariate drift (MMD, LSDD; fit once, then test each window), beside baselines.

Run by hand: `python bench/bench_multivariate.py [--windows W] [--sizes 250,500,1000] [--threads 2]`.
Needs the multivariate extra (`pip install 'driftline[multivariate]'`). For 25 numeric features and for
256-dim embeddings, at each `max_samples` (rows per side after subsampling), it times:
  - encode: a whole window of 5,000 records (dicts, embeddings as lists) into vectors, once per window;
  - fit: building the detector on the reference (bandwidth, MMD's reference kernel matrix, LSDD's centers);
  - test: one window (5,000 rows, subsampled inside), median of W windows, 100 permutations;
  - peak: resident-memory high-water mark over fit + one test, above where it started (Linux
    /proc/self/clear_refs); on CUDA, torch's peak allocated device memory;
beside two baselines measured in the same run on the same rows: the univariate drift the collector
already computes (analyzers.drift.feature_drift of every column: PSI, KL, JS, KS) and one Gaussian kernel
matrix of the pooled sample in plain numpy (the least any kernel two-sample test computes once).
CUDA rows appear when torch sees a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

METRICS = ("psi", "kl", "js", "ks")
WINDOW_ROWS = 5_000
REFERENCE_ROWS = 5_000
SHAPES = {"25 numeric": 25, "256-dim embedding": 256}


def vectors(shape: str, n: int, seed: int) -> np.ndarray:
    """Seeded float32 rows: correlated standard normals, or embeddings from 8 clusters in 256 dims."""
    rng = np.random.default_rng(seed)
    d = SHAPES[shape]
    if shape == "25 numeric":
        x = rng.normal(size=(n, d))
        x[:, 1] = 0.8 * x[:, 0] + 0.6 * x[:, 1]
        return x.astype(np.float32)
    centers = np.random.default_rng(1234).normal(size=(8, d))
    return (centers[rng.integers(0, 8, size=n)] + rng.normal(size=(n, d))).astype(np.float32)


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise OSError(f"{field} not in /proc/self/status")


def reset_peak() -> int | None:
    """Hand freed heap back to the OS, then reset the resident-memory high-water mark to what is left: the
    current RSS, or None where Linux does not allow it. Without the trim, memory an earlier case freed is
    reused without raising RSS and a case's peak reads as nothing."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: peaks may then read low
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status("VmRSS")
    except OSError:
        return None


def peak_since(start: int | None) -> float:
    """MiB the high-water mark rose above `start` (nan when it could not be reset)."""
    return float("nan") if start is None else max(0, _status("VmHWM") - start) / 2**20


def median_time(fn: Callable[[Any], Any], inputs: list[Any]) -> float:
    """Median wall time of fn over the inputs (one call each)."""
    times = []
    for x in inputs:
        gc.collect()
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def univariate(reference: np.ndarray) -> Callable[[np.ndarray], Any]:
    """What the collector computes per window today: feature_drift of every column against a fitted reference."""
    from analyzers.binning import fit_reference
    from analyzers.drift import feature_drift

    refs = fit_reference({f"f{j}": reference[:, j].astype(np.float64) for j in range(reference.shape[1])})

    def run(window: np.ndarray) -> Any:
        return [feature_drift(r, window[:, j].astype(np.float64), METRICS) for j, r in enumerate(refs.values())]

    return run


def numpy_kernel(reference: np.ndarray) -> Callable[[np.ndarray], Any]:
    """One Gaussian kernel matrix of the pooled reference + window sample, median-heuristic bandwidth given."""
    def run(window: np.ndarray) -> Any:
        z = np.concatenate([reference, window])
        sq = (z * z).sum(1)
        dist = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
        return np.exp(-dist / np.float32(2 * reference.shape[1]))

    return run


def records(shape: str, x: np.ndarray) -> list[dict[str, Any]]:
    """The window as the collector stores it: one dict of features per record (embeddings as lists)."""
    if shape == "25 numeric":
        return [{f"f{j}": v for j, v in enumerate(row)} for row in x.tolist()]
    return [{"emb": row} for row in x.tolist()]


def encode_case(shape: str, windows: list[np.ndarray]) -> tuple[float, float]:
    """(median s, peak MiB) of encoding a whole window of records with a schema fitted on the first one."""
    from analyzers.multivariate import encode, fit_schema

    rows = [records(shape, w) for w in windows]
    schema = fit_schema(rows[0])
    start_rss = reset_peak()
    encode(rows[0], schema)
    peak = peak_since(start_rss)
    return median_time(lambda r: encode(r, schema), rows), peak


def detector_case(
    torch: Any, reference: np.ndarray, windows: list[np.ndarray], method: str, size: int, device: str,
) -> tuple[float, float, float]:
    """(fit s, median test s per window, peak MiB over fit + one test) of one detector configuration."""
    from analyzers.multivariate import MultivariateDetector

    cuda = device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    gc.collect()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    start_rss = reset_peak()
    start = time.perf_counter()
    detector = MultivariateDetector(reference, method, max_samples=size, device=device)  # type: ignore[arg-type]
    sync()
    fit = time.perf_counter() - start
    detector.test(windows[0])
    peak = ((torch.cuda.max_memory_allocated() - base) / 2**20) if cuda else peak_since(start_rss)
    test = median_time(detector.test, windows)
    return fit, test, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=3, help="windows tested per case (median reported)")
    parser.add_argument("--sizes", default="250,500,1000", help="max_samples values (rows per side)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    import torch

    from analyzers.multivariate import MultivariateDetector, subsample

    torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    # Warm up torch and alibi-detect (imports, first kernels) so the first case does not pay for them.
    for device in devices:
        MultivariateDetector(vectors("25 numeric", 200, 0), "mmd", max_samples=100, device=device).test(
            vectors("25 numeric", 200, 1))
    gpu = f", {torch.cuda.get_device_name(0)}" if "cuda" in devices else ", no CUDA device"
    print(f"torch {torch.__version__} on {args.threads} CPU threads{gpu}; {platform.python_version()}, "
          f"{platform.machine()}; reference and windows {REFERENCE_ROWS:,} rows, subsampled to max_samples; "
          f"100 permutations; test = median of {args.windows} windows")
    header = (f"{'data':18}{'n/side':>7}  {'path':34}{'fit s':>8}{'test s':>9}{'peak MiB':>10}"
              f"{'x univar':>10}{'x kernel':>10}")
    print(header)
    total = time.perf_counter()
    for shape in SHAPES:
        reference = vectors(shape, REFERENCE_ROWS, args.seed)
        windows = [vectors(shape, WINDOW_ROWS, args.seed + 1 + i) for i in range(args.windows)]
        enc, enc_peak = encode_case(shape, windows)
        print(f"{shape:18}{'all':>7}  {f'encode {WINDOW_ROWS:,} records (row dicts)':34}{'':>8}{enc:>9.4f}"
              f"{enc_peak:>10.1f}")
        for size in sizes:
            ref_s = subsample(reference, size)
            sampled = [subsample(w, size) for w in windows]
            start_rss = reset_peak()
            uni = median_time(univariate(ref_s), sampled)
            uni_peak = peak_since(start_rss)
            start_rss = reset_peak()
            kern = median_time(numpy_kernel(ref_s), sampled)
            kern_peak = peak_since(start_rss)
            print(f"{shape:18}{size:>7}  {'univariate feature_drift (baseline)':34}{'':>8}{uni:>9.4f}"
                  f"{uni_peak:>10.1f}{1:>10.2f}{uni / kern:>10.2f}")
            print(f"{'':18}{'':>7}  {'numpy kernel matrix (baseline)':34}{'':>8}{kern:>9.4f}"
                  f"{kern_peak:>10.1f}{kern / uni:>10.2f}{1:>10.2f}")
            for method in ("mmd", "lsdd"):
                for device in devices:
                    fit, test, peak = detector_case(torch, reference, windows, method, size, device)
                    label = f"{method.upper()} {device}"
                    print(f"{'':18}{'':>7}  {label:34}{fit:>8.3f}{test:>9.4f}{peak:>10.1f}"
                          f"{test / uni:>10.2f}{test / kern:>10.2f}")
    print(f"total {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
