"""Alertmanager's API v2, as much of it as Driftline uses: creating a silence."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from contract import DriftlineError


class SilenceError(DriftlineError, RuntimeError):
    """Alertmanager refused or could not be reached; the message says which and why."""


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
