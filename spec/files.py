"""Explain model files: the folder they are taken from and the SHA-256 pins that guard loading them.

Unpickling a model runs code, so a spec names each file by a path inside one folder and pins its
digest; these checks run at load time and print the digest to paste when a pin is missing or stale.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spec.document import MODELS_DIR_ENV, SpecFile
from spec.parsing import line_of, strip_lines


def models_folder(base: Path | None, models_dir: str | Path | None = None) -> Path:
    """Where explain model files are taken from: `models_dir`, else DRIFTLINE_MODELS_DIR, else the spec file's
    folder (the current folder for a spec that is no file)."""
    given = models_dir if models_dir is not None else os.environ.get(MODELS_DIR_ENV) or None
    return Path(given) if given is not None else (base if base is not None else Path("."))


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's bytes, as `sha256sum` prints it."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def model_file_problems(spec: SpecFile, doc: Any, root: Path, require_files: bool) -> list[str]:
    """Each explain model file must resolve inside `root` (no symbolic link out of it), and, where it
    exists (always, with `require_files`), have the pinned SHA-256; one line per problem."""
    problems: list[str] = []
    inside = root.resolve()
    for i, m in enumerate(spec.models):
        if m.explain is None:
            continue
        where = ("models", i, "explain")
        line = line_of(doc, (*where, "model"))
        at = f"{line}: " if line else " "
        target = (root / m.explain.model).resolve()
        if not target.is_relative_to(inside):
            problems.append(
                f"{at}models.{i}.explain.model: {m.explain.model!r} leads to {target}, outside {inside} (through "
                f"a symbolic link); fix: copy the model file into {inside} and name it there"
            )
        elif not target.exists():
            if require_files:
                problems.append(
                    f"{at}models.{i}.explain.model: no such file {target}; fix: save the model there or "
                    "correct the path"
                )
        elif not target.is_file():
            problems.append(
                f"{at}models.{i}.explain.model: {target} is not a regular file; fix: name the model file"
            )
        else:
            actual = sha256_of(target)
            if actual != m.explain.sha256:
                line = line_of(doc, (*where, "sha256")) or line
                problems.append(
                    f"{line}: models.{i}.explain.sha256: {m.explain.model} has SHA-256 {actual}, not the pinned "
                    f"{m.explain.sha256}, so it is not loaded; fix: if you trust this file, write sha256: {actual}"
                )
    return problems


def pin_hint(doc: Any, err: Mapping[str, Any], root: Path) -> str:
    """For a missing explain.sha256: the digest of the file the spec names, ready to paste, when it is a
    regular file inside the models folder."""
    loc = tuple(err["loc"])
    if err["type"] != "missing" or loc[-1:] != ("sha256",) or len(loc) < 2 or loc[-2] != "explain":
        return ""
    node: Any = strip_lines(doc)
    for part in loc[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return ""
    name = node.get("model") if isinstance(node, dict) else None
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        return ""
    try:
        target = (root / name).resolve()
        if not target.is_relative_to(root.resolve()) or not target.is_file():
            return ""
        return f" (the file there now has sha256: {sha256_of(target)})"
    except (OSError, ValueError):
        return ""
