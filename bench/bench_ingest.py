"""Collector ingest throughput into PostgreSQL, beside a raw psycopg COPY of the same rows (same run).

Run by hand: `.venv/bin/python bench/bench_ingest.py [--rows 200000] [--batch 5000] [--senders 1]`.
Needs the PostgreSQL at DRIFTLINE_TEST_DATABASE_URL (default postgres@127.0.0.1:5432/test); it works in a
scratch database it creates and drops.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import secrets
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pydantic_core import to_json
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector import db, migrations, repository
from collector.dialects import postgres
from collector.encoding import sample_key
from collector.schemas import RecordIn
from tests.conftest import start_collector

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def make_records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    regions = rng.choice(["EU", "US", "APAC"], n)
    now = time.time()
    return [
        {
            "id": f"r{i}",
            "ts": now - 3600 + i * 1e-3,
            "features": {**{f"f{j}": float(x[i, j]) for j in range(8)}, "region": str(regions[i])},
            "prediction": int(x[i, 0] > 0),
            "score": float(abs(x[i, 1]) % 1),
            "slices": {"region": str(regions[i])},
        }
        for i in range(n)
    ]


def truncate(url: str) -> None:
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("TRUNCATE records, batches"))
    eng.dispose()


def raw_copy(url: str, recs: list[dict[str, Any]], batch: int) -> float:
    """Baseline: psycopg COPY of the same rows, built straight into tuples with the fastest JSON encoder
    at hand (pydantic-core), one transaction per batch: the least any Python writer must do.

    The tuples follow `postgres.RECORD_COLUMNS`, every column the collector's own COPY writes."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    cols = ", ".join(postgres.RECORD_COLUMNS)
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        for i in range(0, len(recs), batch):
            now = dt.datetime.now(dt.UTC)
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(f"COPY records ({cols}) FROM STDIN") as cp,
            ):
                for r in recs[i : i + batch]:
                    cp.write_row(
                        (
                            "bench",
                            r["id"],
                            dt.datetime.fromtimestamp(r["ts"], dt.UTC),
                            "v1",
                            now,
                            to_json(r["features"]).decode(),
                            to_json(r["prediction"]).decode(),
                            r["score"],
                            to_json(r["slices"]).decode(),
                            f"raw-{i}",
                            None,  # attributions: none sent, as in the other paths
                            sample_key(r["id"]),  # the reservoir key the collector stores with each record
                        )
                    )
    return time.perf_counter() - t0


def repository_path(url: str, recs: list[RecordIn], batch: int, path: str) -> float:
    """The collector's storage path alone (no HTTP, records already validated): COPY, or multi-row INSERT."""
    engine = db.make_engine(url)
    sessions = sessionmaker(engine)
    t0 = time.perf_counter()
    for i in range(0, len(recs), batch):
        chunk, batch_id, now = recs[i : i + batch], f"{path}-{i}", db.utcnow()
        with sessions.begin() as s:
            repository.claim_batch(s, batch_id=batch_id, kind="records", model="bench", size=len(chunk))
            if path == "copy":
                repository.insert_records(
                    s, model="bench", version="v1", batch_id=batch_id, received_at=now, records=chunk
                )
            else:
                rows = [postgres.record_row("bench", "v1", batch_id, now, r) for r in chunk]
                postgres.executemany_records(s.connection(), rows)
    engine.dispose()
    return time.perf_counter() - t0


def http_ingest(c: Any, recs: list[dict[str, Any]], batch: int, senders: int) -> float:
    """End to end: gzip'd JSON batches over HTTP to a real collector process, as the SDK sends them."""
    bodies = [
        gzip.compress(
            json.dumps(
                {
                    "batch_id": secrets.token_hex(8),
                    "model": "bench",
                    "version": "v1",
                    "records": recs[i : i + batch],
                }
            ).encode(),
            1,
        )
        for i in range(0, len(recs), batch)
    ]

    def send(body: bytes) -> None:
        req = urllib.request.Request(c.url + "/v1/records", data=body, method="POST")
        req.add_header("Authorization", f"Bearer {c.ingest}")
        req.add_header("Content-Type", "application/json")
        req.add_header("Content-Encoding", "gzip")
        with urllib.request.urlopen(req, timeout=300) as resp:
            assert resp.status == 200

    t0 = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, bodies))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--senders", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    admin_url = os.environ.get("DRIFTLINE_TEST_DATABASE_URL", DEFAULT_PG)
    name = f"driftline_bench_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / name
    workdir.mkdir(exist_ok=True)
    c = None
    try:
        migrations.migrate(db.make_engine(url))
        cfg = workdir / "bench.yaml"
        cfg.write_text(
            "models:\n  - name: bench\n    features:\n"
            + "".join(f"      - {{name: f{j}, type: numeric}}\n" for j in range(8))
            + "      - {name: region, type: categorical}\n    prediction: {type: binary}\n"
        )
        c = start_collector(url, workdir, config=cfg)
        recs = make_records(args.rows)
        validated = [RecordIn.model_validate(r) for r in recs]
        results: dict[str, list[float]] = {
            "raw COPY (psycopg)": [],
            "repository COPY": [],
            "repository multi-row INSERT": [],
            "collector HTTP": [],
        }
        for _ in range(args.repeats):
            truncate(url)
            results["raw COPY (psycopg)"].append(raw_copy(url, recs, args.batch))
            truncate(url)
            results["repository COPY"].append(repository_path(url, validated, args.batch, "copy"))
            truncate(url)
            results["repository multi-row INSERT"].append(
                repository_path(url, validated, args.batch, "insert")
            )
            truncate(url)
            results["collector HTTP"].append(http_ingest(c, recs, args.batch, args.senders))
        base = min(results["raw COPY (psycopg)"])
        print(
            f"\n{args.rows:,} records, batches of {args.batch}, {args.senders} HTTP sender(s), best of {args.repeats}"
        )
        print(f"{'path':<32}{'seconds':>9}{'records/s':>12}{'vs raw COPY':>13}")
        for k, v in results.items():
            best = min(v)
            print(f"{k:<32}{best:>9.2f}{args.rows / best:>12,.0f}{base / best:>12.0%}")
    finally:
        if c is not None:
            c.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
