"""Privacy deletions on the real TimescaleDB (a throw-away preloaded cluster, `tests/test_timescale.py`), with
every chunk of the records hypertable compressed first: the subject's rows are deleted from compressed chunks
and the stored aggregates and points after the next tick equal a collector's that never received them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.test_privacy_delete import SALT, deletes_as_if_never_sent
from tests.test_timescale import Cluster, preloaded  # noqa: F401 - the cluster fixture


def compress_records(url: str) -> None:
    """Compress every chunk of the records hypertable (the policy would after 7 days)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            n = conn.scalar(
                text(
                    "SELECT count(compress_chunk(c, if_not_compressed => TRUE)) FROM show_chunks('records') c"
                )
            )
            assert n and n > 0
            compressed = conn.scalar(
                text(
                    "SELECT count(*) FROM timescaledb_information.chunks "
                    "WHERE hypertable_name = 'records' AND is_compressed"
                )
            )
            assert compressed == n
    finally:
        engine.dispose()


def test_a_subject_is_deleted_from_compressed_chunks(
    preloaded: Cluster,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DRIFTLINE_SALT", SALT)
    deletes_as_if_never_sent(preloaded.new_database(), preloaded.new_database(), tmp_path, compress_records)
