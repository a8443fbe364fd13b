"""How stored values are encoded: JSON text and attributions, shared by the schema and every dialect."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic_core import to_json


def encode_json(value: Any) -> str:
    """JSON text for storage: pydantic-core (~7x faster than json.dumps), NaN/inf as null, and NUL
    characters (which PostgreSQL text and jsonb cannot hold) replaced by U+FFFD on every dialect."""
    text = to_json(value, inf_nan_mode="null").decode()
    return text.replace("\\u0000", "\\ufffd") if "\\u0000" in text else text


def json_or_none(value: Any) -> str | None:
    """`encode_json`, keeping None as SQL NULL rather than the JSON text 'null'."""
    return None if value is None else encode_json(value)


def attributions_of(r: Any) -> dict[str, Any] | None:
    """A record's attributions as stored: {"base": float | None, "values": {feature: float}}, or None."""
    a = getattr(r, "attributions", None)
    if a is None or isinstance(a, dict):
        return a
    return {"base": a.base, "values": a.values}


#: Columns of `records` in the order every bulk path writes them.
RECORD_COLUMNS: tuple[str, ...] = (
    "model",
    "record_id",
    "ts",
    "version",
    "received_at",
    "features",
    "prediction",
    "score",
    "slices",
    "batch_id",
    "attributions",
    "sample_key",
)


def sample_key(record_id: str) -> int:
    """A keyed 64-bit hash of a record id, as a signed integer: the order of a window's reservoir.

    Keyed so that ids chosen by a client cannot steer which records are sampled; fixed so that every
    collector and every replay picks the same reservoir.
    """
    digest = hashlib.blake2b(record_id.encode("utf-8", "surrogatepass"), digest_size=8, key=b"driftline-reservoir")
    return int.from_bytes(digest.digest(), "big", signed=True)


def as_stored_value(v: Any) -> Any:
    """One JSON value as it reads back from storage (see `as_stored`)."""
    t = type(v)
    if t is float:
        return v if v - v == 0 else None  # NaN and +-inf are stored as null
    if t is str:
        return v.replace("\x00", "\ufffd") if "\x00" in v else v
    if t is list or t is tuple:
        return [as_stored_value(x) for x in v]
    if t is dict:
        return {str(k): as_stored_value(x) for k, x in v.items()}
    return v


def as_stored(features: dict[str, Any]) -> dict[str, Any]:
    """A record's features as `encode_json` stores them (NaN and infinity null, NUL replaced), so what
    ingest aggregates equals what a re-read of the stored rows gives; the same dict when nothing changes."""
    for v in features.values():
        t = type(v)
        if (t is float and v - v != 0) or (t is str and "\x00" in v) or t is list or t is dict or t is tuple:
            return {k: as_stored_value(x) for k, x in features.items()}
    return features
