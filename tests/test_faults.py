"""Faults under traffic (issue 18 item 7): the collector killed with SIGKILL in the middle of batches and
started again, and its PostgreSQL stopped and started while the collector keeps running.

What must hold, whatever the timing: every batch a client saw acknowledged is stored, all of it, even after
the kill; a batch sent again under the same id (what the SDK does when it never saw an answer) stores
nothing twice; and the SDK, retrying through an outage of the database, loses and doubles nothing. The
PostgreSQL outage runs on a throw-away cluster (initdb on a free port), never the shared one.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from sdk import Monitor
from tests.conftest import Collector, free_port, http, missing, start_collector
from tests.test_collector_api import records, sample

BATCHES, SIZE = 24, 2000


def _stored_by_batch(database_url: str) -> dict[str, tuple[int, int]]:
    """batch id -> (records stored, distinct record ids among them), read straight from the store."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT batch_id, count(*), count(DISTINCT record_id) FROM records GROUP BY batch_id")
            )
            return {str(b): (int(n), int(d)) for b, n, d in rows}
    finally:
        engine.dispose()


def _send(c: Collector, batch_id: str, recs: list[dict[str, object]]) -> tuple[int, object]:
    body = {"batch_id": batch_id, "model": "credit", "version": "v1", "records": recs}
    return http("POST", c.url + "/v1/records", body, token=c.ingest, timeout=60)


def test_a_collector_killed_mid_batch_keeps_every_acknowledged_batch_and_a_resend_stores_nothing_twice(
    db_url: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    now = time.time() - 60
    sent = {f"kill-{b}": records(SIZE, now, rng, prefix=f"k{b}-") for b in range(BATCHES)}
    c = start_collector(db_url, tmp_path)
    acked: set[str] = set()
    lock = threading.Lock()
    todo = list(sent)

    def sender() -> None:
        while True:
            with lock:
                if not todo:
                    return
                batch_id = todo.pop(0)
            try:
                status, _ = _send(c, batch_id, sent[batch_id])
            except OSError:  # the connection died with the collector: no answer, so not acknowledged
                continue
            if status == 200:
                with lock:
                    acked.add(batch_id)

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for t in threads:
        t.start()
    while len(acked) < 4:  # kill it with batches acknowledged and others in flight
        time.sleep(0.01)
    c.proc.send_signal(signal.SIGKILL)
    c.proc.wait(10)
    for t in threads:
        t.join(60)
    assert 4 <= len(acked) < BATCHES, "the kill must land mid-traffic"

    again = start_collector(
        c.database_url, tmp_path, port=c.port, tokens=(c.admin, c.ingest, c.read)
    )
    try:
        after_kill = _stored_by_batch(c.database_url)
        for batch_id in acked:  # durable once acknowledged: every record, once
            assert after_kill.get(batch_id) == (SIZE, SIZE), batch_id
        for batch_id in set(after_kill) - acked:  # stored but the answer was lost: all of it or nothing
            assert after_kill[batch_id] == (SIZE, SIZE), batch_id
        # the client sends again everything it has no answer for, and (as a retry might) some it has
        for batch_id, recs in sent.items():
            status, answer = _send(again, batch_id, recs)
            assert status == 200, answer
            assert isinstance(answer, dict) and answer["duplicate"] == (batch_id in after_kill), (batch_id, answer)
        final = _stored_by_batch(c.database_url)
        assert final == {batch_id: (SIZE, SIZE) for batch_id in sent}
    finally:
        again.stop()


@dataclass
class Server:
    """A throw-away PostgreSQL server that a test may stop and start."""

    port: int
    pg_ctl: list[str]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        subprocess.run([*self.pg_ctl, "-m", "fast", "-w", "stop"], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        subprocess.run([*self.pg_ctl, "-w", "-t", "60", "start"], check=True, capture_output=True, timeout=120)


@pytest.fixture
def server() -> Iterator[Server]:
    """A plain PostgreSQL cluster of the installed server, initdb'd into a temp dir on a free port."""
    config = shutil.which("pg_config")
    out = subprocess.run([config, "--bindir"], capture_output=True, text=True) if config else None
    bindir = Path(out.stdout.strip()) if out and out.returncode == 0 else Path("/usr/lib/postgresql/15/bin")
    if not (bindir / "initdb").exists():
        missing(f"initdb in {bindir}", "apt-get install postgresql-15")
    root = Path(tempfile.mkdtemp(prefix="driftline-fault-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the server runs as the postgres user
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    pg_ctl = [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log")]
    try:
        subprocess.run(
            [*as_postgres, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        with (data / "postgresql.conf").open("a") as f:
            f.write(f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n")
        s = Server(port, pg_ctl)
        s.start()
        yield s
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_the_sdk_rides_out_a_database_restart_without_restarting_the_collector(
    server: Server, tmp_path: Path
) -> None:
    c = start_collector(server.url(), tmp_path)
    rng = np.random.default_rng(3)
    mon = Monitor(
        model="credit", version="v1", collector=c.url, token=c.ingest, sample_rate=1.0, max_queue=50_000,
        batch_size=200, flush_interval=0.05, initial_backoff=0.05, max_backoff=0.5, timeout=5.0,
    )  # fmt: skip
    n, down_at, up_at = 3000, 1000, 2000
    try:
        for i in range(n):
            if i == down_at:
                server.stop()
                assert http("GET", c.url + "/readyz", timeout=10)[0] == 503  # it says so, and keeps serving
            if i == up_at:
                server.start()
            with mon.observe(
                ids=[f"pg-{i}"],
                features={"income": float(rng.normal(50, 10)), "age": 40.0, "debt_ratio": 0.2, "region": "EU"},
            ) as obs:
                obs.predictions([i % 2])
            if i % 100 == 0:
                time.sleep(0.02)  # traffic, not one burst: batches go out before, during and after
        assert mon.flush(timeout=120)
        assert mon.dropped_total == 0 and mon.internal_errors == 0
    finally:
        mon.close(timeout=10)
    try:
        assert c.proc.poll() is None, "the collector must ride out the outage, not exit"
        stored = _stored_by_batch(server.url())
        assert sum(n for n, _ in stored.values()) == sum(d for _, d in stored.values()) == n
        engine = create_engine(server.url())
        with engine.connect() as conn:
            ids = {r for (r,) in conn.execute(text("SELECT record_id FROM records"))}
        engine.dispose()
        assert ids == {f"pg-{i}" for i in range(n)}
        metrics = c.metrics()  # the call counters' deltas were retried too, and counted once
        assert sample(metrics, "driftline_predictions_total", 'model="credit",outcome="ok",version="v1"') == n
    finally:
        c.stop()
