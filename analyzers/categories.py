"""The one rule that spells a categorical value, so every ingest path stores and bins it the same way.

The SDK sends JSON, a CSV replay reads text, a Parquet replay reads typed columns, and a reference may
arrive as any of them. Without one spelling, `True` (JSON), `"false"` (CSV) and `False` (Parquet) are
three categories, and an unchanged boolean feature shows a JS distance near 1 in every window.

The rule, applied to categorical feature values, slice values and reference columns:

| value                                                        | canonical form              |
|--------------------------------------------------------------|-----------------------------|
| `None`, a float NaN, `""` or only whitespace                 | missing (`None`)            |
| `True` / `False`, and the strings `true` / `false` any case  | `"true"` / `"false"`        |
| an integral number: `1`, `1.0`, `-0.0`, `1e3`                | its integer digits: `"1"`, `"0"`, `"1000"` |
| any other finite number: `1.5`, `2.5e-7`                     | Python's shortest repr: `"1.5"`, `"2.5e-07"` |
| `inf`, `-inf`                                                | `"inf"`, `"-inf"`           |
| a string that is a plain decimal number: `"1"`, `"1.0"`, `"-2.50"`, `"1e3"` | the number's form above |
| any other string (`"01234"`, `" EU "`, `"N/A"`)              | itself, unchanged           |

A "plain decimal number" has no leading zeros (so identifiers like ZIP code `"01234"` keep their
digits), no surrounding whitespace and no sign other than a leading `-`. Integral floats beyond 2**53
lose nothing they still had: they print as the integer the float holds.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Strings read as numbers: an optional minus, an integer part without leading zeros, an optional
#: fraction and exponent. "01234" and "+1" are not numbers here: they stay as written.
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BOOLS = {"true": "true", "false": "false"}


def _number(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer():
        return str(int(x))
    return repr(x)


def canonical_category(value: Any) -> str | None:
    """The canonical spelling of one categorical value (see the module's table); None means missing."""
    if value is None:
        return None
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value):
            # integer text is read exactly (float would round 10**20); the rest as a float
            return str(int(value)) if value.lstrip("-").isdigit() else _number(float(value))
        if not value.strip():
            return None
        return _BOOLS.get(value.lower(), value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return None if math.isnan(value) else _number(value)
    # numpy scalars and the like: bool first (np.bool_ is no int), then numbers, else their text
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    if kind == "b":
        return "true" if bool(value) else "false"
    if kind in ("i", "u"):
        return str(int(value))
    if kind == "f":
        return canonical_category(float(value))
    return canonical_category(str(value))
