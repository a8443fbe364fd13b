"""OpenTelemetry in: OTLP/HTTP trace and metric exports (protobuf or JSON) mapped onto Driftline's stats and
records, so a service instrumented with OpenTelemetry reports without the Driftline SDK.

A span is a model call when it carries a ``gen_ai.*`` attribute (the GenAI semantic conventions) or
``driftline.model``. Its model is ``driftline.model`` (span, else resource), else the resource's
``service.name``; its version ``driftline.version``, else ``gen_ai.response.model``, else
``gen_ai.request.model``, else the resource's ``service.version``, else ``unversioned``. Each such span is
one call (an error when its status is ERROR or it has ``error.type``) with its duration as latency, its
``gen_ai.usage.input_tokens`` / ``output_tokens`` as tokens and ``gen_ai.response.finish_reasons`` counted,
and one record (id: the span id in hex, or ``driftline.record_id``; features: the request parameters, usage
and ``driftline.feature.<name>`` attributes; prediction: the first finish reason). Message content is never
stored. From metrics only the two histograms spans do not carry are read: ``gen_ai.server.time_to_first_token``
and ``gen_ai.server.time_per_output_token`` (delta or cumulative; explicit buckets), so a service exporting
both spans and metrics is not counted twice.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import re
import threading
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.service import InputError
from sdk.redact import version_problem
from sdk.wire import (
    FINISH_REASON_PATTERN,
    GENAI_TPOT_BOUNDS,
    GENAI_TTFT_BOUNDS,
    MAX_FINISH_REASONS,
    MAX_TOKENS_PER_CALL,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
#: The version of calls that name none (no driftline.version, gen_ai.*.model or service.version).
UNVERSIONED = "unversioned"
#: GenAI attributes that become record features: request parameters, usage, the models and the operation.
FEATURE_ATTRIBUTES = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.request.max_tokens",
    "gen_ai.request.temperature",
    "gen_ai.request.top_p",
    "gen_ai.request.top_k",
    "gen_ai.request.frequency_penalty",
    "gen_ai.request.presence_penalty",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
)
#: The GenAI conventions' span event carrying an evaluation's result.
EVALUATION_EVENT = "gen_ai.evaluation.result"
#: ``gen_ai.evaluation.score.label`` values read as a verdict (lower-cased); other labels are not stored.
PASS_LABELS = {"pass": True, "passed": True, "true": True, "fail": False, "failed": False, "false": False}
#: ``driftline.feature.<name>`` span attributes are the record's feature <name>.
FEATURE_PREFIX = "driftline.feature."
#: Metric name -> the stats histogram it fills, and that histogram's bounds.
METRICS: dict[str, tuple[str, tuple[float, ...]]] = {
    "gen_ai.server.time_to_first_token": ("ttft", GENAI_TTFT_BOUNDS),
    "gen_ai.server.time_per_output_token": ("tpot", GENAI_TPOT_BOUNDS),
}
#: Span attributes (seconds) some instrumentations set, outside the conventions: counted when present.
SPAN_HISTOGRAMS = (("ttft", "gen_ai.server.time_to_first_token"), ("tpot", "gen_ai.server.time_per_output_token"))
_HEX_IDS = ("traceId", "spanId", "parentSpanId")
_CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
_REASON = re.compile(FINISH_REASON_PATTERN)
_EVAL_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$")
Loc = list[str | int]


def decode(message: type[Message], raw: bytes, content_type: str) -> Any:
    """An OTLP export request from its protobuf or JSON body (OTLP/HTTP); a 400 or 415 naming what is wrong."""
    kind = content_type.split(";")[0].strip().lower()
    out = message()
    if kind == PROTOBUF:
        try:
            out.ParseFromString(raw)
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise InputError(400, ["body"], f"not an OTLP protobuf {message.__name__} ({exc})") from None
        return out
    if kind != JSON:
        raise InputError(
            415, ["header", "content-type"],
            f"content type {kind or 'none'!r}: send OTLP as {PROTOBUF} or {JSON}",
        )
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(400, ["body"], f"the body is not JSON ({exc}): send OTLP/JSON") from None
    if not isinstance(body, dict):
        raise InputError(400, ["body"], f"send an OTLP/JSON {message.__name__} object")
    try:
        json_format.ParseDict(_hex_ids(body, ["body"]), out, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise InputError(400, ["body"], f"not an OTLP/JSON {message.__name__} ({exc})") from None
    return out


def _hex_ids(node: Any, loc: Loc, depth: int = 0) -> Any:
    """OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping expects base64."""
    if depth > 64:
        raise InputError(400, loc, "the body nests deeper than OTLP does")
    if isinstance(node, list):
        return [_hex_ids(v, [*loc, i], depth + 1) for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in _HEX_IDS and isinstance(v, str):
            try:
                v = base64.b64encode(bytes.fromhex(v)).decode()
            except ValueError:
                raise InputError(400, [*loc, k], f"{k} {v[:40]!r} is not hex: OTLP/JSON ids are hex") from None
        out[k] = _hex_ids(v, [*loc, k], depth + 1)
    return out


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind is None or kind == "bytes_value":
        return None
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind)


def attributes(kvs: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP attributes as a dict of plain values (bytes values dropped)."""
    return {kv.key: _value(kv.value) for kv in kvs}


def identity(attrs: dict[str, Any], resource: dict[str, Any], loc: Loc) -> tuple[str, str]:
    """The (model, version) a span or data point reports for (module docstring), or a 422 saying how to name it."""
    model = attrs.get("driftline.model") or resource.get("driftline.model") or resource.get("service.name")
    if not isinstance(model, str) or not model:
        raise InputError(
            422, [*loc, "attributes"],
            "no model: set the resource attribute service.name (or driftline.model) to the monitored model",
        )
    version: Any = UNVERSIONED
    for where, key in (
        (attrs, "driftline.version"),
        (resource, "driftline.version"),
        (attrs, "gen_ai.response.model"),
        (attrs, "gen_ai.request.model"),
        (resource, "service.version"),
    ):
        if where.get(key):
            version = where[key]
            break
    problem = version_problem(version) if isinstance(version, str) else "must be text"
    if problem is not None:
        raise InputError(
            422, [*loc, "attributes", key],
            f"{key} = {str(version)[:80]!r} cannot be the model version: it {problem}; set driftline.version "
            "to a release name",
        )
    return model, version


def _hist(kind: str) -> tuple[float, ...]:
    return GENAI_TTFT_BOUNDS if kind == "ttft" else GENAI_TPOT_BOUNDS


@dataclass
class Calls:
    """What one export reported for one model version: call counters, GenAI histograms and records."""

    model: str
    version: str
    latency_bounds: tuple[float, ...]
    ok: int = 0
    error: int = 0
    latency_counts: list[int] = field(default_factory=list)
    latency_sum: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    start_ns: int = 0
    end_ns: int = 0
    genai: dict[str, list[Any]] = field(default_factory=dict)
    finish_reasons: dict[str, int] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    #: Eval verdicts from the spans' gen_ai.evaluation.result events (POST /v1/evals bodies' items)
    evals: list[dict[str, Any]] = field(default_factory=list)
    #: Evaluation events whose label is not a pass or a fail: not stored, said in the answer
    unjudged: int = 0

    def __post_init__(self) -> None:
        if not self.latency_counts:
            self.latency_counts = [0] * (len(self.latency_bounds) + 1)

    def _span_time(self, start: int, end: int) -> None:
        self.start_ns = min(self.start_ns, start) if self.start_ns else start
        self.end_ns = max(self.end_ns, end)

    def observe(self, kind: str, seconds: float) -> None:
        """Count one call's time to first token (``ttft``) or per output token (``tpot``)."""
        h = self.genai.setdefault(kind, [[0] * (len(_hist(kind)) + 1), 0.0])
        h[0][bisect_left(_hist(kind), seconds)] += 1
        h[1] += seconds

    def add_histogram(self, kind: str, bounds: list[float], counts: list[int], total: float) -> None:
        """Add an OTLP histogram's buckets: each bucket's count goes to the first of ours whose bound is at
        least its upper bound (exact when the bounds are ours, the conventions' advised ones; never lower)."""
        ours = _hist(kind)
        h = self.genai.setdefault(kind, [[0] * (len(ours) + 1), 0.0])
        for upper, n in zip([*bounds, math.inf], counts, strict=True):
            h[0][bisect_left(ours, upper) if upper != math.inf else len(ours)] += n
        h[1] += total

    def add_span(self, span: Span, attrs: dict[str, Any], loc: Loc) -> None:
        """Count one GenAI span as one call and keep it as one record."""
        start, end = span.start_time_unix_nano, span.end_time_unix_nano
        if not start or end < start:
            raise InputError(
                422, [*loc, "endTimeUnixNano"],
                "a span needs a start time and an end time not before it (unix nanoseconds)",
            )
        self._span_time(start, end)
        seconds = (end - start) / 1e9
        if span.status.code == Status.STATUS_CODE_ERROR or attrs.get("error.type"):
            self.error += 1
        else:
            self.ok += 1
        self.latency_counts[bisect_left(self.latency_bounds, seconds)] += 1
        self.latency_sum += seconds
        tin = _tokens(attrs, loc, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
        tout = _tokens(attrs, loc, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
        self.input_tokens += tin
        self.output_tokens += tout
        reasons = _reasons(attrs, loc)
        for reason in reasons:
            if reason not in self.finish_reasons and len(self.finish_reasons) >= MAX_FINISH_REASONS:
                raise InputError(
                    422, [*loc, "attributes", "gen_ai.response.finish_reasons"],
                    f"more than {MAX_FINISH_REASONS} distinct finish reasons in one export: send the "
                    "conventions' reasons (stop, length, content_filter, tool_calls, error)",
                )
            self.finish_reasons[reason] = self.finish_reasons.get(reason, 0) + 1
        for kind, key in SPAN_HISTOGRAMS:
            v = attrs.get(key)
            if v is not None:
                if type(v) not in (int, float) or not (math.isfinite(v) and 0 <= v <= 86400):
                    raise InputError(422, [*loc, "attributes", key], f"{key} must be seconds, 0..86400")
                self.observe(kind, float(v))
        rid = attrs.get("driftline.record_id")
        record_id = rid if isinstance(rid, str) and rid else span.span_id.hex() or span.trace_id.hex()
        self.records.append(
            {
                "id": record_id,
                "ts": start / 1e9,
                "features": _features(attrs),
                "prediction": reasons[0] if reasons else None,
            }
        )
        for n, event in enumerate(span.events):
            if event.name == EVALUATION_EVENT:
                self._evaluation(record_id, event, [*loc, "events", n])

    def _evaluation(self, record_id: str, event: Any, loc: Loc) -> None:
        """One ``gen_ai.evaluation.result`` span event as an eval verdict on the span's record: its
        ``gen_ai.evaluation.name``, ``score.label`` (pass or fail, see `PASS_LABELS`) and ``score.value``;
        ``driftline.evaluation.source`` says judge (the default) or human."""
        attrs = attributes(event.attributes)
        name = attrs.get("gen_ai.evaluation.name")
        label = attrs.get("gen_ai.evaluation.score.label")
        passed = PASS_LABELS.get(label.lower()) if isinstance(label, str) else None
        if passed is None:
            self.unjudged += 1
            return
        if not isinstance(name, str) or not _EVAL_NAME.match(name):
            raise InputError(
                422, [*loc, "attributes", "gen_ai.evaluation.name"],
                "an evaluation result needs gen_ai.evaluation.name, the eval's name (groundedness, hallucination):"
                " a letter, then letters, digits, '_', '.' or '-'",
            )
        source = attrs.get("driftline.evaluation.source", "judge")
        if source not in ("judge", "human"):
            raise InputError(
                422, [*loc, "attributes", "driftline.evaluation.source"], "the source of a verdict is judge or human"
            )
        score = attrs.get("gen_ai.evaluation.score.value")
        self.evals.append(
            {
                "id": record_id,
                "name": name,
                "source": source,
                "passed": passed,
                "score": score if type(score) in (int, float) else None,
                "ts": (event.time_unix_nano or self.end_ns) / 1e9,
            }
        )

    def stats(self, batch_id: str) -> dict[str, Any]:
        """This export as a `StatsBatch` body (sdk/wire.py)."""
        genai: dict[str, Any] = {k: {"counts": c, "sum": s} for k, (c, s) in self.genai.items()}
        if self.finish_reasons:
            genai["finish_reasons"] = dict(self.finish_reasons)
        body: dict[str, Any] = {
            "batch_id": batch_id,
            "model": self.model,
            "version": self.version,
            "start": self.start_ns / 1e9,
            "end": self.end_ns / 1e9,
            "ok": self.ok,
            "error": self.error,
            "latency_bounds": list(self.latency_bounds),
            "latency_counts": self.latency_counts,
            "latency_sum": self.latency_sum,
            "sampled": len(self.records),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }
        if genai:
            body["genai"] = genai
        return body


def _tokens(attrs: dict[str, Any], loc: Loc, key: str, old: str) -> int:
    """A token count attribute (or its deprecated name); 0 when absent, a 422 when not a whole count."""
    name = key if key in attrs else old
    v = attrs.get(name)
    if v is None:
        return 0
    if type(v) is not int or not 0 <= v <= MAX_TOKENS_PER_CALL:
        raise InputError(
            422, [*loc, "attributes", name], f"{name} must be a whole number of tokens, 0..{MAX_TOKENS_PER_CALL:,}"
        )
    return v


def _reasons(attrs: dict[str, Any], loc: Loc) -> list[str]:
    v = attrs.get("gen_ai.response.finish_reasons")
    if v is None:
        return []
    values = [v] if isinstance(v, str) else v
    if not isinstance(values, list) or not all(isinstance(r, str) and _REASON.match(r) for r in values):
        raise InputError(
            422, [*loc, "attributes", "gen_ai.response.finish_reasons"],
            "must be a list of reasons, each a letter then letters, digits, '_', '.' or '-' (stop, length)",
        )
    return list(dict.fromkeys(values))


def _features(attrs: dict[str, Any]) -> dict[str, Any]:
    out = {k: attrs[k] for k in FEATURE_ATTRIBUTES if isinstance(attrs.get(k), str | int | float | bool)}
    for k, v in attrs.items():
        if k.startswith(FEATURE_PREFIX) and len(k) > len(FEATURE_PREFIX) and isinstance(v, str | int | float | bool):
            out[k[len(FEATURE_PREFIX) :]] = v
    return out


def is_call(attrs: dict[str, Any]) -> bool:
    """Whether a span is a model call: it carries a GenAI attribute or names a Driftline model."""
    return "driftline.model" in attrs or any(k.startswith("gen_ai.") for k in attrs)


def span_calls(
    req: ExportTraceServiceRequest, bounds_for: Any
) -> dict[tuple[str, str], Calls]:
    """Every model call in a trace export, grouped by (model, version); ``bounds_for(model, version)`` gives
    the latency buckets a version already reports in (None: the default)."""
    out: dict[tuple[str, str], Calls] = {}
    for i, rs in enumerate(req.resource_spans):
        resource = attributes(rs.resource.attributes)
        for j, ss in enumerate(rs.scope_spans):
            for k, span in enumerate(ss.spans):
                attrs = attributes(span.attributes)
                if not is_call(attrs):
                    continue
                loc: Loc = ["body", "resourceSpans", i, "scopeSpans", j, "spans", k]
                key = identity(attrs, resource, loc)
                calls = out.get(key)
                if calls is None:
                    calls = out[key] = Calls(*key, bounds_for(*key))
                calls.add_span(span, attrs, loc)
    return out


class Streams:
    """The last cumulative value of each metric stream, to turn cumulative exports into deltas.

    A stream first seen after this collector started is counted whole; one that started before it only
    sets the baseline (what it counted before may already be stored), so a restart never counts twice."""

    def __init__(self, started_ns: int) -> None:
        self.started_ns = started_ns
        self.lock = threading.Lock()
        self.last: dict[Any, tuple[int, list[int], float]] = {}

    def delta(self, key: Any, start_ns: int, counts: list[int], total: float) -> tuple[list[int], float]:
        """The counts and sum since this stream's previous export."""
        with self.lock:
            prev = self.last.get(key)
            self.last[key] = (start_ns, counts, total)
            if len(self.last) > 100_000:  # bounded: the oldest streams are forgotten
                self.last.pop(next(iter(self.last)))
        if prev is None:
            if start_ns and start_ns < self.started_ns:
                return [0] * len(counts), 0.0
            return counts, total
        p_start, p_counts, p_total = prev
        if p_start != start_ns or len(p_counts) != len(counts) or any(map(int.__lt__, counts, p_counts)):
            return counts, total  # the stream restarted
        return [a - b for a, b in zip(counts, p_counts, strict=True)], max(total - p_total, 0.0)


def metric_calls(
    req: ExportMetricsServiceRequest, streams: Streams, bounds_for: Any
) -> dict[tuple[str, str], Calls]:
    """The GenAI latency histograms of a metrics export, as deltas grouped by (model, version)."""
    out: dict[tuple[str, str], Calls] = {}
    for i, rm in enumerate(req.resource_metrics):
        resource = attributes(rm.resource.attributes)
        for j, sm in enumerate(rm.scope_metrics):
            for k, metric in enumerate(sm.metrics):
                target = METRICS.get(metric.name)
                if target is None:
                    continue
                loc: Loc = ["body", "resourceMetrics", i, "scopeMetrics", j, "metrics", k]
                kind = metric.WhichOneof("data")
                if kind != "histogram":
                    raise InputError(
                        422, loc,
                        f"{metric.name} is a {kind or 'metric without data'}: export it as an explicit-bucket "
                        "histogram (the conventions' instrument), not an exponential histogram",
                    )
                cumulative = metric.histogram.aggregation_temporality == _CUMULATIVE
                for n, point in enumerate(metric.histogram.data_points):
                    ploc: Loc = [*loc, "histogram", "dataPoints", n]
                    attrs = attributes(point.attributes)
                    key = identity(attrs, resource, ploc)
                    bounds, counts = list(point.explicit_bounds), list(point.bucket_counts)
                    if len(counts) != len(bounds) + 1 or any(not math.isfinite(b) for b in bounds) or any(
                        a >= b for a, b in itertools.pairwise(bounds)
                    ):
                        raise InputError(
                            422, [*ploc, "bucketCounts"],
                            "a data point needs len(explicitBounds) + 1 bucket counts over finite, increasing bounds",
                        )
                    total = point.sum if math.isfinite(point.sum) and point.sum >= 0 else 0.0
                    if cumulative:
                        stream = (metric.name, key, resource.get("service.instance.id"), repr(sorted(attrs.items())))
                        counts, total = streams.delta(stream, point.start_time_unix_nano, counts, total)
                    if not any(counts):
                        continue
                    calls = out.get(key)
                    if calls is None:
                        calls = out[key] = Calls(*key, bounds_for(*key))
                    calls._span_time(point.time_unix_nano or point.start_time_unix_nano, point.time_unix_nano)
                    calls.add_histogram(target[0], bounds, counts, total)
    return out


def batch_id(kind: str, raw: bytes, model: str, version: str, part: int = 0) -> str:
    """A batch id from the export's bytes: an exporter's retry of the same export is stored once."""
    digest = hashlib.sha256(b"\x00".join((raw, model.encode(), version.encode(), str(part).encode())))
    return f"otlp-{kind}-{digest.hexdigest()[:48]}"


