"""Driftline SDK: watch a model from inside serving code without slowing it down or breaking it.

Standard library only; numpy, pandas, polars, pyarrow, torch (on any device) and DLPack inputs are
handled when the caller passes them (docs/sdk.md, "Inputs").
`CollectorClient` is the one client of a running collector's API for tools (replay, demo, the CLI).
Hooks (docs/sdk.md): `sdk.asgi.DriftlineMiddleware` for ASGI apps (its own module, since it imports
asyncio), ``@Monitor.observed`` for predict functions, ``Monitor.wrap(model)`` for scikit-learn-style
models, and `request_id` / `request_scope` for the request a call belongs to. `llm_call` records generative
model calls (`sdk.genai`).
"""

from .client import CollectorClient
from .context import request_id, request_scope
from .genai import LLMCall, llm_call
from .hooks import ObservedModel
from .monitor import Monitor, Observation
from .sampling import is_sampled, stable_hash
from .transport import HTTPTransport, MockTransport, Request, Response, Transport

__all__ = [
    "CollectorClient",
    "HTTPTransport",
    "LLMCall",
    "MockTransport",
    "Monitor",
    "Observation",
    "ObservedModel",
    "Request",
    "Response",
    "Transport",
    "is_sampled",
    "llm_call",
    "request_id",
    "request_scope",
    "stable_hash",
]
