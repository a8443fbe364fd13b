"""Driftline SDK: watch a model from inside serving code without slowing it down or breaking it.

Standard library only; numpy, pandas and torch inputs are handled when the caller passes them.
"""

from .monitor import Monitor, Observation
from .sampling import is_sampled, stable_hash
from .transport import HTTPTransport, MockTransport, Request, Response, Transport

__all__ = [
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
