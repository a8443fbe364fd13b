"""Loading a spec: bytes to text to YAML to the checked wire model to the resolved spec.

Each step refuses what it cannot use with a `SpecError` listing every mistake with its line, so
`driftline check` can print them as they are; only a `ResolvedSpec` comes out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from spec.document import SpecFile
from spec.errors import SpecError
from spec.files import model_file_problems, models_folder, pin_hint
from spec.messages import describe, own_errors
from spec.parsing import parse_yaml, strip_lines
from spec.resolved import ResolvedSpec, resolve

#: Largest spec file read: a spec is a few kilobytes, and the parse should stay bounded.
MAX_SPEC_BYTES = 1 << 20


def load_spec_text(
    text: str,
    source: str = "<spec>",
    base: Path | None = None,
    *,
    models_dir: str | Path | None = None,
    require_files: bool = False,
) -> ResolvedSpec:
    """Parse and validate spec YAML; raises SpecError listing every mistake with its line.

    Explain model files are resolved in `models_folder(base, models_dir)` and checked against their pinned
    SHA-256 where they exist; `require_files` (for `driftline check`) also refuses a missing one."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(
            source,
            [f" not a usable spec: {len(text):,} characters, more than {MAX_SPEC_BYTES:,} a spec may have"],
        )
    doc = parse_yaml(text, source)
    if not isinstance(doc, dict):
        raise SpecError(source, [" the file must be a mapping with a `models:` list"])
    root = models_folder(base, models_dir)
    try:
        spec = SpecFile.model_validate(strip_lines(doc))
    except ValidationError as exc:
        errors: list[Any] = own_errors(exc.errors())
        raise SpecError(source, [describe(doc, e) + pin_hint(doc, e, root) for e in errors]) from None
    problems = model_file_problems(spec, doc, root, require_files)
    if problems:
        raise SpecError(source, problems)
    return resolve(spec, root)


def load_spec(
    path: str | Path, *, models_dir: str | Path | None = None, require_files: bool = False
) -> ResolvedSpec:
    """Load a spec file from disk: UTF-8, at most MAX_SPEC_BYTES, YAML bounded as `load_spec_text` says."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(str(p), [f" cannot read the file: {exc.strerror or exc}"]) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(
            str(p), [f" not a usable spec: larger than {MAX_SPEC_BYTES:,} bytes; a spec is a few kilobytes"]
        )
    return load_spec_text(
        _utf8(data, str(p)), source=str(p), base=p.parent, models_dir=models_dir, require_files=require_files
    )


def _utf8(data: bytes, source: str) -> str:
    """The file's text; anything but UTF-8 is refused with where it goes wrong and how to fix it."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError(
            source, [" the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8"]
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SpecError(
            source,
            [
                f"{line}: the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                "save it as UTF-8"
            ],
        ) from None
