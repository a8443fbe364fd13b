"""Multivariate and embedding drift: MMD or LSDD between sampled vectors of the reference and a window.

Univariate statistics miss changes in how features move together (a correlation that flips sign leaves
every marginal intact) and cannot read embeddings at all. Here a reference sample and a window's sampled
records are encoded into float32 vectors with a frozen `VectorSchema` (fitted once on the reference and
stored with it), and alibi-detect's MMD or LSDD detector (torch backend, on a GPU when present) tests
them with a permutation p-value. Fitting is the expensive part (kernel bandwidth and, for MMD, the
reference kernel matrix): hold one `MultivariateDetector` per reference, e.g. in a `DetectorCache`.

alibi-detect and torch come with the optional extra (`pip install 'driftline[multivariate]'`) and are
imported only when a detector is built, so `import analyzers` stays light without them.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from analyzers._values import MISSING, factorize, to_float
from analyzers.binning import infer_kind

__all__ = [
    "EXTRA", "DetectorCache", "MultivariateDetector", "MultivariateResult", "VectorFeature", "VectorSchema",
    "encode", "fit_schema", "subsample",
]

EXTRA = "pip install 'driftline[multivariate]'"
SCHEMA_VERSION = 1
UNSEEN = "<unseen>"  # label of each categorical feature's trailing column for categories not in the reference

Method = Literal["mmd", "lsdd"]
VectorKind = Literal["numeric", "categorical", "embedding"]
Status = Literal["ok", "drift", "insufficient_data"]
METHODS: tuple[str, ...] = get_args(Method)
VECTOR_KINDS: tuple[str, ...] = get_args(VectorKind)


# --- encoding -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VectorFeature:
    """How one feature becomes columns of the vector, fitted on the reference.

    numeric: one column, (x - mean) / std; categorical: one-hot over `categories` plus a trailing column
    for unseen ones; embedding: its `len(center)` numbers as they are. A missing value becomes the
    reference mean (`mean`, or `center` for an embedding) or an all-zero one-hot.
    """

    name: str
    kind: VectorKind
    mean: float = 0.0  # numeric only
    std: float = 1.0  # numeric only; 1.0 where the reference sd is 0 or undefined
    categories: tuple[str, ...] = ()  # categorical only, most frequent first
    center: tuple[float, ...] = ()  # embedding only: the reference's mean vector; its length is the dimension

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "center", tuple(float(c) for c in self.center))
        if self.kind not in VECTOR_KINDS:
            raise ValueError(f"{self.name}: kind must be one of {', '.join(VECTOR_KINDS)}, got {self.kind!r}")
        if not (math.isfinite(self.mean) and math.isfinite(self.std) and self.std > 0):
            raise ValueError(f"{self.name}: mean must be finite and std finite and > 0, got {self.mean}, {self.std}")
        if len(set(self.categories)) != len(self.categories) or not all(isinstance(c, str) for c in self.categories):
            raise ValueError(f"{self.name}: categories must be distinct strings")
        if self.kind == "embedding" and not self.center:
            raise ValueError(f"{self.name}: an embedding feature needs its reference center (its dimension)")
        if not all(map(math.isfinite, self.center)):
            raise ValueError(f"{self.name}: the embedding center must hold finite numbers only")

    @property
    def width(self) -> int:
        """How many columns of the vector this feature fills."""
        if self.kind == "numeric":
            return 1
        return len(self.categories) + 1 if self.kind == "categorical" else len(self.center)

    def column_names(self) -> tuple[str, ...]:
        """Readable names of this feature's columns: "income", "region=EU", "region=<unseen>", "emb[0]"."""
        if self.kind == "numeric":
            return (self.name,)
        if self.kind == "categorical":
            return tuple(f"{self.name}={c}" for c in (*self.categories, UNSEEN))
        return tuple(f"{self.name}[{i}]" for i in range(self.width))

    def encode(self, values: Sequence[Any], out: np.ndarray) -> None:
        """Write the encoded `values` (one per row) into `out`, a float32 block of shape (rows, width)."""
        if self.kind == "numeric":
            x = to_float(values)[0]
            x[~np.isfinite(x)] = self.mean  # None, NaN, +-inf and non-numbers: the reference mean, i.e. 0
            out[:, 0] = (x - self.mean) / self.std
        elif self.kind == "categorical":
            keys, inverse = factorize(values)
            index = {c: i for i, c in enumerate(self.categories)}
            unseen = len(self.categories)
            column = np.array([-1 if k is MISSING else index.get(k, unseen) for k in keys], dtype=np.intp)[inverse]
            rows = np.flatnonzero(column >= 0)
            out[rows, column[rows]] = 1.0
        else:
            out[:] = self.center
            for i, v in enumerate(values):
                e = _embedding(v, self.width)
                if e is not None:
                    out[i] = e

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form with only the fields of this feature's kind."""
        d: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "numeric":
            d.update(mean=self.mean, std=self.std)
        elif self.kind == "categorical":
            d["categories"] = list(self.categories)
        else:
            d["center"] = list(self.center)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VectorFeature:
        """Read a feature stored by `to_dict`."""
        return cls(name=str(d["name"]), kind=d["kind"], mean=float(d.get("mean", 0.0)),
                   std=float(d.get("std", 1.0)), categories=tuple(d.get("categories", ())),
                   center=tuple(d.get("center", ())))


def _embedding(v: Any, dim: int | None) -> np.ndarray | None:
    """v as a 1-D float vector (of length `dim` when given) of finite numbers, else None (treated as missing)."""
    if v is None or isinstance(v, str | bytes | Mapping) or not hasattr(v, "__len__"):
        return None
    try:
        e = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if e.ndim != 1 or e.size == 0 or (dim is not None and e.size != dim) or not np.isfinite(e).all():
        return None
    return e


@dataclass(frozen=True)
class VectorSchema:
    """The frozen recipe that turns records into vectors: one `VectorFeature` per feature, in column order.

    Fitted once on the reference (`fit_schema`) and stored with it (`to_dict`), so every window is encoded
    with the reference's mean, sd and categories and vectors of all windows share one space.
    """

    features: tuple[VectorFeature, ...]
    version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))
        if not self.features:
            raise ValueError("a vector schema needs at least one feature")
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError(f"feature names must be distinct: {names}")
        if not 1 <= self.version <= SCHEMA_VERSION:
            raise ValueError(f"vector schema version {self.version} is not one this code reads (1..{SCHEMA_VERSION})")

    @property
    def dim(self) -> int:
        """Length of every encoded vector."""
        return sum(f.width for f in self.features)

    def column_names(self) -> tuple[str, ...]:
        """Names of the vector's columns, in order."""
        return tuple(name for f in self.features for name in f.column_names())

    def encode(self, data: Any) -> np.ndarray:
        """`encode(data, self)`."""
        return encode(data, self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; `from_dict` gives back an equal schema."""
        return {"version": self.version, "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VectorSchema:
        """Read a schema stored by `to_dict`."""
        return cls(features=tuple(VectorFeature.from_dict(f) for f in d["features"]),
                   version=int(d.get("version", 1)))


def _columns(data: Any) -> tuple[Mapping[str, Sequence[Any]], int]:
    """Columns and the row count of records given as columns ({name: values}) or rows ([{name: value}])."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        data = data.to_dict("list")
    if isinstance(data, Mapping):
        columns = {str(k): v if hasattr(v, "__len__") and not isinstance(v, str) else _not_a_column(k, v)
                   for k, v in data.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns must all have the same length, got lengths {sorted(lengths)}")
        return columns, lengths.pop() if lengths else 0
    if isinstance(data, np.ndarray | str | bytes) or not isinstance(data, Sequence):
        raise ValueError("records must be columns ({feature: values}) or rows ([{feature: value}, ...]), "
                         f"got {type(data).__name__}; to test vectors you already have, pass them to "
                         "MultivariateDetector.test")
    bad = next((i for i, row in enumerate(data) if not isinstance(row, Mapping)), None)
    if bad is not None:
        raise ValueError(f"row {bad} is a {type(data[bad]).__name__}, not a mapping of feature names to values")
    names = dict.fromkeys(k for row in data for k in row)
    return {str(k): [row.get(k) for row in data] for k in names}, len(data)


def _not_a_column(name: Any, value: Any) -> Sequence[Any]:
    raise ValueError(f"column {name!r} must be a sequence of values, got {type(value).__name__}")


def encode(rows_or_columns: Any, schema: VectorSchema) -> np.ndarray:
    """float32 vectors, one row per record, laid out by `schema` (see `VectorFeature`).

    Records are columns ({feature: values}), rows ([{feature: value}]) or a pandas DataFrame. A feature the
    records lack is missing in every row; features the schema does not know are ignored; values that
    cannot be read (a string for a number, an embedding of the wrong length) count as missing, as the
    data-quality checks report them.
    """
    columns, n = _columns(rows_or_columns)
    out = np.zeros((n, schema.dim), dtype=np.float32)
    start = 0
    absent = [None] * n
    for f in schema.features:
        f.encode(columns.get(f.name, absent), out[:, start:start + f.width])
        start += f.width
    return out


def _fit_feature(name: str, values: Sequence[Any], kind: str | None, max_categories: int) -> VectorFeature:
    present = [v for v in values if v is not None]
    if kind is None:
        first = next((v for v in present if not (isinstance(v, float) and math.isnan(v))), None)
        kind = "embedding" if _embedding(first, None) is not None else infer_kind(values)
    if kind not in VECTOR_KINDS:
        raise ValueError(f"{name}: kind must be one of {', '.join(VECTOR_KINDS)}, got {kind!r} "
                         "(text features are not encoded: leave them out)")
    if kind == "numeric":
        x = to_float(values)[0]
        x = x[np.isfinite(x)]
        mean = float(x.mean()) if x.size else 0.0
        std = float(x.std(ddof=1)) if x.size > 1 else 1.0
        ok = math.isfinite(mean) and math.isfinite(std)
        return VectorFeature(name, "numeric", mean=mean if ok else 0.0, std=std if ok and std > 0 else 1.0)
    if kind == "categorical":
        keys, inverse = factorize(values)
        counts = np.bincount(inverse, minlength=len(keys)).tolist()
        ranked = sorted((-c, k) for k, c in zip(keys, counts, strict=True) if k is not MISSING)
        return VectorFeature(name, "categorical", categories=tuple(k for _, k in ranked[:max_categories]))
    vectors = [e for e in (_embedding(v, None) for v in present) if e is not None]
    if not vectors:
        raise ValueError(f"{name}: no embedding in the reference is a non-empty list of finite numbers")
    dims = sorted({e.size for e in vectors})
    if len(dims) > 1:
        raise ValueError(f"{name}: reference embeddings must share one length, got lengths {dims}")
    return VectorFeature(name, "embedding", center=tuple(np.mean(vectors, axis=0).tolist()))


def fit_schema(
    reference: Any, kinds: Mapping[str, str] | None = None, max_categories: int = 50
) -> VectorSchema:
    """Fit the vector schema on the reference records (columns, rows or a DataFrame), one feature per column.

    `kinds` ({feature: "numeric" | "categorical" | "embedding"}, e.g. from the spec's feature types) names
    the features to encode and their kinds; without it every column is encoded and its kind inferred
    (lists of numbers: embedding; all numbers: numeric; else categorical). Numeric features keep the
    reference mean and sd (ddof=1); categorical ones their `max_categories` most frequent categories.
    """
    columns, n = _columns(reference)
    if n == 0:
        raise ValueError("the reference has no records to fit a vector schema on")
    if max_categories < 0:
        raise ValueError(f"max_categories must be >= 0, got {max_categories}")
    names = list(kinds) if kinds is not None else list(columns)
    missing = [name for name in names if name not in columns]
    if missing:
        raise ValueError(f"the reference has no column for {', '.join(map(repr, missing))}")
    return VectorSchema(tuple(_fit_feature(name, columns[name], (kinds or {}).get(name), max_categories)
                              for name in names))


# --- detection ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MultivariateResult:
    """One window tested against the reference: the statistic, its permutation p-value and the verdict.

    `distance` is MMD^2 (unbiased, may be slightly negative) or LSDD (alibi-detect's scaled form);
    `threshold` is the distance the permutations exceed with probability `p_val`. Drift is p_value < p_val.
    `n_reference` / `n_current` are the rows compared, after subsampling to `max_samples`.
    """

    method: Method
    distance: float  # nan when not computed
    p_value: float | None
    threshold: float | None
    drift: bool | None  # None: not judged
    status: Status
    n_reference: int
    n_current: int
    backend: str
    device: str
    p_val: float = 0.05  # the level judged at
    n_permutations: int = 100

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (nan distance as None)."""
        d = asdict(self)
        d["distance"] = None if math.isnan(self.distance) else self.distance
        return d


def _require() -> tuple[Any, Any]:
    """torch and alibi_detect.cd, or an ImportError that names the extra to install."""
    try:
        import torch  # the multivariate extra: heavy and optional, so imported only when a test runs
        from alibi_detect import cd  # the multivariate extra
    except ImportError as exc:
        raise ImportError(f"multivariate drift needs alibi-detect with its torch backend ({exc}): {EXTRA}") from exc
    return torch, cd


def _device(torch: Any, device: str) -> Any:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")
    return resolved


def subsample(x: np.ndarray, size: int) -> np.ndarray:
    """Up to `size` rows: every (n / size)-th, spread over the whole array (no generator, so the same
    rows on every platform; on rows in arrival order it is a sample across the whole window)."""
    if x.shape[0] <= size:
        return x
    return x[(np.arange(size, dtype=np.int64) * x.shape[0]) // size]


_SEEDED = threading.Lock()  # torch's and numpy's global generators are process-wide


@contextmanager
def _seeded(torch: Any, seed: int, device: Any) -> Iterator[None]:
    """Run with torch and numpy seeded to `seed`, restoring both generators afterwards."""
    devices = [device] if device.type == "cuda" else []
    with _SEEDED, torch.random.fork_rng(devices=devices):
        state = np.random.get_state()
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(state)


def _as_vectors(x: Any, what: str, dim: int | None) -> np.ndarray:
    try:
        v = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a 2-D array of numbers (rows x features): {exc}") from None
    if v.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (rows x features), got shape {v.shape}; "
                         "encode records with encode(records, schema) first")
    if dim is not None and v.shape[1] != dim:
        raise ValueError(f"{what} have {v.shape[1]} columns, the reference {dim}: encode both with the same "
                         "VectorSchema")
    if not np.isfinite(v).all():
        raise ValueError(f"{what} hold NaN or infinite values; encode(...) replaces missing values")
    return np.ascontiguousarray(v)


class MultivariateDetector:
    """MMD or LSDD permutation test of windows against one reference, fitted once on the reference vectors.

    Both sides are subsampled to `max_samples` rows (kernel methods cost O(n^2) per window); torch and
    numpy are seeded with `seed` around fitting and each test, so re-testing a window gives the same
    p-value. `device` "auto" picks CUDA when torch sees it. Safe to share between threads; tests run one
    at a time per process (the seeded generators are global). LSDD needs distinct rows: a reference of
    few repeated vectors (only low-cardinality categoricals) makes alibi-detect raise ValueError, where
    MMD still works. Cost per window on CPU, and why one torch thread is the steadier choice on a busy
    machine: bench/README.md.
    """

    def __init__(
        self, reference: Any, method: Method = "mmd", *, p_val: float = 0.05, n_permutations: int = 100,
        max_samples: int = 500, min_count: int = 30, device: str = "auto", seed: int = 0,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if not 0 < p_val < 1:
            raise ValueError(f"p_val must be in (0, 1), got {p_val}")
        if n_permutations < 1 or max_samples < 2 or min_count < 2:
            raise ValueError(f"need n_permutations >= 1, max_samples >= 2 and min_count >= 2, got "
                             f"{n_permutations}, {max_samples}, {min_count}")
        x_ref = subsample(_as_vectors(reference, "reference vectors", None), max_samples)
        if x_ref.shape[0] < min_count:
            raise ValueError(f"the reference has {x_ref.shape[0]} rows, fewer than min_count={min_count}")
        self.method: Method = method
        self.p_val, self.n_permutations, self.max_samples = p_val, n_permutations, max_samples
        self.min_count, self.seed = min_count, seed
        self.dim, self.n_reference = x_ref.shape[1], x_ref.shape[0]
        torch, cd = _require()
        self._torch = torch
        self._device = _device(torch, device)
        self.device = str(self._device)
        common = dict(backend="pytorch", p_val=p_val, x_ref_preprocessed=True, preprocess_at_init=True,
                      n_permutations=n_permutations, device=self._device)
        with _seeded(torch, seed, self._device):
            if method == "mmd":
                # The kernel bandwidth (median heuristic) and the reference kernel matrix are computed here, once.
                self._detector = cd.MMDDrift(x_ref, configure_kernel_from_x_ref=True, **common)
            else:
                # Standardisation, bandwidth, kernel centers (n_reference / 20) and H are fitted here, once.
                self._detector = cd.LSDDDrift(x_ref, **common)

    def test(self, window: Any) -> MultivariateResult:
        """Test one window's vectors (encoded with the reference's schema) against the reference."""
        x = subsample(_as_vectors(window, "window vectors", self.dim), self.max_samples)
        if x.shape[0] < self.min_count:
            return self._result(x.shape[0], math.nan, None, None, None)
        with self._torch.no_grad(), _seeded(self._torch, self.seed, self._device):
            data = self._detector.predict(x, return_p_val=True, return_distance=True)["data"]
        return self._result(x.shape[0], float(data["distance"]), float(data["p_val"]),
                            float(data["distance_threshold"]), bool(data["is_drift"]))

    def _result(self, n_current: int, distance: float, p_value: float | None, threshold: float | None,
                drift: bool | None) -> MultivariateResult:
        status: Status = "insufficient_data" if drift is None else "drift" if drift else "ok"
        return MultivariateResult(self.method, distance, p_value, threshold, drift, status, self.n_reference,
                                  int(n_current), "pytorch", self.device, self.p_val, self.n_permutations)


@dataclass
class DetectorCache:
    """Fitted detectors by key (e.g. (reference id, method)), the least recently used dropped past `max_size`.

    Fitting costs a kernel matrix over the reference sample (and GPU memory where it runs), so a collector
    keeps one detector per reference rather than refitting every window.
    """

    max_size: int = 16
    _items: OrderedDict[Hashable, MultivariateDetector] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, key: Hashable, fit: Callable[[], MultivariateDetector]) -> MultivariateDetector:
        """The detector cached under `key`, calling `fit()` to make it on a miss."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        detector = fit()  # outside the lock: fitting is slow, and two fits of one key give equal detectors
        with self._lock:
            self._items[key] = detector
            self._items.move_to_end(key)
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)
        return detector

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def discard(self, key: Hashable) -> None:
        """Forget one key (its reference was replaced)."""
        with self._lock:
            self._items.pop(key, None)

