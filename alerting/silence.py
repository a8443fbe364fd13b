"""Silences through Alertmanager's API v2: mute one model's alerts for a retrain or maintenance.

The body is built here; `clients.alertmanager` sends it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from clients import SilenceError, create_silence

__all__ = ["SilenceError", "create_silence", "silence_body"]


def silence_body(
    model: str, start: dt.datetime, duration: dt.timedelta, comment: str, author: str
) -> dict[str, Any]:
    """The API v2 body muting every alert whose `model` label equals `model` for `duration` from `start`."""
    return {
        "matchers": [{"name": "model", "value": model, "isRegex": False, "isEqual": True}],
        "startsAt": start.astimezone(dt.UTC).isoformat(),
        "endsAt": (start + duration).astimezone(dt.UTC).isoformat(),
        "createdBy": author,
        "comment": comment,
    }
