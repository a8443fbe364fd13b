"""`driftline reference upload`: a model's reference from a CSV or Parquet file in one command, with a
short account of what was fitted (rows, features and their bins) and whether CBPE was calibrated, and
if not, why.

The file is read like a replay's `--reference` file (`driftline.replay`): the model's drift features by
name, and a score and a label column when it has them, which calibrate CBPE (binary models).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftline import replay as rp
from driftline.replay.run import reference_file_sample, send_reference
from sdk import reference
from spec import Model

#: How the replay names CBPE in what it could not compute.
CBPE = "CBPE's estimate: "


def upload(
    path: Path, model: Model, sink: rp.Sink, *, columns: rp.Columns, version: str | None = None
) -> tuple[dict[str, Any], rp.ReplayResult]:
    """Fit and store the reference in `path`: (the collector's description of it, what was computed)."""
    rp.check_file(path)
    sample = reference_file_sample(path, model, columns)
    if not sample.columns:
        wanted = ", ".join(f.name for f in model.drift_features)
        raise rp.ReplayFileError(
            f"{path}: none of {model.name}'s drift features ({wanted}) is a column of it: name the columns as "
            "the spec's features"
        )
    result = rp.ReplayResult(reference_rows=max(len(v) for v in sample.columns.values()))
    answer = send_reference(sink, model, path.name, sample, result, version)
    return answer, result


def describe(answer: dict[str, Any], result: rp.ReplayResult, source: str) -> str:
    """The upload in a few lines (`sdk.reference.describe`), with why CBPE was not calibrated if it was not."""
    why = next((m.removeprefix(CBPE) for m in result.not_computed if m.startswith(CBPE)), None)
    return reference.describe(answer, source, why)
