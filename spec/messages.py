"""Turning pydantic's validation errors into the spec's own lines: where, what, the value, and the fix.

`driftline check` prints these as they are, so each names the line, the field path, the bad value and
what to write instead (for a misspelt field or statistic, the closest valid name).
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel

from spec.document import SpecFile
from spec.fields import Misplaced
from spec.parsing import line_of, strip_lines


def own_errors(errors: list[Any]) -> list[Any]:
    """The errors without pydantic's echo: a list whose items failed is also reported as too short."""
    return [
        e
        for e in errors
        if e["type"] != "too_short"
        or not any(len(o["loc"]) > len(e["loc"]) and o["loc"][: len(e["loc"])] == e["loc"] for o in errors)
    ]


_FIELD_FIXES = {
    "objective": "write the percent of good events, at least 50 and below 100, such as 99.9 or \"99.9%\"",
}
#: Fixes of a missing field, where "add it" is not enough.
_MISSING_FIXES = {
    "sha256": "pin the model file: add sha256: with the 64 hexadecimal digits `sha256sum <model file>` prints",
}
_FIXES = {
    "extra_forbidden": "remove it or check its spelling",
    "missing": "add it",
    "literal_error": "use one of the allowed values",
}


def describe(doc: Any, err: dict[str, Any]) -> str:
    """One validation error as a line: `LINE: path: message (got value); fix: what to do`."""
    loc = tuple(p for p in err["loc"] if p not in ("__root__",))
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, Misplaced):  # a whole-file check that names its field: point at that field
        loc, err = loc + cause.loc, {**err, "input": cause.value}
    path = ".".join(str(p) for p in loc) or "(top level)"
    line = line_of(doc, loc)
    msg = err["msg"].removeprefix("Value error, ")
    fix = _FIELD_FIXES.get(str(loc[-1]) if loc else "", _FIXES.get(err["type"], ""))
    if err["type"] == "extra_forbidden" and loc:
        fix = _suggest_field(loc)
    if err["type"] == "missing" and loc:
        fix = _MISSING_FIXES.get(str(loc[-1]), fix)
    near = (err.get("ctx") or {}).get("did_you_mean")
    if near is not None:
        fix = f"did you mean {near!r}?"
    bad = "" if err["type"] in ("missing",) else f" (got {_short(err.get('input'))})"
    where = f"{line}: " if line else " "
    return f"{where}{path}: {msg}{bad}" + (f"; fix: {fix}" if fix else "")


def _suggest_field(loc: tuple[Any, ...]) -> str:
    """The fix for an unknown field: the closest field of the section it sits in, or all of them."""
    bad = str(loc[-1])
    owner: type[BaseModel] = SpecFile
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = owner.model_fields.get(str(part))
        if field is None:
            break
        ann = field.annotation
        inner = next(
            (a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)),
            None,
        )
        if inner is None:
            break
        owner = inner
    close = difflib.get_close_matches(bad, list(owner.model_fields), n=1)
    return f"did you mean {close[0]!r}?" if close else f"allowed fields: {', '.join(owner.model_fields)}"


def _short(v: Any) -> str:
    """The offending value, cut to fit on the error's line."""
    v = strip_lines(v)
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
