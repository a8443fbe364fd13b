"""Shared fixtures: real PostgreSQL (a fresh database per run), SQLite files, and real collector processes."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from collector import auth, db, migrate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str, fix: str) -> None:
    """Skip locally with the fix; in CI a missing component fails the run."""
    msg = f"{what} is not available: {fix}"
    if IN_CI:
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test run, dropped afterwards."""
    admin_url = os.environ.get("DRIFTLINE_TEST_DATABASE_URL", DEFAULT_PG)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = f"driftline_test_{secrets.token_hex(4)}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        missing(
            f"PostgreSQL at {admin_url} ({type(exc).__name__})",
            "start it (pg_ctlcluster 15 main start) or set DRIFTLINE_TEST_DATABASE_URL",
        )
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_fresh_url(pg_url: str) -> Iterator[str]:
    """The run's PostgreSQL database with every Driftline table emptied first."""
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        tables = conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).all()
        if tables:
            # RESTART IDENTITY: ids start at 1 again, as in a new database (tests compare stored rows)
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage backend in turn, empty."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'driftline.db'}"
    return str(request.getfixturevalue("pg_fresh_url"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(
    method: str,
    url: str,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    """A plain stdlib HTTP call returning (status, decoded JSON or text)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, payload = err.code, err.read()
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode(errors="replace")


@dataclass
class Collector:
    """A collector running as a real process, and the tokens to talk to it."""

    url: str
    database_url: str
    admin: str
    ingest: str
    read: str
    proc: subprocess.Popen[bytes]
    log: Path
    port: int
    config: Path | None

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        return http("GET", self.url + path, token=token if token is not None else self.read)

    def post(self, path: str, body: Any, token: str | None = None, **kw: Any) -> tuple[int, Any]:
        return http("POST", self.url + path, body, token=token if token is not None else self.ingest, **kw)

    def evaluate(self) -> int:
        status, body = self.post("/v1/evaluate", None, token=self.admin)
        assert status == 200, body
        return int(body["windows"])

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as resp:
            return resp.read().decode()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftline.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def create_tokens(database_url: str) -> tuple[str, str, str]:
    """An admin, an ingest and a read token of the default project, made in-process as `driftline token
    create` makes them (its own tests run the command; three CLI starts per collector cost ~6 s)."""
    engine = db.make_engine(database_url)
    try:
        migrate(engine)
        with sessionmaker(engine).begin() as s:
            admin, ingest, read = (auth.create_token(s, scope=scope) for scope in ("admin", "ingest", "read"))
    finally:
        engine.dispose()
    return admin, ingest, read


def start_collector(
    database_url: str,
    workdir: Path,
    config: Path | None = EXAMPLES / "credit.yaml",
    port: int | None = None,
    tokens: tuple[str, str, str] | None = None,
    extra: tuple[str, ...] = ("--evaluation-interval", "3600"),
) -> Collector:
    """Start `driftline serve` as a subprocess and wait until /readyz answers."""
    if tokens is None:
        tokens = create_tokens(database_url)
    assert tokens is not None and all(t.startswith("dl_") for t in tokens), tokens
    port = port or free_port()
    log = workdir / f"collector-{port}.log"
    args = [
        sys.executable,
        "-m",
        "driftline.cli",
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_url,
        *extra,
    ]
    if config is not None:
        args += ["--config", str(config)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"collector exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if http("GET", url + "/readyz", timeout=2)[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError(f"collector did not become ready:\n{log.read_text()}")
    admin, ingest, read = tokens
    return Collector(url, database_url, admin, ingest, read, proc, log, port, config)


@pytest.fixture
def collector(db_url: str, tmp_path: Path) -> Iterator[Collector]:
    """A real collector process on each storage backend, with the credit example spec."""
    c = start_collector(db_url, tmp_path)
    yield c
    c.stop()


@dataclass
class Capture:
    """Every notification Alertmanager delivered, by endpoint path."""

    got: list[tuple[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, path: str) -> list[Any]:
        with self.lock:
            return [body for p, body in self.got if p == path]

    def wait_for(self, path: str, pred: Any, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in self.on(path):
                if pred(body):
                    return body
            time.sleep(0.2)
        raise AssertionError(f"no matching notification on {path} in {timeout}s; got {self.got}")


@pytest.fixture
def capture() -> Iterator[tuple[Capture, str]]:
    cap = Capture()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with cap.lock:
                cap.got.append((self.path, json.loads(body or b"null")))
            self.send_response(202)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield cap, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
