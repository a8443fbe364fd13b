"""The v1 wire protocol between the SDK (and `driftline replay`) and the collector.

Standard library only: the collector imports these names, never the other way round.

Every POST body is a JSON object, gzip-compressed when ``Content-Encoding: gzip`` is set, sent with
``Authorization: Bearer <token>``. Each carries a ``batch_id`` (any string of 1..128 characters, a
uuid4 hex from the SDK); the collector stores a batch id once, so a retried batch is a no-op that
still answers 200 with ``"duplicate": true``.

``POST /v1/records``::

    {"batch_id": "…", "model": "credit", "version": "v7",
     "records": [{"id": "req-1",                 # record id, 1..256 chars, the join key for labels
                  "ts": 1732480000.123,          # event time: unix seconds (float) or ISO-8601
                  "features": {"income": 1.0, "region": "EU"},
                  "prediction": 1,               # number, string or bool; may be null
                  "score": 0.83,                 # optional: probability of the positive class
                  "slices": {"region": "EU"},    # optional: slice column -> value
                  "attributions": {              # optional: SHAP values in the model's raw output
                      "base": 0.12,              # space; base (the expected output) may be null
                      "values": {"income": 0.31, "region": -0.05}}}]}

``POST /v1/labels``::

    {"batch_id": "…", "model": "credit",
     "labels": [{"id": "req-1", "label": 1, "ts": 1732490000.0}]}   # ts optional: when it was known

``POST /v1/stats`` — exact counters for 100% of calls, as deltas since the previous stats batch::

    {"batch_id": "…", "model": "credit", "version": "v7",
     "start": 1732480000.0, "end": 1732480010.0,   # unix seconds the deltas cover
     "ok": 1200, "error": 3,                         # calls (rows) that returned / raised
     "latency_bounds": [0.001, …, 10.0],             # upper bounds in seconds, +Inf implied
     "latency_counts": [5, …, 0, 0],                 # per bucket, NOT cumulative; len(bounds) + 1
     "latency_sum": 12.5,                            # seconds, over all calls in the interval
     "sampled": 12, "dropped": 0}                    # rows queued for shipping / dropped by the SDK

Every answer is JSON; an error is ``{"detail": [{"loc": [...], "msg": "..."}]}`` or
``{"detail": "..."}`` with 400/401/403/404/413/422, or 503 when storage is unavailable (retry).
"""

from __future__ import annotations

from typing import Final

API_PREFIX: Final = "/v1"
RECORDS_PATH: Final = "/v1/records"
LABELS_PATH: Final = "/v1/labels"
STATS_PATH: Final = "/v1/stats"
REFERENCES_PATH: Final = "/v1/references"

#: Default latency histogram upper bounds, in seconds. A latency SLO threshold must be one of them.
DEFAULT_LATENCY_BOUNDS: Final[tuple[float, ...]] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
)

#: Largest body, after decompression, the collector accepts by default (bytes).
DEFAULT_MAX_BODY_BYTES: Final = 16 * 1024 * 1024

#: The SDK never sends more records than this in one batch.
MAX_RECORDS_PER_BATCH: Final = 5000
