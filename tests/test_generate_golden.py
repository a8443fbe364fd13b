"""`driftline generate` writes the same bytes for every example spec: refactors change structure, not output.

The digests in `golden_generate.json` were taken before the architecture change (issue 15) and refreshed
once since, when every per-window series gained its `window` label (issue 16). Refresh them only for an
intended change of output: `UPDATE_GOLDEN=1 pytest tests/test_generate_golden.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from driftline import cli

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).with_name("golden_generate.json")
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
ARGS = ["--database-url", "postgresql+psycopg://driftline@db/driftline", "--prometheus-url", "http://prometheus:9090"]


def _digests(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_generate_writes_the_golden_bytes(example: Path, tmp_path: Path) -> None:
    out = tmp_path / example.stem
    assert cli.main(["generate", str(example), "--out", str(out), *ARGS]) == 0
    got = _digests(out)
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if os.environ.get("UPDATE_GOLDEN"):
        golden[example.stem] = got
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    want = golden[example.stem]
    assert sorted(got) == sorted(want), "files written differ"
    changed = [name for name in want if got[name] != want[name]]
    assert not changed, f"bytes differ from the golden output: {changed}"
