"""How stored values are encoded: JSON text and attributions, shared by the schema and every dialect."""

from __future__ import annotations

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
)
