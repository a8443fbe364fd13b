"""The root of Driftline's exception vocabulary, so a caller can catch every refusal Driftline makes."""

from __future__ import annotations


class DriftlineError(Exception):
    """A refusal Driftline explains: the message names what was wrong and how to fix it."""
