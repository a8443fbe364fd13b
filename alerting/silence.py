"""Silences through Alertmanager's API v2: mute one model's alerts for a retrain or maintenance."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any


class SilenceError(RuntimeError):
    """Alertmanager refused or could not be reached; the message says which and why."""


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


def create_silence(url: str, body: dict[str, Any], timeout: float = 10.0) -> str:
    """POST the silence; returns its id."""
    req = urllib.request.Request(
        url.rstrip("/") + "/api/v2/silences",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return str(json.loads(resp.read())["silenceID"])
    except urllib.error.HTTPError as err:
        raise SilenceError(
            f"Alertmanager refused the silence ({err.code}): {err.read().decode()[:300]}"
        ) from None
    except OSError as err:
        raise SilenceError(f"cannot reach Alertmanager at {url}: {err}") from None
