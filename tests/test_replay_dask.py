"""`driftline replay --dask`: a partitioned Parquet data set binned on a real dask.distributed LocalCluster of two
worker processes stores what the single-process replay stores (records, labels, batches, reference, every
per-minute aggregate) and evaluates to the same drift, quality and performance points, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster
from pydantic_core import to_json
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from analyzers.aggregates import MinuteAggregates, Moments
from collector.aggregation import Shipped
from driftline import replay as rp
from driftline.replay.cluster import replay_dask
from spec import Model, load_spec
from tests.conftest import DEFAULT_PG, EXAMPLES, cli
from tests.replay_data import START, prediction_log, write_parquet
from tests.test_privacy_delete import dump

SPEC = load_spec(EXAMPLES / "credit.yaml")
_CREDIT = SPEC.model("credit")
assert _CREDIT is not None
CREDIT: Model = _CREDIT
#: Columns that hold the wall-clock time of the run, not anything replayed.
VOLATILE = {"computed_at", "received_at", "created_at", "built_at", "recorded_at"}
TABLES = [
    "batches", "records", "labels", "references", "aggregate_state", "minute_counts", "minute_moments",
    "minute_performance", "hour_counts", "hour_moments", "hour_performance", "pending_minutes", "drift",
    "quality", "performance",
]
#: Sums of floats: the single-process replay bins after the fact in chunks of stored records, the workers bin
#: each batch, so a minute's float sum is added in another order (float addition is not associative).
FLOAT_SUMS = {"minute_moments", "hour_moments", "performance"}


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """A LocalCluster of two single-threaded worker processes, shared by the module's tests."""
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture
def second_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty database on the same backend, for the other replay."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'dask.db'}"
        return
    admin_url = os.environ.get("DRIFTLINE_TEST_DATABASE_URL", DEFAULT_PG)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"driftline_dask_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def data_set(root: Path) -> Path:
    """A hive-style data set of 2,400 rows over 8 hours in parts of uneven size whose edges cut through minutes
    and batches, a NaN income and a row without a time; `_SUCCESS` and `.crc` files are not data."""
    cols = prediction_log(rows_per_hour=300, hours=8, shift_from_hour=5)
    whole = write_parquet(cols, root / "whole.parquet")
    table = pq.read_table(whole)
    whole.unlink()
    income = table.column("income").to_pylist()
    income[777] = math.nan
    table = table.set_column(table.schema.get_field_index("income"), "income", pa.array(income))
    ts = table.column("ts").to_pylist()
    ts[1500] = None
    table = table.set_column(1, "ts", pa.array(ts, pa.timestamp("us", tz="UTC")))
    out = root / "log"
    edges = [0, 333, 1000, 1001, 1777, 2400]
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        folder = out / f"day=2026-03-0{2 + i // 3}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(a, b - a), folder / f"part-{i:03d}.parquet", row_group_size=150)
    (out / "_SUCCESS").write_text("")
    (out / "day=2026-03-02" / ".part-000.parquet.crc").write_text("x")
    return out


def floats_close(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-12 relative (NaN equals NaN)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12, abs=1e-12) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(floats_close(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(floats_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_dask_replay_stores_and_evaluates_what_the_single_process_replay_does(
    client: Client, db_url: str, second_url: str, tmp_path: Path
) -> None:
    path = data_set(tmp_path)
    options: dict[str, Any] = {
        "columns": rp.Columns(label="label"),
        "reference_until": START + dt.timedelta(hours=3),
        "batch_rows": 250,
        "progress": False,
    }
    single = rp.replay(path, CREDIT, rp.EmbeddedSink(db_url, SPEC), **options)
    sink = rp.EmbeddedSink(second_url, SPEC)
    spread = replay_dask(path, CREDIT, sink, client, **options)
    assert spread == single
    assert (single.rows, single.records_stored, single.skipped, single.windows) == (2400, 2399, 1, 8)
    assert single.calibration_rows == 900 and [p.row for p in single.problems] == [1501]
    a, b = dump(db_url, TABLES, VOLATILE), dump(second_url, TABLES, VOLATILE)
    assert a["pending_minutes"] == [] and len(a["records"]) == 2399 and a["minute_counts"]
    assert len([p for p in a["performance"] if p[3] == "estimated_accuracy"]) == 8
    for table in TABLES:
        if table in FLOAT_SUMS:
            assert floats_close(a[table], b[table]), table
        else:  # counts, and everything computed from counts, to the bit
            assert a[table] == b[table], table
    # the moments' counts, minimums and maximums are exact too; only the float sums may differ in the last bits
    assert [(r[:6], r[8:]) for r in a["minute_moments"]] == [(r[:6], r[8:]) for r in b["minute_moments"]]
    # realized performance comes from labels the collector summarises itself: exact; CBPE's estimate from sums
    realized = [[p for p in t["performance"] if not p[3].startswith("estimated")] for t in (a, b)]
    assert realized[0] == realized[1] and realized[0]
    # the workers' batches carry the single-process batch ids: a second replay stores nothing new
    again = rp.replay(path, CREDIT, sink, **options)
    assert again.records_stored == 0 and dump(second_url, ["records"], VOLATILE) == {"records": a["records"]}


def test_shipped_aggregates_built_on_another_reference_are_not_added(tmp_path: Path) -> None:
    """A batch whose shipped counts name a reference that is not the version's binning one is binned by
    ingest itself: the stored counts are those of a plain store, never the shipped ones."""
    rows = [
        {"id": f"r{i}", "ts": (START + dt.timedelta(seconds=7 * i)).timestamp(),
         "features": {"income": 40.0 + i, "age": 30.0, "debt_ratio": 0.2, "region": "EU"},
         "prediction": 1, "score": 0.7, "slices": {"region": "EU"}}
        for i in range(20)
    ]
    planted = MinuteAggregates({(0, "income", "b0"): 1_000_000}, {(0, "income"): Moments(1, 1.0, 1.0, 1.0, 1.0)})
    bogus = Shipped(999, "other-config", 20, planted, {(0, "all"): 1_000_000})
    stores = []
    for name, shipped in (("plain", None), ("bogus", bogus)):
        url = f"sqlite:///{tmp_path / name}.db"
        sink = rp.EmbeddedSink(url, SPEC)
        body = {"batch_id": "b1", "model": "credit", "version": "v1", "records": rows}
        assert sink.records_json(to_json(body), shipped) == (20, False)
        stores.append(dump(url, ["minute_counts", "minute_moments", "minute_performance"], VOLATILE))
    assert stores[0] == stores[1] and stores[0]["minute_counts"]
    assert not any(r[-1] == 1_000_000 for r in stores[1]["minute_performance"])


def test_the_cli_refuses_dask_with_a_collector_or_strict_and_a_directory_without_parquet(tmp_path: Path) -> None:
    path = data_set(tmp_path)
    base = ["replay", str(path), "--config", str(EXAMPLES / "credit.yaml"), "--model", "credit", "--quiet"]
    db = f"sqlite:///{tmp_path / 'x.db'}"
    out = cli(*base, "--dask", "local:1", "--collector", "http://127.0.0.1:9", "--token", "t")
    assert out.returncode == 2 and "--dask stores into a database" in out.stderr
    out = cli(*base, "--dask", "local:1", "--strict", "--database-url", db)
    assert out.returncode == 2 and "replay without --dask to use --strict" in out.stderr
    out = cli(*base, "--dask", "local:0", "--database-url", db)
    assert out.returncode == 1 and "local:N needs a number of workers" in out.stderr
    empty = tmp_path / "empty"
    (empty / "day=1").mkdir(parents=True)
    (empty / "day=1" / "notes.txt").write_text("no data")
    out = cli("replay", str(empty), "--config", str(EXAMPLES / "credit.yaml"), "--model", "credit",
              "--database-url", db)
    assert out.returncode == 2 and "a directory without .parquet files" in out.stderr


def test_the_cli_replays_a_data_set_on_local_workers(tmp_path: Path) -> None:
    path = data_set(tmp_path)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    out = cli(
        "replay", str(path), "--config", str(EXAMPLES / "credit.yaml"), "--model", "credit", "--quiet",
        "--label-column", "label", "--reference-until", (START + dt.timedelta(hours=3)).isoformat(),
        "--dask", "local:2", "--database-url", db, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "Replayed 2,400 rows" in out.stdout and "2,399 records stored" in out.stdout
    assert "2026-03-02 05:00" in out.stdout  # the summary table's windows, the planted shift among them
    engine = create_engine(db)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM records")) == 2399
    engine.dispose()
