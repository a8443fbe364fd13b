"""Stable dashboard uids: fixed for the shared dashboards, derived from the model name for the debug ones.

Grafana uids are at most 40 characters of letters, digits, `-` and `_`; a model name that does not fit
keeps a readable prefix and gains a short hash of the full name, so two models never share a uid.
"""

from __future__ import annotations

import hashlib
import re

EXECUTIVE = "driftline-executive"
ONCALL = "driftline-oncall"
#: slo.rules links alerts to this uid (`DEFAULT_DASHBOARD_URL`).
SLOS = "driftline-slos"
_MODEL_PREFIX = "driftline-model-"
_MAX = 40
_BAD = re.compile(r"[^a-zA-Z0-9_-]")


def model_uid(model: str) -> str:
    """The debug dashboard's uid for a model: `driftline-model-<name>`, hashed when too long or unsafe."""
    uid = _MODEL_PREFIX + model
    if len(uid) <= _MAX and not _BAD.search(model):
        return uid
    digest = hashlib.sha256(model.encode()).hexdigest()[:8]
    slug = _BAD.sub("-", model)[: _MAX - len(_MODEL_PREFIX) - len(digest) - 1]
    return f"{_MODEL_PREFIX}{slug}-{digest}"
