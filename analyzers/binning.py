"""Reference binning: fitted once on the reference, stored with it, and reused unchanged for every window."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any, Literal, cast

import numpy as np

from analyzers._values import MISSING, factorize, to_float
from analyzers.categories import canonical_category

BINNING_VERSION = 1
SAMPLE_SIZE = 10_000  # reference values kept for KS and Wasserstein, which need raw values
COMPARE_EDGES = 64  # up to this many edges, counting by comparison beats binary search (measured)
KINDS = ("numeric", "categorical")
OTHER = "other"

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Histogram:
    """One sample's counts per bin plus what could not be binned; histograms of one binning add up."""

    counts: tuple[int, ...]
    missing: int  # None, NaN and (numeric features) non-numbers; never in `counts`
    invalid: int = 0  # the part of `missing` that was not a number at all

    @property
    def n(self) -> int:
        """Values that landed in a bin."""
        return sum(self.counts)

    def merge(self, other: Histogram) -> Histogram:
        """The histogram of both samples together (per-minute summaries combine into any window)."""
        if len(self.counts) != len(other.counts):
            raise ValueError(f"cannot merge histograms of {len(self.counts)} and {len(other.counts)} bins")
        counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        return Histogram(counts, self.missing + other.missing, self.invalid + other.invalid)


def _label(edge: float) -> str:
    return f"{edge:.6g}"


@dataclass(frozen=True)
class FeatureBinning:
    """Reference binning of one feature, fitted once and stored with the reference.

    Numeric bins are (-inf, e1], (e1, e2], ..., (ek, +inf); categorical bins are the kept categories
    followed by one trailing "other" bucket. None and NaN are never put in a bin.
    """

    feature: str
    kind: Kind
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    version: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "edges", tuple(float(e) for e in self.edges))
        object.__setattr__(self, "categories", tuple(self.categories))
        if self.kind not in KINDS:
            raise ValueError(f"{self.feature}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not 1 <= self.version <= BINNING_VERSION:
            raise ValueError(f"{self.feature}: binning version {self.version} is not one this code reads "
                             f"(1..{BINNING_VERSION})")
        e = np.asarray(self.edges, dtype=np.float64)
        if not (np.isfinite(e).all() and (e[1:] > e[:-1]).all()):
            raise ValueError(f"{self.feature}: edges must be finite and strictly increasing: {self.edges}")
        if (self.kind == "numeric" and self.categories) or (self.kind == "categorical" and self.edges):
            raise ValueError(f"{self.feature}: a {self.kind} binning has no "
                             f"{'categories' if self.kind == 'numeric' else 'edges'}")
        if not all(isinstance(c, str) for c in self.categories) or len(set(self.categories)) != len(
            self.categories
        ):
            raise ValueError(f"{self.feature}: categories must be distinct strings")

    def n_bins(self) -> int:
        """Number of bins, the open-ended or "other" ones included."""
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.categories) + 1

    def labels(self) -> tuple[str, ...]:
        """Human labels of the bins, e.g. "(-inf, 1.2]", "EU", "other"."""
        if self.kind == "categorical":
            other = OTHER if OTHER not in self.categories else "(other)"
            return (*self.categories, other)
        bounds = ["-inf", *map(_label, self.edges), "inf"]
        if len(set(bounds)) < len(bounds):
            bounds = ["-inf", *map(repr, self.edges), "inf"]
        return tuple(f"({lo}, {hi}{')' if hi == 'inf' else ']'}" for lo, hi in pairwise(bounds))

    def histogram(self, values: Iterable[Any]) -> Histogram:
        """Counts per bin of `values`, with the missing and invalid ones counted apart."""
        if self.kind == "numeric":
            return self._numeric_histogram(*to_float(values))
        return self._categorical_histogram(*factorize(values))

    def histogram_and_sample(self, values: Iterable[Any]) -> tuple[Histogram, np.ndarray]:
        """The histogram of `values` and their finite numbers, sorted (none for a categorical binning).

        One conversion for both: KS and Wasserstein read raw values, the other statistics the histogram.
        """
        if self.kind == "categorical":
            return self.histogram(values), np.empty(0)
        x, invalid = to_float(values)
        nan = int(np.count_nonzero(np.isnan(x)))
        ordered = np.sort(x)[: x.size - nan]  # NaN sorts last; +-inf stay, for the open-ended bins
        # Counting a sorted sample is one search per edge: values <= e_i are the first cuts[i].
        cuts = np.searchsorted(ordered, np.asarray(self.edges, dtype=np.float64), side="right")
        counts = np.diff(np.concatenate(([0], cuts, [ordered.size])))
        lo = np.searchsorted(ordered, -np.inf, side="right")
        hi = np.searchsorted(ordered, np.inf, side="left")
        return Histogram(tuple(counts.tolist()), nan, invalid), ordered[lo:hi]

    def counts(self, values: Iterable[Any]) -> np.ndarray:
        """int64 counts per bin; missing (None/NaN) and invalid values are not counted."""
        return np.asarray(self.histogram(values).counts, dtype=np.int64)

    def missing(self, values: Iterable[Any]) -> int:
        """How many values could not be binned: None, NaN and, for numeric features, non-numbers."""
        return self.histogram(values).missing

    def invalid(self, values: Iterable[Any]) -> int:
        """How many values of a numeric feature were not numbers at all (strings from a bad client)."""
        return self.histogram(values).invalid

    def _numeric_histogram(self, x: np.ndarray, invalid: int) -> Histogram:
        nan = int(np.count_nonzero(np.isnan(x)))
        if len(self.edges) <= COMPARE_EDGES:
            # One vectorised pass of x <= e per edge beats a binary search per value (6x at 9 edges); NaN
            # compares false, so the last bin is every non-NaN value above the last edge.
            at_most = [int(np.count_nonzero(x <= e)) for e in self.edges]
            return Histogram(tuple(np.diff([0, *at_most, x.size - nan]).tolist()), nan, invalid)
        # side="left" gives index i with e[i-1] < x <= e[i]: the (a, b] convention.
        idx = np.searchsorted(np.asarray(self.edges, dtype=np.float64), x, side="left")
        counts = np.bincount(idx, minlength=self.n_bins())
        # NaN sorts after every edge, so searchsorted put each one in the last bin: take them out again.
        counts[-1] -= nan
        return Histogram(tuple(counts.tolist()), nan, invalid)

    def _categorical_histogram(self, keys: list[Any], inverse: np.ndarray) -> Histogram:
        index = {c: i for i, c in enumerate(self.categories)}
        other, missing = len(self.categories), len(self.categories) + 1
        table = np.array([missing if k is MISSING else index.get(k, other) for k in keys], dtype=np.intp)
        counts = np.bincount(table[inverse], minlength=missing + 1)
        return Histogram(tuple(counts[:missing].tolist()), int(counts[missing]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; `from_dict` gives back an equal binning."""
        return {"feature": self.feature, "kind": self.kind, "edges": list(self.edges),
                "categories": list(self.categories), "version": self.version}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureBinning:
        """Read a binning stored by `to_dict` (any version this code understands)."""
        return cls(feature=d["feature"], kind=d["kind"], edges=tuple(d.get("edges", ())),
                   categories=tuple(d.get("categories", ())), version=int(d.get("version", 1)))


def _check_bins(n_bins: int) -> None:
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")


def inverted_cdf_quantiles(ordered: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """np.quantile(x, probs, method="inverted_cdf") of sorted, NaN-free `ordered`, by numpy's own index rule.

    Indexing the sorted values is 3x cheaper than numpy's partitions (sort included) and copies nothing more.
    """
    index = ordered.size * np.asarray(probs, dtype=np.float64) - 1
    previous = np.floor(index)
    at = np.where(index - previous == 0, previous, previous + 1).astype(np.intp)
    return ordered[np.clip(at, 0, ordered.size - 1)]


def _numeric_binning(feature: str, x: np.ndarray, n_bins: int) -> FeatureBinning:
    _check_bins(n_bins)
    x = x[~np.isnan(x)] if np.isnan(x).any() else x
    if x.size == 0 or n_bins == 1:
        return FeatureBinning(feature, "numeric")
    # inverted_cdf picks observed values as edges: ties collapse exactly under (a, b] and no
    # interpolation touches +-inf; non-finite edges are dropped, the open-ended bins hold those values.
    edges = np.unique(inverted_cdf_quantiles(np.sort(x), np.arange(1, n_bins) / n_bins))
    return FeatureBinning(feature, "numeric", edges=tuple(edges[np.isfinite(edges)].tolist()))


def fit_numeric(feature: str, values: Iterable[Any], n_bins: int = 10) -> FeatureBinning:
    """Quantile edges of the reference, deduplicated so ties collapse bins; first and last bins open-ended."""
    return _numeric_binning(feature, to_float(values)[0], n_bins)


def _categorical_binning(
    feature: str, keys: list[Any], inverse: np.ndarray, max_categories: int, min_count: int
) -> FeatureBinning:
    counts = np.bincount(inverse, minlength=len(keys))
    pairs = zip(keys, counts.tolist(), strict=True)
    ranked = sorted((-n, k) for k, n in pairs if k is not MISSING and n >= min_count)
    return FeatureBinning(feature, "categorical", categories=tuple(k for _, k in ranked[:max_categories]))


def fit_categorical(
    feature: str, values: Iterable[Any], max_categories: int = 50, min_count: int = 1
) -> FeatureBinning:
    """Keep the most frequent categories (count desc, then name; compared as str); the rest go to "other"."""
    if max_categories < 0:
        raise ValueError(f"max_categories must be >= 0, got {max_categories}")
    return _categorical_binning(feature, *factorize(values), max_categories, min_count)


def infer_kind(values: Iterable[Any]) -> Kind:
    """"numeric" when every present value is a number (bools are not), else "categorical"."""
    arr = values if isinstance(values, np.ndarray) else None
    if arr is None:
        try:
            arr = np.asarray(values)
        except ValueError:  # ragged nested lists: not numbers
            return "categorical"
    if arr.dtype.kind != "O":
        return "numeric" if arr.dtype.kind in "iuf" else "categorical"
    for v in arr.tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if isinstance(v, bool) or not isinstance(v, int | float):
            return "categorical"
    return "numeric"


def _resolve_kind(feature: str, values: Iterable[Any], kind: str | None) -> Kind:
    if kind is None:
        return infer_kind(values)
    if kind not in KINDS:
        raise ValueError(f"{feature}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return cast(Kind, kind)


def fit_feature(
    feature: str, values: Iterable[Any], kind: Kind | None = None, n_bins: int = 10
) -> FeatureBinning:
    """Fit the binning of one reference feature; kind None infers it (all numbers -> numeric)."""
    values = values if hasattr(values, "__len__") else list(values)
    if _resolve_kind(feature, values, kind) == "numeric":
        return fit_numeric(feature, values, n_bins)
    return fit_categorical(feature, values)


def _empty_sample() -> np.ndarray:
    return np.empty(0)


@dataclass(frozen=True, eq=False)
class FeatureReference:
    """What drift is measured against for one feature: its frozen binning and the reference counts in it.

    `sample` (numeric only) holds up to SAMPLE_SIZE finite reference values, sorted, read-only, for the
    statistics that need raw values (KS, Wasserstein); a reference stored before it existed has none,
    and those statistics then report "insufficient_data" with n_reference 0.
    """

    binning: FeatureBinning
    counts: tuple[int, ...]  # reference counts per bin
    n: int  # non-missing reference values (the sum of counts)
    missing: int
    mean: float | None = None  # numeric only: finite values, sample std (ddof=1); None when undefined
    std: float | None = None
    min: float | None = None
    max: float | None = None
    sample: np.ndarray = field(default_factory=_empty_sample)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", tuple(int(c) for c in self.counts))
        if len(self.counts) != self.binning.n_bins():
            raise ValueError(f"{self.binning.feature}: {len(self.counts)} reference counts for "
                             f"{self.binning.n_bins()} bins")
        if sum(self.counts) != self.n or min(self.counts) < 0:
            raise ValueError(f"{self.binning.feature}: counts must be >= 0 and sum to n={self.n}")
        sample = np.sort(np.asarray(self.sample, dtype=np.float64).reshape(-1))
        if not np.isfinite(sample).all():
            raise ValueError(f"{self.binning.feature}: the reference sample must hold finite numbers only")
        sample.flags.writeable = False
        object.__setattr__(self, "sample", sample)

    def _key(self) -> tuple[Any, ...]:
        return (self.binning, self.counts, self.n, self.missing, self.mean, self.std, self.min, self.max)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureReference):
            return NotImplemented
        return self._key() == other._key() and np.array_equal(self.sample, other.sample)

    def __hash__(self) -> int:
        return hash(self._key())

    def histogram(self) -> Histogram:
        """The reference as a histogram of its binning."""
        return Histogram(self.counts, self.missing)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (moments are finite or None); `from_dict` gives back an equal reference."""
        return {"binning": self.binning.to_dict(), "counts": list(self.counts), "n": self.n,
                "missing": self.missing, "mean": self.mean, "std": self.std, "min": self.min, "max": self.max,
                "sample": self.sample.tolist()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureReference:
        """Read a reference stored by `to_dict`, also one stored before references kept a sample."""
        moments = {k: None if d.get(k) is None else float(d[k]) for k in ("mean", "std", "min", "max")}
        sample = np.asarray(() if d.get("sample") is None else d["sample"], dtype=np.float64)
        binning, counts, missing = FeatureBinning.from_dict(d["binning"]), tuple(d["counts"]), int(d["missing"])
        if binning.kind == "categorical":
            binning, counts, missing = _respelled(binning, counts, missing)
        return cls(binning=binning, counts=counts, n=sum(counts), missing=missing, sample=sample, **moments)


def _respelled(
    binning: FeatureBinning, counts: tuple[int, ...], missing: int
) -> tuple[FeatureBinning, tuple[int, ...], int]:
    """A categorical reference stored before categories were canonical ("True", "1.0", ""), re-spelled by
    `canonical_category`: categories that now spell alike are merged, and one that is now missing moves
    to the missing count, so old references compare with new windows bin for bin."""
    spelled = [canonical_category(c) for c in binning.categories]
    if spelled == list(binning.categories):
        return binning, counts, missing
    kept = list(dict.fromkeys(c for c in spelled if c is not None))
    index = {c: i for i, c in enumerate(kept)}
    merged = [0] * (len(kept) + 1)
    merged[-1] = counts[-1]  # "other"
    for c, k in zip(spelled, counts[:-1], strict=True):
        if c is None:
            missing += k
        else:
            merged[index[c]] += k
    return replace(binning, categories=tuple(kept)), tuple(merged), missing


def reference_sample(values: np.ndarray, size: int = SAMPLE_SIZE) -> np.ndarray:
    """Up to `size` finite values, sorted: every (n / size)-th in the given order.

    A systematic sample needs no random generator, so a reference gives the same sample on every
    platform and numpy version; on data in random order it is as good as a random sample.
    """
    if size < 0:
        raise ValueError(f"sample_size must be >= 0, got {size}")
    finite = values[np.isfinite(values)]
    if finite.size > size:
        finite = finite[(np.arange(size, dtype=np.int64) * finite.size) // size]
    return np.sort(finite)


def _moments(x: np.ndarray) -> dict[str, float | None]:
    finite = np.isfinite(x)
    x = x if finite.all() else x[finite]
    if x.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None}
    with np.errstate(over="ignore", invalid="ignore"):  # values near 1e308 overflow; stored as None
        mean, std = float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else math.nan
    moments = {"mean": mean, "std": std, "min": float(x.min()), "max": float(x.max())}
    return {k: v if math.isfinite(v) else None for k, v in moments.items()}


def reference_from_values(
    feature: str, values: Iterable[Any], kind: str | None = None, n_bins: int = 10,
    sample_size: int = SAMPLE_SIZE,
) -> FeatureReference:
    """Fit one feature's binning on the reference sample and count that sample in it, converting once."""
    values = values if hasattr(values, "__len__") else list(values)
    if _resolve_kind(feature, values, kind) == "numeric":
        x, invalid = to_float(values)
        binning = _numeric_binning(feature, x, n_bins)
        hist = binning._numeric_histogram(x, invalid)
        return FeatureReference(binning, hist.counts, hist.n, hist.missing, **_moments(x),
                                sample=reference_sample(x, sample_size))
    keys, inverse = factorize(values)
    binning = _categorical_binning(feature, keys, inverse, max_categories=50, min_count=1)
    hist = binning._categorical_histogram(keys, inverse)
    return FeatureReference(binning, hist.counts, hist.n, hist.missing)


def fit_reference(
    columns: Mapping[str, Iterable[Any]], kinds: Mapping[str, str] | None = None, n_bins: int = 10,
    sample_size: int = SAMPLE_SIZE,
) -> dict[str, FeatureReference]:
    """Fit a reference for every column; kinds name a column's kind, the others are inferred.

    A model's prediction (score) column is fitted like any feature: numeric scores, or class labels
    as categorical, so drift of the prediction distribution needs no code of its own.
    """
    kinds = kinds or {}
    return {
        name: reference_from_values(name, values, kinds.get(name), n_bins, sample_size)
        for name, values in columns.items()
    }
