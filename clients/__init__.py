"""Thin clients for the servers Driftline pushes to: Grafana's API (over grafana-client) and Alertmanager's.

They carry request bodies and translate errors; they know nothing of the spec (what to send is built by
`alerting` and `dashboards`). `clients.grafana` needs the optional `grafana` extra only when it talks.
"""

from clients.alertmanager import SilenceError, create_silence
from clients.grafana import (
    TOKEN_ENV,
    Action,
    Change,
    GrafanaError,
    Report,
    call,
    connect,
    differs,
    ensure_folder,
    get,
    without,
)

__all__ = [
    "TOKEN_ENV",
    "Action",
    "Change",
    "GrafanaError",
    "Report",
    "SilenceError",
    "call",
    "connect",
    "create_silence",
    "differs",
    "ensure_folder",
    "get",
    "without",
]
