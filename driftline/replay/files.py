"""Reading replay input: CSV, TSV and Parquet files as pyarrow batches, each unreadable file one line."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from driftline.replay.base import ReplayError, ReplayFileError

#: Suffixes of the Parquet files of a partitioned data set.
PARQUET = (".parquet", ".pq")


def parquet_parts(path: Path) -> list[Path]:
    """The Parquet files of a partitioned data set (a directory, hive-style `key=value/` folders included) in
    sorted path order, which is the order rows are numbered in; files named `.x` or `_x` (`_SUCCESS`,
    `_metadata`) are not data. Partition values in folder names are not read as columns."""
    parts = sorted(
        (
            p
            for p in path.rglob("*")
            if p.suffix.lower() in PARQUET
            and p.is_file()
            and not any(q.startswith((".", "_")) for q in p.relative_to(path).parts)
        ),
        key=lambda p: p.relative_to(path).as_posix(),
    )
    if not parts:
        raise ReplayFileError(
            f"{path}: a directory without .parquet files: name a CSV, TSV or Parquet file, or a directory "
            "of Parquet files (a partitioned data set)"
        )
    return parts


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes (of a data set directory: of each part's path and digest, in order): the
    root of every batch id, so the same file maps to the same batches."""
    h = hashlib.sha256()
    if path.is_dir():
        for part in parquet_parts(path):
            h.update(f"{part.relative_to(path).as_posix()}\0{file_digest(part)}\0".encode())
        return h.hexdigest()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_file(path: Path) -> None:
    """Refuse, in one line, a path that is no readable regular file."""
    if not path.exists():
        raise ReplayFileError(f"{path}: no such file")
    if path.is_dir():
        for part in parquet_parts(path):
            check_file(part)
        return
    if not path.is_file():
        raise ReplayFileError(f"{path}: not a regular file: name a CSV, TSV or Parquet file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ReplayFileError(f"{path}: cannot read the file: {exc.strerror or exc}") from None


def _unreadable(path: Path, exc: BaseException) -> ReplayFileError:
    """pyarrow's error as one short line, without the echoed row (it may hold binary data or personal data)."""
    kind = "Parquet" if path.suffix.lower() in (".parquet", ".pq") else "CSV"
    raw = str(exc)
    text = " ".join(raw.split()) or type(exc).__name__
    if raw.startswith("CSV parse error:"):
        parts = raw.split(": ", 2)
        text = parts[1] if len(parts) == 3 else text
        if len(parts) == 3 and ("\n" in parts[2].strip() or "\r" in parts[2].strip()):
            text += "; a quote is not closed, so the row runs over a line break: close the quote"
    if "UTF8" in text or "UTF-8" in text:
        text = "it is not UTF-8 text; save it as UTF-8"
    text = "".join(c if c.isprintable() else "?" for c in text)[:200]
    return ReplayFileError(f"{path}: not a readable {kind} file: {text}")


def count_rows(path: Path) -> int | None:
    """A Parquet file's row count from its footer (a data set's: the sum of its parts'), for the progress
    bar; None for text files."""
    if path.is_dir():
        return sum(count_rows(p) or 0 for p in parquet_parts(path))
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _unreadable(path, exc) from None
    return None


def read_batches(path: Path, rows: int) -> Iterator[Any]:
    """pyarrow RecordBatches of the file; CSV columns stay strings so we can report bad values by row. A file
    pyarrow cannot read raises ReplayFileError, one line naming the file and the problem. A data set
    directory: each part's batches in turn (no batch spans two parts)."""
    if path.is_dir():
        for part in parquet_parts(path):
            yield from read_batches(part, rows)
        return
    try:
        yield from _batches(path, rows)
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, ReplayError):
            raise
        raise _unreadable(path, exc) from None


def _batches(path: Path, rows: int) -> Iterator[Any]:
    suffix = path.suffix.lower()
    if suffix in PARQUET:
        yield from pq.ParquetFile(path).iter_batches(batch_size=rows)
        return
    if suffix not in (".csv", ".gz", ".tsv"):
        raise ReplayFileError(f"{path}: unknown file type {suffix!r}: replay reads .csv, .tsv and .parquet")
    if suffix != ".gz":
        _refuse_binary(path)
    parse = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
    with pacsv.open_csv(
        path, read_options=pacsv.ReadOptions(block_size=1 << 16), parse_options=parse
    ) as head:
        names = head.schema.names
    # every column is read as text, never inferred: inference turns ZIP code "01234" into 1234 and, with
    # pyarrow's default null words, the category "NA" (North America) into a missing value. Only an empty
    # field is missing; numeric columns are parsed by `columns.numbers`, categories by analyzers.categories.
    with pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=16 << 20),
        parse_options=parse,
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            null_values=[""],
            auto_dict_encode=False,
        ),
    ) as reader:
        seen = 0
        for batch in reader:
            table = pa.Table.from_batches([batch])
            table = table.cast(pa.schema([pa.field(n, pa.string()) for n in table.column_names]))
            for name in table.column_names:
                # one record per line: pyarrow reads an unterminated quote as one value up to the end of the file
                broken = pc.match_substring_regex(table[name], "[\r\n]")
                if pc.any(broken).as_py():
                    row = seen + int(pc.index(broken, True).as_py()) + 1
                    raise ReplayFileError(
                        f"{path}: row {row}, column {name!r}: a value runs over a line break, so a quote is not "
                        "closed (replay reads one record per line); close the quote or remove the line break"
                    )
            seen += table.num_rows
            yield from table.to_batches(max_chunksize=rows)


def _refuse_binary(path: Path) -> None:
    """A NUL byte in the first 64 KiB means a binary file, whatever its name says."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
    nul = head.find(b"\x00")
    if nul >= 0:
        raise ReplayFileError(
            f"{path}: not a readable CSV file: it holds binary data (a NUL byte at offset {nul})"
        )
