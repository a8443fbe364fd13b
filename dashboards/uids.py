"""Stable dashboard uids: fixed for the shared dashboards, derived from the model name for the debug ones.

Defined in `slo.links`, beside the alert links that open these dashboards, so an alert and the dashboard
it links to always agree on the uid; re-exported here for the dashboard builders.
"""

from __future__ import annotations

from slo.links import EXECUTIVE, ONCALL, SLOS, model_uid

__all__ = ["EXECUTIVE", "ONCALL", "SLOS", "model_uid"]
