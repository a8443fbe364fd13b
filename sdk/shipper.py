"""The one background thread: redacts, batches, gzips and delivers records, labels and stats.

Every batch gets a uuid4 ``batch_id`` once and keeps it across retries, so the collector stores it
exactly once. Connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff
and full jitter (capped at ``max_backoff``, at least ``Retry-After``); any other 4xx drops the batch,
counts its rows in ``dropped`` and logs the collector's message. That includes 409: the model already
stored other content under the batch id, so resending can never succeed and the rows are not delivered.
At most one batch per kind is in flight, so memory stays bounded by the queues plus one batch each.
"""

from __future__ import annotations

import gzip
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import wire
from .buffers import Buffers
from .convert import plain, plain_feature, plain_score
from .explain import Explainer, checked_attributions
from .logs import RateLimitedLog
from .redact import Redactor, mask_value
from .transport import Request, Response, Transport

STATS, RECORDS, LABELS = "stats", "records", "labels"
_PATHS = {STATS: wire.STATS_PATH, RECORDS: wire.RECORDS_PATH, LABELS: wire.LABELS_PATH}
#: Half the collector's default body limit: room for our JSON size estimate to be off.
BODY_LIMIT = wire.DEFAULT_MAX_BODY_BYTES // 2
_MAX_TS = 32503680000.0
_USER_AGENT = "driftline-sdk/0.1"
# A batch the explainer refuses is split in halves and retried, so one unparsable row (a "n/a" among
# numbers) costs its own attributions, not the batch's; at most this many extra calls per batch.
EXPLAIN_RETRY_CALLS = 64


@dataclass(slots=True)
class Batch:
    """One encoded, gzip'd request body and the number of rows it carries."""

    kind: str
    batch_id: str
    body: bytes
    rows: int


_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def collector_message(resp: Response) -> str:
    """The collector's error text: ``detail`` as a string or ``loc: msg`` pairs, else the raw body."""
    try:
        detail = resp.json()["detail"]
    except Exception:
        return resp.body[:200].decode("utf-8", "replace") or "no message"
    if isinstance(detail, list):
        parts = []
        for d in detail[:5]:
            loc = ".".join(str(x) for x in d.get("loc", ())) if isinstance(d, dict) else ""
            parts.append(f"{loc}: {d.get('msg', d)}" if isinstance(d, dict) else str(d))
        return "; ".join(parts)
    return str(detail)


def _retry_after(resp: Response) -> float | None:
    value = resp.header("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class Shipper:
    """Owns the background thread of one Monitor in one process (see module docstring)."""

    def __init__(
        self,
        buffers: Buffers,
        transport: Transport,
        *,
        model: str,
        version: str,
        token: str | None,
        batch_size: int,
        flush_interval: float,
        initial_backoff: float,
        max_backoff: float,
        redactor: Redactor,
        clock: Callable[[], float],
        log: RateLimitedLog,
        explainer: Explainer | None = None,
    ) -> None:
        self._buffers = buffers
        self._transport = transport
        self._model = model
        self._version = version
        self._batch_size = max(1, min(batch_size, wire.MAX_RECORDS_PER_BATCH))
        self._flush_interval = flush_interval
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._redactor = redactor
        self._clock = clock
        self._log = log
        self._explainer = explainer
        #: Batches sent without attributions because the explainer raised or returned a wrong shape.
        self.explain_errors = 0
        self._headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": _USER_AGENT,
        }
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._queues = {RECORDS: buffers.records, LABELS: buffers.labels}
        self._pending: dict[str, Batch | None] = {STATS: None, RECORDS: None, LABELS: None}
        self._carry: dict[str, list[Any]] = {RECORDS: [], LABELS: []}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._requested = 0
        self._completed = 0
        self._failures = 0
        self._retry_after: float | None = None
        self._rng = random.Random()
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        """Whether the background thread runs in this process."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the daemon thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="driftline-sdk-shipper", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Ship now instead of at the next interval (a queue reached a full batch)."""
        if not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout: float) -> bool:
        """Block the caller until everything queued before this call is delivered, or ``timeout``."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            self._requested += 1
            gen = self._requested
        self._wake.set()
        with self._cond:
            while self._completed < gen:
                left = deadline - time.monotonic()
                if left <= 0 or not self.alive:
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    def stop(self, timeout: float) -> None:
        """Stop the thread, waiting up to ``timeout``; it makes no final delivery (`flush` first)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(max(0.0, timeout))

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._failures:
                self._stop.wait(self._backoff())
            else:
                self._wake.wait(self._flush_interval)
                self._wake.clear()
            if self._stop.is_set():
                return
            with self._cond:
                gen = self._requested
            try:
                done = self._cycle()
            except Exception:
                self._buffers.add_internal_error()
                self._log.warning("shipper", "driftline: shipping failed; will retry", exc_info=True)
                done = False
            if done:
                self._failures = 0
                with self._cond:
                    self._completed = max(self._completed, gen)
                    self._cond.notify_all()
            else:
                self._failures += 1

    def _backoff(self) -> float:
        cap = min(self._max_backoff, self._initial_backoff * 2 ** min(self._failures - 1, 30))
        delay = self._rng.uniform(0.0, cap)
        if self._retry_after is not None:
            delay = max(delay, min(self._retry_after, self._max_backoff))
        return delay

    def _cycle(self) -> bool:
        """Deliver the records and labels queued now, then stats (which then include rows just dropped).

        Stats are tried even when records failed: the exact counters matter most. False to back off.
        """
        queues_ok = self._drain(RECORDS) and self._drain(LABELS)
        return self._deliver_stats() and queues_ok

    def _deliver_stats(self) -> bool:
        fresh = False
        while True:
            batch = self._pending[STATS]
            if batch is None:
                if fresh:
                    return True
                fresh = True
                batch = self._pending[STATS] = self._stats_batch()
                if batch is None:
                    return True
            if not self._send(batch):
                return False
            self._pending[STATS] = None

    def _stats_batch(self) -> Batch | None:
        snap = self._buffers.snapshot(self._clock())
        if snap is None:
            return None
        batch_id = uuid.uuid4().hex
        body = {"batch_id": batch_id, "model": self._model, "version": self._version, **snap}
        return Batch(STATS, batch_id, gzip.compress(_dumps(body).encode(), 6, mtime=0), 0)

    def _drain(self, kind: str) -> bool:
        remaining = len(self._queues[kind]) + len(self._carry[kind])
        while True:
            batch = self._pending[kind]
            if batch is None:
                if remaining <= 0:
                    return True
                batch, consumed = self._build(kind, remaining)
                if consumed == 0:
                    return True
                remaining -= consumed
                if batch is None:
                    continue
                self._pending[kind] = batch
            if not self._send(batch):
                return False
            self._pending[kind] = None

    def _build(self, kind: str, remaining: int) -> tuple[Batch | None, int]:
        """Encode up to a batch of items (from the carry-over first); returns the batch and items used."""
        items = self._carry[kind] or self._buffers.pop(self._queues[kind], min(remaining, self._batch_size))
        if kind == RECORDS and self._explainer is not None and items and len(items[0]) == 6:
            items = self._explain(items)  # carried-over items were explained with their batch
        encode = self._record if kind == RECORDS else self._label
        batch_id = uuid.uuid4().hex
        head: dict[str, Any] = {"batch_id": batch_id, "model": self._model}
        if kind == RECORDS:
            head["version"] = self._version
        prefix = _dumps(head)[:-1] + f',"{kind}":['
        parts: list[str] = []
        size = len(prefix) + 2
        used = 0
        for item in items:
            try:
                text = encode(item)
            except Exception as exc:
                self._reject_item(kind, f"could not be encoded ({exc})")
                used += 1
                continue
            if size + len(text) + 1 > BODY_LIMIT:
                if parts:
                    break
                self._reject_item(kind, f"is larger than {BODY_LIMIT} bytes")
                used += 1
                continue
            parts.append(text)
            size += len(text) + 1
            used += 1
        self._carry[kind] = items[used:]
        if not parts:
            return None, used
        raw = (prefix + ",".join(parts) + "]}").encode()
        return Batch(kind, batch_id, gzip.compress(raw, 6, mtime=0), len(parts)), used

    def _reject_item(self, kind: str, why: str) -> None:
        self._buffers.add_dropped(1)
        self._buffers.add_internal_error()
        self._log.warning(f"item-{kind}", "driftline: dropped one of the %s: it %s", kind, why)

    def _explain(self, items: list[Any]) -> list[Any]:
        """Append each record's attributions (or None) from the explainer; never raises.

        The explainer sees the features before redaction: they are what the model was given, hashed or
        dropped values could not be explained, and only numbers keyed by feature names leave the process.
        """
        assert self._explainer is not None
        rows = [{str(k)[:128]: plain_feature(v) for k, v in rec[2].items()} for rec in items]
        found: list[Any] = [None] * len(rows)
        failure: Exception | None = None
        scheduled, pending = 1, [(0, len(rows))]
        while pending:
            lo, hi = pending.pop()
            try:
                result = self._explainer(rows[lo:hi])
            except Exception as exc:  # bisect: the rows it can explain keep their attributions
                failure = failure or exc
                if hi - lo > 1 and scheduled + 2 <= 1 + EXPLAIN_RETRY_CALLS:
                    scheduled += 2
                    mid = (lo + hi) // 2
                    pending += [(mid, hi), (lo, mid)]
                continue
            try:
                found[lo:hi] = checked_attributions(result, hi - lo)
            except Exception as exc:  # a malformed answer is not trusted for any row of the batch
                failure = failure or exc
                found = [None] * len(rows)
                break
        if failure is not None:
            self.explain_errors += 1
            self._log.warning(
                "explainer",
                "driftline: the explainer failed (%s: %s); the rows it refused are sent without attributions "
                "(counted in explain_errors, one per batch)",
                type(failure).__name__,
                failure,
            )
        return [(*rec, att) for rec, att in zip(items, found, strict=True)]

    def _record(self, rec: tuple[Any, ...]) -> str:
        rid, ts, features, prediction, score, slices, *explained = rec
        _check(rid, ts)
        redactor = self._redactor
        redact = redactor.row
        out: dict[str, Any] = {
            "id": redactor.record_id(rid),
            "ts": ts,
            "features": redact({str(k)[:128]: plain_feature(v) for k, v in features.items()}),
            "prediction": mask_value(plain(prediction)),
        }
        if score is not None and (s := plain_score(score)) is not None:
            out["score"] = s
        if slices:
            out["slices"] = redact({str(k)[:128]: plain(v) for k, v in slices.items()})
        if explained and explained[0] is not None:
            out["attributions"] = explained[0]
        return _dumps(out)

    def _label(self, item: tuple[Any, ...]) -> str:
        rid, label, ts = item
        _check(rid, ts)
        value = plain(label)
        if value is None:
            raise ValueError("the label is null or NaN")
        return _dumps({"id": self._redactor.record_id(rid), "label": mask_value(value), "ts": ts})

    def _send(self, batch: Batch) -> bool:
        """Try one delivery; True when settled (accepted or rejected for good), False to retry later."""
        request = Request("POST", _PATHS[batch.kind], dict(self._headers), batch.body)
        try:
            resp = self._transport.send(request)
        except Exception as exc:
            self._retry_after = None
            self._log.warning(
                "unreachable",
                "driftline: collector unreachable (%s: %s); will retry",
                type(exc).__name__,
                exc,
            )
            return False
        status = resp.status
        if 200 <= status < 300:
            return True
        if status in (408, 429) or status >= 500:
            self._retry_after = _retry_after(resp)
            self._log.warning(
                f"retry-{status}",
                "driftline: collector answered %d to %s (%s); will retry",
                status,
                batch.kind,
                collector_message(resp),
            )
            return False
        if batch.rows:
            self._buffers.add_dropped(batch.rows)
        self._log.warning(
            f"rejected-{status}",
            "driftline: collector rejected a %s batch with %d: %s; %d rows dropped",
            batch.kind,
            status,
            collector_message(resp),
            batch.rows,
        )
        return True


def _check(rid: str, ts: float | None) -> None:
    if not 0 < len(rid) <= 256:
        raise ValueError(f"record ids must be 1 to 256 characters, got {len(rid)}")
    if ts is not None and not 0.0 <= ts < _MAX_TS:
        raise ValueError(f"timestamps must be unix seconds, got {ts!r}")
