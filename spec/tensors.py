"""`models[].tensors`: how a model server's named tensors (Open Inference Protocol v2, the format of Triton,
KServe v2 and MLServer) become a record's features, prediction and score.

Without the section, a single 2-D input tensor's columns are the model's declared features in order, input
tensors named like declared features are those features, and a single output tensor is the prediction.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from spec.fields import NAME_RE, Strict, hint

#: A tensor name as servers spell them (`input-0`, `predict_proba`, `OUTPUT__0`).
TENSOR_NAME_RE = r"^[A-Za-z0-9_.:/-]{1,128}$"


class TensorSpec(Strict):
    """Named tensors of an inference request and response, mapped to the model's declared fields."""

    inputs: dict[str, str | tuple[str, ...]] | None = Field(
        None,
        description="Input tensor name -> the feature it holds (a tensor of shape [N] or [N, 1]) or the "
        "features its columns hold, in order (a tensor of shape [N, F]). Unset: a single 2-D input "
        "tensor's columns are the declared features in order; tensors named like features are those.",
    )
    prediction: str | None = Field(
        None,
        pattern=TENSOR_NAME_RE,
        description="Output tensor holding the prediction, one value per row. Unset: the only output "
        "tensor that is not the score.",
    )
    score: str | None = Field(
        None,
        pattern=TENSOR_NAME_RE,
        description="Output tensor holding the score (probability of the positive class). Unset: no score.",
    )
    score_column: int | None = Field(
        None,
        ge=0,
        description="Column of a 2-D score tensor holding the positive class's probability. Unset: column 1 "
        "of a two-column tensor (scikit-learn's predict_proba order for classes [0, 1]).",
    )


def tensor_problems(tensors: TensorSpec, declared: list[str]) -> list[tuple[tuple[str | int, ...], Any, str]]:
    """Every mapped name that is not a declared feature, a feature mapped twice, or a bad tensor name, as
    (location under `tensors`, value, message) for the spec loader's line-numbered errors."""
    out: list[tuple[tuple[str | int, ...], Any, str]] = []
    seen: dict[str, str] = {}
    for tensor, target in (tensors.inputs or {}).items():
        if not re.match(TENSOR_NAME_RE, tensor):
            out.append(
                (
                    ("inputs", tensor),
                    tensor,
                    f"{tensor!r} is not a tensor name: use letters, digits, _ . : / -",
                )
            )
        names = [target] if isinstance(target, str) else list(target)
        if not names:
            out.append((("inputs", tensor), target, f"tensor {tensor!r} maps no feature: list its columns"))
        for j, name in enumerate(names):
            loc: tuple[str | int, ...] = (
                ("inputs", tensor) if isinstance(target, str) else ("inputs", tensor, j)
            )
            if not re.match(NAME_RE, name) or name not in declared:
                out.append(
                    (
                        loc,
                        name,
                        f"tensor {tensor!r}: {name!r} is not a declared feature{hint(name, declared)}",
                    )
                )
            elif name in seen:
                out.append(
                    (
                        loc,
                        name,
                        f"feature {name!r} is mapped from both {seen[name]!r} and {tensor!r}: map it once",
                    )
                )
            seen.setdefault(name, tensor)
    if (
        tensors.prediction is not None
        and tensors.prediction == tensors.score
        and tensors.score_column is None
    ):
        out.append(
            (
                ("score_column",),
                None,
                "prediction and score are the same tensor: say which column is the score",
            )
        )
    return out
