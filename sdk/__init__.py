"""Driftline SDK: watch a model from inside serving code without slowing it down or breaking it.

Standard library only; numpy, pandas and torch inputs are handled when the caller passes them.
`CollectorClient` is the one client of a running collector's API for tools (replay, demo, the CLI).
"""

from .client import CollectorClient
from .monitor import Monitor, Observation
from .sampling import is_sampled, stable_hash
from .transport import HTTPTransport, MockTransport, Request, Response, Transport

__all__ = [
    "CollectorClient",
    "HTTPTransport",
    "MockTransport",
    "Monitor",
    "Observation",
    "Request",
    "Response",
    "Transport",
    "is_sampled",
    "stable_hash",
]
