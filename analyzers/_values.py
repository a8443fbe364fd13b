"""Turn one feature's raw values (lists from the wire, numpy arrays) into arrays the binning can count."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from analyzers.categories import canonical_category


class _Missing:
    """Key that `factorize` gives to None and NaN, distinct from every string."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


def _as_sized(values: Iterable[Any]) -> Any:
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ValueError(f"values of one feature must be one-dimensional, got shape {values.shape}")
        return values
    return values if hasattr(values, "__len__") else list(values)


def to_float(values: Iterable[Any]) -> tuple[np.ndarray, int]:
    """Values as float64 with NaN for None/NaN/non-numbers, and how many were not numbers at all.

    A value is a number when `float()` accepts it, as numpy's own conversion does ("1.5" included).
    """
    seq = _as_sized(values)
    try:
        x = np.asarray(seq, dtype=np.float64)
    except (TypeError, ValueError):
        x = None
    if x is not None and x.ndim == 1:
        return x, 0
    invalid = 0

    def parse(v: Any) -> float:
        nonlocal invalid
        if v is None:
            return math.nan
        try:
            return float(v)
        except (TypeError, ValueError):
            invalid += 1
            return math.nan

    return np.fromiter(map(parse, seq), dtype=np.float64, count=len(seq)), invalid


def _key(v: Any) -> Any:
    if v is None or (isinstance(v, float | np.floating) and v != v):
        return MISSING
    return str(v)


def _canonical(raw: list[Any], inverse: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """Spell each distinct raw key by `canonical_category`, merging the keys that spell alike
    (True, "true" and "TRUE"; 1, 1.0 and "1"); "" joins MISSING. Work is per distinct key, not per row."""
    keys = [k if k is MISSING else (canonical_category(k) or MISSING) for k in raw]
    if len(set(keys)) == len(keys):
        return keys, inverse
    index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    remap = np.fromiter((index[k] for k in keys), np.intp, len(keys))
    return list(index), remap[inverse]


def factorize(values: Iterable[Any]) -> tuple[list[Any], np.ndarray]:
    """Distinct canonical category keys (analyzers.categories; MISSING for None, NaN and "") and each
    value's index into them."""
    seq = _as_sized(values)
    if isinstance(seq, np.ndarray) and seq.dtype.kind in "biuf":
        # Distinct numbers print distinctly (repr round-trips), and np.unique folds every NaN into one.
        uniq, inverse = np.unique(seq, return_inverse=True)
        return _canonical([_key(v) for v in uniq.tolist()], inverse.reshape(-1))
    items = seq.tolist() if isinstance(seq, np.ndarray) else seq
    strs = [v if type(v) is str else _key(v) for v in items]
    positions = dict.fromkeys(strs, 0)
    for i, k in enumerate(positions):
        positions[k] = i
    return _canonical(list(positions), np.fromiter(map(positions.__getitem__, strs), np.intp, len(strs)))


def spread(n: int, k: int) -> np.ndarray:
    """Indices of at most `k` of `n` rows, evenly spaced from the first row to the last: no generator, so
    the same rows on every platform, and on rows in arrival order a sample across the whole span."""
    if n <= k:
        return np.arange(n, dtype=np.int64)
    return np.linspace(0, n - 1, k).round().astype(np.int64)
