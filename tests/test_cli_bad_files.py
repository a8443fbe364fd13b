"""Hostile files given to the real `driftline` command: an alias bomb, specs in other encodings, broken CSV
and Parquet. Each is refused with exit code 2 and exactly one line on stderr, never a traceback, and the
YAML ones in bounded work (issue 13, item 10)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import EXAMPLES, free_port, missing

DRIFTLINE = Path(sys.executable).parent / "driftline"
# Bounded work answers at once; the timeout only turns the old minute-long hang into a failure.
TIMEOUT = 60


def run(*args: str) -> subprocess.CompletedProcess[str]:
    if not DRIFTLINE.exists():
        missing(f"the driftline console script next to {sys.executable}", "pip install -e '.[test]'")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env["DRIFTLINE_SALT"] = "a test salt, so the collector has nothing to warn about"
    return subprocess.run(
        [str(DRIFTLINE), *args], capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False
    )


def assert_one_line(result: subprocess.CompletedProcess[str], source: Path, *words: str) -> None:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert lines[0].startswith(str(source)), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


# ------------------------------------------------------------------------------------------------ specs


def billion_laughs() -> str:
    """The classic payload (Wikipedia, "Billion laughs attack", YAML variant): nine levels of nine aliases,
    about 387 million strings once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\nmodels: *i\n"


SPECS: dict[str, tuple[Callable[[], bytes], tuple[str, ...]]] = {
    "a billion-laughs alias bomb is measured, not expanded, and refused": (
        lambda: billion_laughs().encode(),
        ("alias bomb", "100,000 values"),
    ),
    "an alias inside the node it names is refused": (lambda: b"models: &m [*m]\n", ("alias refers to",)),
    "a Latin-1 spec names the byte, its line, and says to save it as UTF-8": (
        lambda: "models:\n  - name: caf\xe9\n".encode("latin-1"),
        (":2:", "byte 0xe9", "UTF-8"),
    ),
    "a UTF-16 spec with a byte-order mark says to save it as UTF-8": (
        lambda: "models:\n  - name: credit\n".encode("utf-16"),
        ("UTF-16", "UTF-8"),
    ),
    "a UTF-16 spec without a byte-order mark is refused for its NUL characters": (
        lambda: "models:\n  - name: credit\n".encode("utf-16-le"),
        ("#x0000",),
    ),
    "a spec nested ten thousand levels deep is refused": (
        lambda: b"models: " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
        ("nested too deeply",),
    ),
    "a spec larger than a megabyte is refused before parsing": (
        lambda: b"# " + b"x" * (1 << 20) + b"\nmodels: []\n",
        ("larger than",),
    ),
    "a control character in a spec names its line": (
        lambda: b"models:\n  - name: cre\x07dit\n",
        (":2:", "#x0007"),
    ),
}


@pytest.mark.parametrize("content, words", SPECS.values(), ids=list(SPECS))
def test_driftline_check_refuses_a_hostile_spec_in_one_line(
    tmp_path: Path, content: Callable[[], bytes], words: tuple[str, ...]
) -> None:
    spec = tmp_path / "driftline.yaml"
    spec.write_bytes(content())
    result = run("check", str(spec))
    assert_one_line(result, spec, *words)
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["billion laughs", "latin-1"])
def test_serve_refuses_a_hostile_spec_in_one_line_before_listening(tmp_path: Path, name: str) -> None:
    spec = tmp_path / "driftline.yaml"
    spec.write_bytes(
        billion_laughs().encode() if name == "billion laughs" else "models: caf\xe9\n".encode("latin-1")
    )
    result = run(
        "serve", "--config", str(spec), "--port", str(free_port()),
        "--database-url", f"sqlite:///{tmp_path / 'd.db'}",
    )  # fmt: skip
    assert_one_line(result, spec, "alias bomb" if name == "billion laughs" else "UTF-8")


# ------------------------------------------------------------------------------------------ replay files

HEADER = "ts,id,prediction,score,income,age,debt_ratio,region\n"


def _row(i: int) -> str:
    return f"2026-01-01T00:{i % 60:02d}:00Z,r{i},1,0.7,{1000 + i},{30 + i % 40},0.{i % 10},north\n"


def _parquet_bytes(rows: int = 2000) -> bytes:
    table = pa.table(
        {
            "ts": [f"2026-01-01T00:{i % 60:02d}:00Z" for i in range(rows)],
            "id": [f"r{i}" for i in range(rows)],
            "prediction": [1] * rows,
            "score": [0.5 + (i % 50) / 100 for i in range(rows)],
            "income": [1000.0 + i for i in range(rows)],
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy")
    return bytes(sink.getvalue().to_pybytes())


def _corrupt_first_page(data: bytes) -> bytes:
    """A Parquet file with an intact footer whose first page header (right after the magic) is garbage."""
    return data[:4] + bytes(random.Random(3).randrange(256) for _ in range(64)) + data[68:]


FILES: dict[str, tuple[str, Callable[[], bytes], tuple[str, ...]]] = {
    "a CSV quote left open in the last column swallows no rows silently: its row is named": (
        "log.csv",
        lambda: (
            HEADER + _row(0) + _row(1).replace(",north", ',"north') + "".join(map(_row, range(2, 50)))
        ).encode(),
        ("row 2, column 'region'", "quote is not closed"),
    ),
    "a CSV quote left open mid-row is called an open quote": (
        "log.csv",
        lambda: (
            HEADER + _row(0) + _row(1).replace(",0.1,", ',"0.1,') + "".join(map(_row, range(2, 50)))
        ).encode(),
        ("Expected 8 columns, got 7", "quote is not closed"),
    ),
    "a CSV with a ragged row says how many values it expected": (
        "log.csv",
        lambda: (HEADER + _row(0) + "2026-01-01T00:01:00Z,r1,1\n" + _row(2)).encode(),
        ("not a readable CSV file", "Expected 8 columns, got 3"),
    ),
    "binary garbage named .csv is called binary": (
        "log.csv",
        lambda: random.Random(1).randbytes(8192),
        ("not a readable CSV file", "binary data"),
    ),
    "an empty CSV is refused": ("log.csv", lambda: b"", ("not a readable CSV file", "Empty CSV")),
    "a Latin-1 CSV says to save it as UTF-8": (
        "log.csv",
        lambda: (HEADER + _row(0).replace("north", "Fran\xe7a")).encode("latin-1"),
        ("not a readable CSV file", "UTF-8"),
    ),
    "garbage named .parquet is not a Parquet file": (
        "log.parquet",
        lambda: random.Random(2).randbytes(8192),
        ("not a readable Parquet file", "magic bytes"),
    ),
    "a Parquet file cut in half is not a Parquet file": (
        "log.parquet",
        lambda: _parquet_bytes()[: len(_parquet_bytes()) // 2],
        ("not a readable Parquet file",),
    ),
    "an empty Parquet file is refused": (
        "log.parquet",
        lambda: b"",
        ("not a readable Parquet file", "0 bytes"),
    ),
    "a Parquet file with a garbage page header is refused": (
        "log.parquet",
        lambda: _corrupt_first_page(_parquet_bytes()),
        ("not a readable Parquet file",),
    ),
}


@pytest.mark.parametrize("name, content, words", FILES.values(), ids=list(FILES))
def test_replay_refuses_a_malformed_file_in_one_line(
    tmp_path: Path, name: str, content: Callable[[], bytes], words: tuple[str, ...]
) -> None:
    path = tmp_path / name
    path.write_bytes(content())
    result = run(
        "replay", str(path), "--config", str(EXAMPLES / "credit.yaml"), "--model", "credit",
        "--database-url", f"sqlite:///{tmp_path / 'd.db'}", "--quiet",
    )  # fmt: skip
    assert_one_line(result, Path(f"driftline replay: {path}"), *words)


@pytest.mark.parametrize("which", ["--labels", "--reference"])
def test_replay_refuses_a_missing_second_file_before_reading_the_first(tmp_path: Path, which: str) -> None:
    log = tmp_path / "log.csv"
    log.write_text(HEADER + "".join(map(_row, range(10))))
    gone = tmp_path / "gone.csv"
    result = run(
        "replay", str(log), which, str(gone), "--config", str(EXAMPLES / "credit.yaml"), "--model", "credit",
        "--database-url", f"sqlite:///{tmp_path / 'd.db'}", "--quiet",
    )  # fmt: skip
    assert_one_line(result, Path(f"driftline replay: {gone}"), "no such file")
    assert not (tmp_path / "d.db").exists() or "records" not in result.stdout
