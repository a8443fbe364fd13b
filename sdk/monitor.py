"""`Monitor` and `Observation`: what serving code calls, on every request, on its own thread.

The hot path (``observe`` → ``__enter__`` → ``predictions`` → ``__exit__``) does, per call: one pid
compare, one id hash per row, two clock reads and, under an uncontended lock, counter adds and one
histogram bucket. Only sampled rows are selected and copied (tensors on their own device first) and
appended to a bounded queue; redaction, JSON, gzip and HTTP all happen on the background thread.
Nothing here raises into serving code except the caller's own exception from the with-block.

Counting (see docs/sdk.md): one call of N rows adds N predictions to ``ok`` or ``error`` and N
observations of the call's latency to the histogram, since each of its predictions waited that long and
the collector keeps ``sum(latency_counts) == ok + error`` (its availability and latency SLIs share one
denominator). Inside a request that `sdk.asgi.DriftlineMiddleware` counts, ``observe`` adds its rows to
the request instead and the middleware counts them once, with the request's latency and outcome.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as _dt
import os
import re
import threading
import time
import weakref
import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import pairwise
from types import TracebackType
from typing import Any, Literal

from . import wire
from .buffers import Buffers
from .context import CURRENT, RequestContext
from .convert import feature_rows, id_list, prediction_values, row_count, score_values, slice_rows
from .explain import Explainer
from .hooks import ObservedModel, observed
from .logs import RateLimitedLog
from .redact import PiiMode, Redactor, version_problem
from .sampling import GOLDEN, MASK, new_ids, sampled_indices, threshold
from .shipper import Shipper
from .transport import HTTPTransport, Transport
from .usage import count_feature_ages, count_usage

DEFAULT_COLLECTOR = "http://127.0.0.1:8650"
_MODEL_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_.-]{0,63}")
_FIRST = [0]
_crc32 = zlib.crc32
_LIVE: weakref.WeakSet[Monitor] = weakref.WeakSet()
_PID = os.getpid()
_current_request = CURRENT.get


def current_pid() -> int:
    """``os.getpid()`` without its ~100 ns syscall on every call: the at-fork hook refreshes it."""
    return _PID


class Observation:
    """One observed call, used as ``with mon.observe(...) as obs``: times it, counts its rows, samples."""

    __slots__ = (
        "_ctx",
        "_ids",
        "_mon",
        "_n",
        "_picked",
        "_pred",
        "_rids",
        "_rows",
        "_scores",
        "_slices",
        "_t0",
        "_ts",
    )
    _rids: list[str]
    _rows: list[dict[str, Any]]
    _slices: list[dict[str, Any]] | None
    _pred: list[Any] | None
    _scores: list[Any] | None
    _ts: float
    _t0: float

    def __init__(
        self,
        mon: Monitor,
        n: int,
        picked: list[int] | None,
        ids: Sequence[Any] | None,
        ctx: RequestContext | None = None,
    ) -> None:
        self._mon = mon
        self._n = n
        self._picked = picked
        self._ids = ids
        self._ctx = ctx

    @property
    def ids(self) -> Sequence[Any] | None:
        """This call's record ids: the ones passed in, or generated uuid4 hex ids (for `log_labels`)."""
        return self._ids

    @property
    def sampled_ids(self) -> list[str]:
        """The ids of this call's rows that are sampled and shipped."""
        return list(self._rids) if self._picked is not None else []

    def __enter__(self) -> Observation:
        self._t0 = self._mon._timer()
        return self

    def predictions(self, y: Any, scores: Any = None) -> None:
        """Record the model's output; ``scores``: positive-class probability (1-D, or 2-D → column 1)."""
        if self._picked is not None:
            self._mon._capture(self, self._picked, y, scores)

    def usage(
        self, *, gpu_seconds: float | None = None, input_tokens: int | None = None, output_tokens: int | None = None
    ) -> bool:
        """Count what this call used, for cost (`spec.prices`), on every call: ``gpu_seconds`` measured by
        the caller, whole tokens. A bad value drops this call's usage whole (counted in `Monitor.usage_dropped`,
        logged) and returns False, never raises."""
        return self._mon._add_usage(gpu_seconds, input_tokens, output_tokens)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        mon = self._mon
        try:
            dt = mon._timer() - self._t0
            buf = mon._buffers
            n = self._n
            ctx = self._ctx
            buf.acquire()
            try:
                if ctx is not None and ctx.open:  # the middleware counts these rows at the request's end
                    if exc_type is None:
                        ctx.ok += n
                    else:
                        ctx.error += n
                else:
                    if exc_type is None:
                        buf.ok += n
                    else:
                        buf.error += n
                    buf.counts[bisect_left(buf.bounds, dt)] += n
                    buf.latency_sum += dt * n
                if buf.wall:
                    buf.compute_seconds += dt
            finally:
                buf.release()
            if self._picked is not None and exc_type is None:
                mon._enqueue(self)
        except Exception:
            mon._internal_error("observe")


class _Off(Observation):
    """What `observe` returns when the monitor is disabled or closed: does nothing at all."""

    __slots__ = ()

    @property
    def ids(self) -> Sequence[Any] | None:
        return None

    @property
    def sampled_ids(self) -> list[str]:
        return []

    def __enter__(self) -> Observation:
        return self

    def predictions(self, y: Any, scores: Any = None) -> None:
        return None

    def usage(
        self, *, gpu_seconds: float | None = None, input_tokens: int | None = None, output_tokens: int | None = None
    ) -> bool:
        return False

    def __exit__(self, *exc: object) -> None:
        return None


_OFF = _Off.__new__(_Off)


def _unix(ts: Any) -> float:
    if isinstance(ts, _dt.datetime):
        return (ts if ts.tzinfo else ts.replace(tzinfo=_dt.UTC)).timestamp()
    return float(ts)


class Monitor:
    """Watches one model version from inside serving code: exact counters, sampled records, labels.

    ``salt`` keys the HMAC that replaces ``redact`` fields; it defaults to ``$DRIFTLINE_SALT`` and
    then to ``"driftline:<model>"``. The fixed default keeps hashes equal across processes and hosts
    (so counts, joins and drift on hashed fields work) but anyone who knows the model name can test
    guesses of low-entropy values (e-mails, SSNs) against it: set one secret DRIFTLINE_SALT for all
    replicas in production (and on the collector, which hashes ``pii: true`` fields of data that did not
    come through this SDK with it). Text in features, slices, predictions and labels is always masked
    (`sdk.redact.mask_text`). ``hash_ids`` sends every record id (in records and in `log_labels`) as its
    salted hash, so labels still join; without it only ids that contain personal data are hashed.
    ``version`` must be a release name (`sdk.redact.VERSION_PATTERN`, no personal data): any other is
    a ValueError here, at construction, as an invalid model name is. ``collector`` and ``token``
    default to ``$DRIFTLINE_COLLECTOR`` and ``$DRIFTLINE_TOKEN``. ``clock`` (event and stats times),
    ``timer`` (durations) and ``pid_fn`` (fork detection; default `current_pid`, a cached
    ``os.getpid``) are seams for tests.

    ``explainer`` (see `sdk.explain`) attaches SHAP attributions to sampled records: it runs on the
    background thread once per outgoing batch, on the features before redaction; when it raises, the
    batch is split in halves and retried (a bounded number of calls) so only the rows it refuses go
    without attributions; `explain_errors` counts such batches.

    ``compute`` says what counts as compute seconds for cost (`spec.prices`): ``"reported"`` (default)
    counts only ``obs.usage(gpu_seconds=...)``; ``"wall"`` adds each call's wall seconds as well.
    """

    def __init__(
        self,
        model: str,
        version: str = "unversioned",
        collector: str | None = None,
        token: str | None = None,
        *,
        sample_rate: float = 0.01,
        redact: Iterable[str] = (),
        pii: PiiMode = "hash",
        salt: str | bytes | None = None,
        hash_ids: bool = False,
        feature_names: Sequence[str] | None = None,
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        timeout: float = 5.0,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        latency_bounds: Sequence[float] = wire.DEFAULT_LATENCY_BOUNDS,
        exit_flush_deadline: float = 2.0,
        transport: Transport | None = None,
        enabled: bool = True,
        pid_fn: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        explainer: Explainer | None = None,
        compute: Literal["reported", "wall"] = "reported",
    ) -> None:
        if not isinstance(model, str) or not _MODEL_NAME.fullmatch(model):
            raise ValueError(f"model must match [a-zA-Z][a-zA-Z0-9_.-]*, ≤ 64 characters; got {model!r}")
        problem = version_problem(version)
        if problem is not None:  # the collector would refuse every batch: say so at startup, not never
            raise ValueError(f"version {problem}")
        bounds = tuple(float(b) for b in latency_bounds)
        if not bounds or bounds[0] <= 0 or any(a >= b for a, b in pairwise(bounds)):
            raise ValueError("latency_bounds must be positive and strictly increasing (+Inf is implied)")
        if max_queue < 1 or batch_size < 1 or flush_interval <= 0 or initial_backoff <= 0 or max_backoff <= 0:
            raise ValueError("max_queue, batch_size, flush_interval and the backoffs must be positive")
        if compute not in ("reported", "wall"):
            raise ValueError(f"compute must be 'reported' (obs.usage(gpu_seconds=...)) or 'wall', got {compute!r}")
        self._wall = compute == "wall"
        if explainer is not None and not callable(explainer):
            raise TypeError(f"explainer must be callable (see sdk.explain.shap_explainer), got {explainer!r}")
        self._explainer = explainer
        self.model = model
        self.version = version
        self.sample_rate = float(sample_rate)
        self._threshold = threshold(sample_rate)
        self._feature_names = list(feature_names) if feature_names is not None else None
        if salt is None:
            salt = os.environ.get("DRIFTLINE_SALT") or f"driftline:{model}"
        self._redactor = Redactor(redact, mode=pii, salt=salt, hash_ids=hash_ids)
        token = token if token is not None else os.environ.get("DRIFTLINE_TOKEN")
        self._token = token
        if transport is None:
            url = collector or os.environ.get("DRIFTLINE_COLLECTOR") or DEFAULT_COLLECTOR
            transport = HTTPTransport(url, token, timeout)
        self._transport = transport
        self._bounds = bounds
        self._max_queue = int(max_queue)
        self._batch_size = int(batch_size)
        self._flush_interval = float(flush_interval)
        self._initial_backoff = float(initial_backoff)
        self._max_backoff = float(max_backoff)
        self._exit_flush_deadline = float(exit_flush_deadline)
        self._pid_fn = pid_fn or current_pid
        self._clock = clock
        self._timer = timer
        self._log = RateLimitedLog()
        self._start_lock = threading.Lock()
        self._off = not enabled
        self._pid = -1 if self._off else 0  # 0: no thread yet; -1: never start one
        self._build()
        _LIVE.add(self)

    def _build(self) -> None:
        self._buffers = Buffers(self._bounds, self._max_queue, self._clock(), wall=self._wall)
        self._shipper = Shipper(
            self._buffers,
            self._transport,
            model=self.model,
            version=self.version,
            token=self._token,
            batch_size=self._batch_size,
            flush_interval=self._flush_interval,
            initial_backoff=self._initial_backoff,
            max_backoff=self._max_backoff,
            redactor=self._redactor,
            clock=self._clock,
            log=self._log,
            explainer=self._explainer,
        )

    def observe(
        self,
        ids: Any = None,
        features: Any = None,
        slices: Mapping[str, Any] | None = None,
        *,
        feature_names: Sequence[str] | None = None,
        timestamp: float | _dt.datetime | None = None,
        feature_times: Mapping[str, float | _dt.datetime] | None = None,
    ) -> Observation:
        """Observe one call of ``len(ids)`` rows (else the rows in ``features``, else 1); a with-block.

        A call of N rows counts N predictions, each with the call's latency (module docstring). Without
        ``ids``, rows get generated ids, or inside a request (`sdk.context`) ids from the request id.
        ``feature_times``: feature -> when its value was computed; its age is counted once per call.
        """
        if self._pid != self._pid_fn() and not self._enter_process():
            return _OFF
        if feature_times:
            count_feature_ages(self._buffers, self._log, feature_times, self._clock())  # never raises
        n = 1
        own = None
        try:
            ctx = _current_request()
            if ctx is not None and ctx.monitor is self:
                own = ctx
            t = type(ids)
            if t is list or t is tuple:
                n = len(ids)
            elif ids is None:
                n = row_count(features)
                if ctx is not None:
                    ids = ctx.row_ids(n)
                elif not self._threshold:
                    return Observation(self, n, None, None)
                else:
                    ids = new_ids(n)
            else:
                ids = id_list(ids)
                n = len(ids)
            if n == 1:
                rid = ids[0]
                h = _crc32((rid if type(rid) is str else str(rid)).encode("utf-8", "surrogatepass")) * GOLDEN
                if h & MASK >= self._threshold:
                    return Observation(self, 1, None, ids, own)
                picked = _FIRST
            else:
                picked = sampled_indices(ids, self._threshold)
                if not picked:
                    return Observation(self, n, None, ids, own)
            return self._sampled(ids, picked, n, features, slices, feature_names, timestamp, own)
        except Exception:
            self._internal_error("observe")
            return Observation(self, n, None, None, own)

    def _sampled(
        self,
        ids: Sequence[Any],
        picked: list[int],
        n: int,
        features: Any,
        slices: Mapping[str, Any] | None,
        names: Sequence[str] | None,
        timestamp: Any,
        ctx: RequestContext | None,
    ) -> Observation:
        obs = Observation(self, n, picked, ids, ctx)
        try:
            obs._ts = self._clock() if timestamp is None else _unix(timestamp)
            obs._rids = [rid if type(rid) is str else str(rid) for rid in (ids[i] for i in picked)]
            obs._rows = feature_rows(features, picked, n, names if names is not None else self._feature_names)
            obs._slices = slice_rows(slices, picked)
            obs._pred = obs._scores = None
        except Exception:
            self._internal_error("features")
            obs._picked = None
        return obs

    def _capture(self, obs: Observation, picked: list[int], y: Any, scores: Any) -> None:
        try:
            obs._pred = prediction_values(y, picked)
            obs._scores = None if scores is None else score_values(scores, picked)
        except Exception:
            self._internal_error("predictions")

    def _add_usage(self, gpu_seconds: Any, input_tokens: Any, output_tokens: Any) -> bool:
        try:
            return count_usage(self._buffers, self._log, gpu_seconds, input_tokens, output_tokens)
        except Exception:
            self._internal_error("usage")
            return False

    def _enqueue(self, obs: Observation) -> None:
        rows, pred, scores, slices = obs._rows, obs._pred, obs._scores, obs._slices
        ts = obs._ts
        recs = [
            (
                rid,
                ts,
                rows[j],
                pred[j] if pred is not None else None,
                scores[j] if scores is not None else None,
                slices[j] if slices is not None else None,
            )
            for j, rid in enumerate(obs._rids)
        ]
        buf = self._buffers
        buf.push(buf.records, recs)
        if len(buf.records) >= self._batch_size:
            self._shipper.wake()

    def log_labels(self, ids: Any, labels: Any, *, timestamp: float | _dt.datetime | None = None) -> int:
        """Queue ground truth for the sampled ids (same rule as `observe`, so any process can send it).

        ``timestamp`` is when the labels became known (default: now). Returns how many were queued.
        """
        if self._pid != self._pid_fn() and not self._enter_process():
            return 0
        try:
            ids = id_list(ids)
            picked = sampled_indices(ids, self._threshold)
            if not picked:
                return 0
            values = prediction_values(labels, picked)
            ts = self._clock() if timestamp is None else _unix(timestamp)
            items = [(str(ids[i]), v, ts) for i, v in zip(picked, values, strict=True) if v is not None]
            buf = self._buffers
            buf.push(buf.labels, items)
            if len(buf.labels) >= self._batch_size:
                self._shipper.wake()
            return len(items)
        except Exception:
            self._internal_error("log_labels")
            return 0

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait (on the calling thread) until everything queued so far is delivered; False on timeout."""
        if self._pid != self._pid_fn() and not self._enter_process():
            return True
        try:
            return self._shipper.flush(timeout)
        except Exception:
            self._internal_error("flush")
            return False

    def close(self, timeout: float = 5.0) -> bool:
        """Flush, then stop the background thread; later calls on this monitor do nothing."""
        with self._start_lock:
            if self._off:
                return True
            self._off = True
            running = self._pid == self._pid_fn()
            self._pid = -1
        deadline = time.monotonic() + timeout
        try:
            ok = self._shipper.flush(timeout) if running else True
            self._shipper.stop(deadline - time.monotonic())
            close = getattr(self._transport, "close", None)
            if callable(close):
                close()
            return ok
        except Exception:
            self._internal_error("close")
            return False

    def wrap(self, model: Any, *, feature_names: Sequence[str] | None = None) -> ObservedModel:
        """``model`` with its ``predict``/``predict_proba`` observed, otherwise the model (`sdk.hooks`)."""
        return ObservedModel(self, model, feature_names)

    #: ``@mon.observed`` / ``@mon.observed(scores=True)``: observe every call of a predict function.
    observed = observed

    def _live(self) -> bool:
        """Whether this monitor counts in this process now; starts its thread on first use, as observe does."""
        return self._pid == self._pid_fn() or self._enter_process()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # An abandoned monitor must not leave its thread behind; what it still queued is lost.
        with contextlib.suppress(Exception):
            self._shipper.stop(0.0)

    def __repr__(self) -> str:
        return f"Monitor(model={self.model!r}, version={self.version!r}, sample_rate={self.sample_rate})"

    @property
    def dropped_total(self) -> int:
        """Rows dropped by this process since it started (full queue, rejected batches)."""
        return self._buffers.dropped_total

    @property
    def usage_dropped(self) -> int:
        """Usages (bad token counts or seconds) and feature times (bad name or time) refused, not counted."""
        return self._buffers.usage_dropped

    @property
    def internal_errors(self) -> int:
        """Failures inside the SDK that were counted and logged instead of raised."""
        return self._buffers.internal_errors

    @property
    def explain_errors(self) -> int:
        """Batches in which the explainer raised or misbehaved, so some or all rows went without attributions."""
        return self._shipper.explain_errors

    @property
    def queued(self) -> int:
        """Records and labels waiting in this process's queues."""
        return len(self._buffers.records) + len(self._buffers.labels)

    def _enter_process(self) -> bool:
        """Slow path of the pid check: start the thread on first use, or start afresh after a fork."""
        if self._off:
            return False
        try:
            with self._start_lock:
                pid = self._pid_fn()
                if self._off:
                    return False
                if self._pid != pid:
                    if self._pid != 0:
                        self._forget_parent()
                    self._shipper.start()
                    self._pid = pid
            return True
        except Exception:
            self._internal_error("start")
            return False

    def _forget_parent(self) -> None:
        """Give this process its own queues, counters and thread; the parent keeps shipping its own."""
        old = self._shipper
        if old.alive:  # only when fork detection came from pid_fn rather than a real fork
            old.stop(0.0)
        after_fork = getattr(self._transport, "after_fork", None)
        if callable(after_fork):
            after_fork()
        self._build()

    def _after_fork_in_child(self) -> None:
        self._start_lock = threading.Lock()
        self._forget_parent()
        if not self._off:
            self._pid = 0

    def _exit_flush(self) -> None:
        if not self._off and self._pid == self._pid_fn() and self._shipper.alive:
            self._shipper.flush(self._exit_flush_deadline)

    def _internal_error(self, where: str) -> None:
        try:
            self._buffers.add_internal_error()
            self._log.warning(
                f"internal-{where}",
                "driftline: internal error in %s (counted in internal_errors, not raised)",
                where,
                exc_info=True,
            )
        except Exception:
            pass


def _flush_all_at_exit() -> None:
    for mon in list(_LIVE):
        with contextlib.suppress(Exception):
            mon._exit_flush()


def _after_fork_in_child() -> None:
    global _PID
    _PID = os.getpid()
    for mon in list(_LIVE):
        with contextlib.suppress(Exception):
            mon._after_fork_in_child()


atexit.register(_flush_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
