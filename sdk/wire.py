"""The v1 wire protocol between the SDK (and `driftline replay`) and the collector.

Standard library only: the collector imports these names, never the other way round.

Every POST body is a JSON object, gzip-compressed when ``Content-Encoding: gzip`` is set, sent with
``Authorization: Bearer <token>``. Each carries a ``batch_id`` (any string of 1..128 characters, a
uuid4 hex from the SDK); the collector stores a batch id once, so a retried batch is a no-op that
still answers 200 with ``"duplicate": true``.

``POST /v1/records``::

    {"batch_id": "…", "model": "credit", "version": "v7",
     "records": [{"id": "req-1",                 # record id, 1..256 chars, the join key for labels
                  "ts": 1732480000.123,          # event time (see "Event time" below)
                  "features": {"income": 1.0, "region": "EU"},   # at most MAX_FEATURES_PER_RECORD
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
     "sampled": 12, "dropped": 0,                    # rows queued for shipping / dropped by the SDK
     "compute_seconds": 31.5,                        # optional: GPU-seconds (or wall seconds) used
     "input_tokens": 120000, "output_tokens": 9000,  # optional: tokens in and out, summed over calls
     "feature_ages": {"income": {"counts": [3, …, 0], "sum": 912.0}},  # optional: see below
     "genai": {"ttft": {"counts": [0, …], "sum": 4.2},  # optional: LLM calls, see below
               "tpot": {"counts": [0, …], "sum": 0.9},
               "finish_reasons": {"stop": 118, "length": 2}}}

The usage fields (``compute_seconds``, ``input_tokens``, ``output_tokens``) default to 0 and are sent only
when counted; the collector prices them with the model's price table (`spec.prices`).

``feature_ages`` (optional, at most ``MAX_FEATURE_AGES`` features) holds, per feature, how old the value a
call used was (the call's time less the computed-at time the caller passed in ``observe(feature_times=)``):
one count per call in each bucket of ``FEATURE_AGE_BOUNDS`` (seconds, +Inf implied, NOT cumulative;
``len(FEATURE_AGE_BOUNDS) + 1`` entries) and the sum of the ages in seconds.

``genai`` (optional) holds what LLM calls (`sdk.genai`, or spans and metrics through the OTLP receiver) measured
beyond the call counters, named as the OpenTelemetry GenAI semantic conventions name them: ``ttft`` is the
time to first token (``gen_ai.server.time_to_first_token``) per ``GENAI_TTFT_BOUNDS`` bucket, ``tpot`` the time
per output token after the first (``gen_ai.server.time_per_output_token``) per ``GENAI_TPOT_BOUNDS`` bucket
(both NOT cumulative, +Inf last, with the sum in seconds), and ``finish_reasons`` counts each call's
``gen_ai.response.finish_reasons`` (at most ``MAX_FINISH_REASONS`` distinct ones). Tokens are the usage fields.

Every counter of a stats batch is bounded: each of ``ok``, ``error``, ``sampled``, ``dropped``,
``input_tokens``, ``output_tokens``, ``compute_seconds`` and every ``latency_counts`` entry is at most
``MAX_COUNT``; ``ok + error``, ``sampled`` and ``dropped`` are
each at most ``MAX_CALLS_PER_SECOND`` per second of the interval (an interval shorter than a second counts
as one); ``latency_sum`` is at most ``MAX_CALL_SECONDS`` per call (0 when there were no calls).

Event time
    ``ts`` (records, labels) and ``start``/``end`` (stats) are either a JSON number, always unix
    seconds (fractions allowed; never milliseconds: nothing is guessed from the size of the number),
    or ISO-8601 text such as ``2026-11-24T22:00:00Z`` or ``2026-11-24T23:00:00+01:00`` (text without
    an offset is UTC). An event time before ``EARLIEST_EVENT_TIME`` (2000-01-01T00:00:00Z) or more
    than the collector's allowed clock skew ahead of its clock (``DEFAULT_MAX_FUTURE_SKEW_SECONDS``,
    one day, unless ``DRIFTLINE_MAX_FUTURE_SKEW_SECONDS`` says otherwise) is refused with 422 naming
    the record; the rest of the batch is not stored either, so fix the time and resend the batch.

Every answer is JSON; an error is ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`` or
``{"detail": "..."}``: 400 (a body that is not gzip though it says so), 401 (no or a bad token),
403 (the token's scope or project does not allow it), 404 (an unknown model or SLO), 409 (a batch id
reused for other content), 413 (a body over the limit), 415 (an unsupported Content-Encoding),
422 (a field that is wrong: its location and how to fix it), 429 (too many requests: wait
``Retry-After`` seconds), or 503 when storage is unavailable (retry after ``Retry-After``).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

API_PREFIX: Final = "/v1"
RECORDS_PATH: Final = "/v1/records"
LABELS_PATH: Final = "/v1/labels"
STATS_PATH: Final = "/v1/stats"
REFERENCES_PATH: Final = "/v1/references"
#: Evaluate every window that received data, now (admin token); answers ``{"windows": n}``.
EVALUATE_PATH: Final = "/v1/evaluate"
#: Every SLO's error budget and burn rates (read token).
SLOS_PATH: Final = "/v1/slos"
#: One model's reads live under ``MODELS_PATH/<model>/<kind>``: see `model_path`.
MODELS_PATH: Final = "/v1/models"
#: The unauthenticated Prometheus exposition and readiness probe (no API prefix).
METRICS_PATH: Final = "/metrics"
READY_PATH: Final = "/readyz"

#: What `model_path` reads: the series the collector keeps per model.
MODEL_READS: Final = ("drift", "performance", "quality", "attributions", "records", "deploys")


def model_path(model: str, kind: str) -> str:
    """The path of one model's read (``/v1/models/credit/drift``); the model name is URL-quoted."""
    if kind not in MODEL_READS:
        raise ValueError(f"unknown model read {kind!r}: one of {', '.join(MODEL_READS)}")
    return f"{MODELS_PATH}/{quote(model, safe='')}/{kind}"


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

#: Most points one page of a series read returns (`limit`); a full page names the next in its `Link` header.
MAX_PAGE_POINTS: Final = 10_000

#: Features one record may carry; a record with more is refused (422 naming the record).
MAX_FEATURES_PER_RECORD: Final = 2000

#: The earliest accepted event time, 2000-01-01T00:00:00Z in unix seconds: no monitored prediction is older,
#: and a time before it is a unit mistake (milliseconds as seconds the other way round) or a placeholder.
EARLIEST_EVENT_TIME: Final = 946684800

#: How far ahead of the collector's clock an event time may be, by default (seconds): clock skew.
DEFAULT_MAX_FUTURE_SKEW_SECONDS: Final = 86400

#: Largest value of any one stats counter in one batch (fits PostgreSQL BIGINT a million times over).
MAX_COUNT: Final = 10**12

#: Most calls (and most sampled or dropped rows) per second of a stats interval.
MAX_CALLS_PER_SECOND: Final = 10_000_000

#: Longest one call may take, for bounding ``latency_sum`` (seconds).
MAX_CALL_SECONDS: Final = 86400

#: Most GPU-seconds one call may report (a day on 1,024 GPUs); more is a unit mistake, dropped by the SDK.
MAX_GPU_SECONDS_PER_CALL: Final = MAX_CALL_SECONDS * 1024

#: Most input (or output) tokens one call may report; more is dropped by the SDK as a counting mistake.
MAX_TOKENS_PER_CALL: Final = 100_000_000

#: Upper bounds (seconds) of the feature-age histogram; a feature freshness objective's max_age is one of them.
FEATURE_AGE_BOUNDS: Final[tuple[float, ...]] = (
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0,
    86400.0, 172800.0, 604800.0,
)

#: Most features whose ages one monitor (and one stats batch) carries; more are dropped and counted.
MAX_FEATURE_AGES: Final = 100

#: Upper bounds (seconds) of the time-to-first-token histogram of LLM calls: the OpenTelemetry GenAI semantic
#: conventions' advised boundaries for ``gen_ai.server.time_to_first_token``.
GENAI_TTFT_BOUNDS: Final[tuple[float, ...]] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)

#: Upper bounds (seconds) of the time-per-output-token histogram of LLM calls: the conventions' advised
#: boundaries for ``gen_ai.server.time_per_output_token``.
GENAI_TPOT_BOUNDS: Final[tuple[float, ...]] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
)

#: Most distinct finish reasons (``gen_ai.response.finish_reasons``) one monitor and one stats batch carry.
MAX_FINISH_REASONS: Final = 20

#: A finish reason as the conventions spell them (``stop``, ``length``, ``content_filter``, ``tool_calls``).
FINISH_REASON_PATTERN: Final = r"^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$"

#: Eval verdicts on a generative model's answers (judge or human, pass or fail), joined to records by id.
EVALS_PATH: Final = "/v1/evals"

#: OTLP/HTTP receiver: point an exporter's ``OTEL_EXPORTER_OTLP_ENDPOINT`` at ``<collector>/v1/otlp``.
OTLP_TRACES_PATH: Final = "/v1/otlp/v1/traces"
OTLP_METRICS_PATH: Final = "/v1/otlp/v1/metrics"
