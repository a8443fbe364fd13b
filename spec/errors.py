"""The spec's one exception: a spec file that cannot be used, with one line per mistake.

Every loading step (reading, YAML, validation, model files) raises it, so `driftline check` prints
the lines as they are and a caller catches one class (or `DriftlineError`, the root of them all).
"""

from __future__ import annotations

from contract import DriftlineError


class SpecError(DriftlineError, ValueError):
    """A spec file that cannot be used; `problems` holds one line per mistake."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        return "\n".join(f"{self.source}:{p}" for p in self.problems)
