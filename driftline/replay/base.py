"""What every replay module shares: its errors, one reported problem, the column mapping, the result, the sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from contract import DriftlineError

#: Reference rows kept per feature, from --reference-until rows or a reference file.
MAX_REFERENCE_ROWS = 100_000


class ReplayError(DriftlineError):
    """The replay cannot go on (a missing time column, or the first problem under --strict)."""


class ReplayFileError(ReplayError):
    """A file that cannot be read as CSV or Parquet (missing, binary, malformed): one line says which and why."""


@dataclass(frozen=True)
class Problem:
    """One bad value: where it is (1-based data row, column) and what is wrong with it."""

    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{where}column {self.column!r}: {self.message}"


@dataclass(frozen=True)
class Columns:
    """How file columns map onto a record; features and slices come from the spec."""

    time: str = "ts"
    #: Unit of numeric event times (s, ms, us or ns since the unix epoch): stated, never guessed.
    time_unit: str = "s"
    id: str = "id"
    prediction: str = "prediction"
    score: str = "score"
    label: str | None = None
    version: str | None = None


@dataclass
class ReplayResult:
    """What a replay did: rows read, records sent and stored, labels, skipped rows, problems, windows."""

    rows: int = 0
    records_sent: int = 0
    records_stored: int = 0
    labels_sent: int = 0
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)
    reference_rows: int = 0
    windows: int = 0
    #: Labelled, scored reference rows CBPE was calibrated on (0: no CBPE estimate).
    calibration_rows: int = 0
    #: What was not computed, each with why and the flag that would fix it.
    not_computed: list[str] = field(default_factory=list)


class Sink(Protocol):
    """Where replayed data goes: the collector's service in-process, or a running collector over HTTP."""

    def records(self, body: dict[str, Any]) -> tuple[int, bool]:
        """Store a records batch: (records stored, whether the batch id was stored before)."""
        ...

    def labels(self, body: dict[str, Any]) -> int:
        """Store a labels batch: how many labels were stored."""
        ...

    def reference(self, body: dict[str, Any]) -> dict[str, Any]:
        """Fit and store a reference: the collector's description of it (id, rows, fitted features)."""
        ...

    def evaluate(self) -> int:
        """Evaluate every window that received data: how many were evaluated."""
        ...

    def series(self, model: str, kind: str) -> list[dict[str, Any]]:
        """The model's drift or whole-traffic performance points."""
        ...
