"""Sampled rows of accelerator arrays: selected on their device, copied to the host without blocking.

Serving code calls `Monitor.observe` with tensors that may still be computed by queued kernels. Reading
them on the serving thread (``.cpu()``, ``.tolist()``, ``.item()``) would wait for every kernel before
it. So only the sampled rows are touched, and only by asynchronous work:

- torch CUDA tensors: the picked positions go to the device from pinned memory, ``index_select`` picks
  the rows there, ``copy_(non_blocking=True)`` moves them into pinned host memory, and a CUDA event is
  recorded on the tensor's current stream. `HostRows.rows`, called on the shipping thread, waits on that
  event (this copy only, not the device) before reading.
- other DLPack producers (``__dlpack__`` / ``__dlpack_device__``: CuPy, JAX, ...): rows are taken with
  their own array namespace (``__array_namespace__``, else their module's ``take``/``asarray``), their
  host copy is started with ``copy_to_host_async`` where the array offers it (JAX), and ``tolist`` runs
  on the shipping thread. Without a namespace, `adopt` reads it through ``torch.from_dlpack`` (zero-copy,
  then as a torch tensor) when torch is loaded, else ``numpy.from_dlpack`` for host memory.

An unsampled call reads nothing but ``shape``. Libraries are found in ``sys.modules``, never imported:
whoever holds such an array has imported its library already.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

#: ``__dlpack_device__()[0]`` of host memory (DLPack's kDLCPU).
DLPACK_CPU = 1


class HostRows:
    """Picked rows on their way to the host; `rows` reads them once, after waiting for their copy."""

    __slots__ = ("_ready", "_rows", "_src")

    def __init__(self, src: Any, ready: Any = None) -> None:
        self._src = src
        self._ready = ready
        self._rows: list[Any] | None = None

    def rows(self) -> list[Any]:
        """The rows as Python lists; on first use waits for the copy's event (call it off the serving thread)."""
        rows = self._rows
        if rows is None:
            if self._ready is not None:
                self._ready.synchronize()
            rows = self._rows = self._src.tolist()
            self._src = self._ready = None
        return rows


class DeviceValue:
    """One value of a device column at a picked row, read by `get` when the record is encoded."""

    __slots__ = ("_j", "_reduce", "_rows")

    def __init__(self, rows: HostRows, j: int, reduce: Callable[[Any], Any] | None = None) -> None:
        self._rows = rows
        self._j = j
        self._reduce = reduce

    def get(self) -> Any:
        """The host value (``reduce`` applied: a probability row's label or positive-class score)."""
        v = self._rows.rows()[self._j]
        return v if self._reduce is None else self._reduce(v)


class DeviceRow(Mapping[str, Any]):
    """One picked row of a device feature matrix as ``{feature: value}``, built when first read."""

    __slots__ = ("_build", "_d", "_j", "_rows")

    def __init__(self, rows: HostRows, j: int, build: Callable[[Any], dict[str, Any]]) -> None:
        self._rows = rows
        self._j = j
        self._build = build
        self._d: dict[str, Any] | None = None

    def _dict(self) -> dict[str, Any]:
        d = self._d
        if d is None:
            d = self._d = self._build(self._rows.rows()[self._j])
        return d

    def __getitem__(self, key: str) -> Any:
        return self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())


def _torch() -> Any:
    """The loaded torch module (a seam for tests that stand in for CUDA on a CPU-only machine)."""
    return sys.modules["torch"]


def torch_rows(t: Any, picked: list[int], flat: bool) -> list[Any] | HostRows:
    """Rows ``picked`` of a torch tensor: host lists for host tensors, `HostRows` for CUDA ones.

    ``flat``: each row flattened to one list (feature matrices of more than 2 dimensions).
    Tensors on other accelerators (mps, xpu) copy the picked rows with ``.cpu()``, which waits.
    """
    if getattr(t, "is_cuda", False) is True:
        return cuda_rows(_torch(), t.detach(), picked, flat)
    if getattr(t, "requires_grad", True):  # each torch call costs ~1-2 us: none that is not needed
        t = t.detach()
    if len(picked) == 1:  # a low rate's usual one row: basic indexing, several times a list index
        row = t[picked[0]]
        if not getattr(row, "is_cpu", False):
            row = row.cpu()
        return [row.reshape(-1).tolist() if flat and len(row.shape) > 1 else row.tolist()]
    sub = t[picked]
    if flat:
        sub = sub.reshape(len(picked), -1)
    return sub.cpu().tolist()


def cuda_rows(torch: Any, t: Any, picked: list[int], flat: bool) -> HostRows:
    """Index a CUDA tensor on its device and start copying the rows into pinned memory; no wait here."""
    idx = torch.tensor(picked, dtype=torch.int64, pin_memory=True).to(t.device, non_blocking=True)
    sub = t.index_select(0, idx)
    if flat:
        sub = sub.reshape(len(picked), -1)
    host = torch.empty(tuple(sub.shape), dtype=sub.dtype, pin_memory=True)
    host.copy_(sub, non_blocking=True)
    ready = torch.cuda.Event()
    ready.record(torch.cuda.current_stream(t.device))
    return HostRows(host, ready)


def _namespace(x: Any) -> Any:
    """The array API namespace of ``x``, else its loaded top-level module when that has take/asarray."""
    get = getattr(x, "__array_namespace__", None)
    if get is not None:
        return get()
    mod = sys.modules.get(type(x).__module__.partition(".")[0])
    return mod if hasattr(mod, "take") and hasattr(mod, "asarray") else None


def adopt(x: Any) -> tuple[Any, str]:
    """A DLPack producer as something that can be indexed, and its kind: ``"dlpack"`` (it has an array
    namespace; kept as is), ``"torch"`` (``torch.from_dlpack``, zero-copy) or ``"numpy"`` (host memory)."""
    if _namespace(x) is not None:
        return x, "dlpack"
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.from_dlpack(x), "torch"
    np = sys.modules.get("numpy")
    if np is not None and x.__dlpack_device__()[0] == DLPACK_CPU:
        return np.from_dlpack(x), "numpy"
    raise TypeError(
        f"{type(x).__qualname__} speaks DLPack but has no array namespace, and no torch is loaded to read it"
    )


def dlpack_rows(x: Any, picked: list[int], flat: bool) -> HostRows:
    """Rows ``picked`` of an array with an array namespace (`adopt` said ``"dlpack"``), taken on its
    device; its host copy starts now where it offers ``copy_to_host_async``, ``tolist`` waits for later."""
    xp = _namespace(x)
    try:
        idx = xp.asarray(picked, device=x.device)
    except (TypeError, AttributeError):  # namespaces without device= (older CuPy)
        idx = xp.asarray(picked)
    sub = xp.take(x, idx, axis=0)
    if flat:
        sub = sub.reshape((len(picked), -1))
    start = getattr(sub, "copy_to_host_async", None)
    if start is not None:
        start()
    return HostRows(sub)


def is_dlpack(x: object) -> bool:
    """Whether ``x`` exports DLPack (``__dlpack__`` and ``__dlpack_device__``)."""
    return hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__")
