"""HTTPTransport against a real local HTTP server (stdlib), including a collector that starts late."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sdk import CollectorClient, HTTPTransport, MockTransport, Monitor, Request, Response, wire

ROOT = Path(__file__).resolve().parent.parent


class FakeCollector(ThreadingHTTPServer):
    """A stdlib HTTP/1.1 server that stores decoded JSON bodies and the connections they came on."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.bodies: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.peers: set[tuple[str, int]] = set()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        self.conns.append(conn)
        return conn, addr

    def stop(self) -> None:
        """Stop listening and cut every kept-alive connection, as a restarting collector does."""
        self.shutdown()
        self.server_close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def records(self) -> list[dict[str, Any]]:
        return [r for path, body, _ in self.bodies if path == wire.RECORDS_PATH for r in body["records"]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeCollector

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        self.server.bodies.append((self.path, json.loads(raw), dict(self.headers)))
        self.server.peers.add(self.client_address)
        out = json.dumps({"accepted": 1, "duplicate": False}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port() -> Iterator[int]:
    yield free_port()


def test_serving_goes_on_while_the_collector_is_down_and_the_samples_arrive_once_it_is_up(port):
    mon = Monitor(
        "credit", "v7", collector=f"http://127.0.0.1:{port}", token="tok-1", sample_rate=1.0, timeout=1.0,
        flush_interval=0.05, initial_backoff=0.02, max_backoff=0.1, max_queue=1000,
    )  # fmt: skip
    server = None
    try:
        served = 0
        for i in range(40):
            with mon.observe(ids=[f"r{i}"], features={"i": i}) as obs:
                obs.predictions([i % 2])
            served += 1
            time.sleep(0.005)
        assert served == 40
        assert mon.flush(0.2) is False
        assert mon.queued > 0 or mon._shipper._pending["records"] is not None
        server = FakeCollector(port)
        assert mon.flush(10.0)
        assert sorted(r["id"] for r in server.records()) == sorted(f"r{i}" for i in range(40))
        assert all(headers["Authorization"] == "Bearer tok-1" for _, _, headers in server.bodies)
        stats = [body for path, body, _ in server.bodies if path == wire.STATS_PATH]
        assert sum(s["ok"] for s in stats) == 40 and sum(s["dropped"] for s in stats) == 0
    finally:
        mon.close(2.0)
        if server:
            server.stop()


def test_the_transport_keeps_one_connection_alive_across_requests(port):
    server = FakeCollector(port)
    transport = HTTPTransport(f"http://127.0.0.1:{port}", token="t")
    try:
        for i in range(5):
            body = gzip.compress(json.dumps({"batch_id": str(i)}).encode())
            headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
            resp = transport.send(Request("POST", wire.STATS_PATH, headers, body))
            assert resp.status == 200 and resp.json() == {"accepted": 1, "duplicate": False}
        assert len(server.bodies) == 5 and len(server.peers) == 1
        assert server.bodies[0][2]["Authorization"] == "Bearer t"
    finally:
        transport.close()
        server.stop()


def test_the_transport_raises_while_the_server_is_down_and_reconnects_when_it_is_back(port):
    server = FakeCollector(port)
    transport = HTTPTransport(f"http://127.0.0.1:{port}/", timeout=2.0)
    try:
        assert transport.send(Request("POST", wire.STATS_PATH, {}, b"{}")).status == 200
        server.stop()
        with pytest.raises(ConnectionError):
            transport.send(Request("POST", wire.STATS_PATH, {}, b"{}"))
        server = FakeCollector(port)
        assert transport.send(Request("POST", wire.STATS_PATH, {}, b"{}")).status == 200
    finally:
        transport.close()
        server.stop()


def test_a_kept_alive_connection_closed_by_a_restart_is_retried_once_on_a_fresh_one(port):
    server = FakeCollector(port)
    transport = HTTPTransport(f"http://127.0.0.1:{port}", timeout=2.0)
    try:
        assert transport.send(Request("POST", wire.STATS_PATH, {}, b"{}")).status == 200
        server.stop()
        server = FakeCollector(port)
        assert transport.send(Request("POST", wire.STATS_PATH, {}, b'{"n": 2}')).status == 200
        assert [body for _, body, _ in server.bodies] == [{"n": 2}]
    finally:
        transport.close()
        server.stop()


def test_the_sdk_imports_and_works_with_nothing_but_the_standard_library():
    # -S: no site-packages at all, so only the standard library (and this repository) can be imported.
    code = """
import sys
for name in ("numpy", "pandas", "torch", "prometheus_client"):
    sys.modules[name] = None  # any import of these now fails
from sdk import Monitor, Transport, HTTPTransport, MockTransport, Request, Response
t = MockTransport()
mon = Monitor("credit", "v7", transport=t, sample_rate=1.0)
with mon.observe(ids=["a"], features={"x": 1.5, "email": "a@b.io"}, slices={"region": "EU"}) as obs:
    obs.predictions([1])
assert mon.flush(5.0)
assert isinstance(t, Transport) and isinstance(HTTPTransport("http://127.0.0.1:1"), Transport)
print(t.bodies("/v1/records")[0]["records"][0]["features"])
"""
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True, timeout=30,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.stdout.strip() == "{'x': 1.5, 'email': '[EMAIL]'}"


def test_importing_the_sdk_loads_no_heavy_library():
    code = "import sys, sdk; print(sorted(m for m in ('numpy', 'pandas', 'torch') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True, timeout=30,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.stdout.strip() == "[]"


class Refused(Exception):
    """The error class a tool hands the client, as replay hands it ReplayError."""


def _answers(request: Request) -> Response:
    """A mock collector: the answer each path of the v1 API gives."""
    if request.path == wire.EVALUATE_PATH:
        return Response(200, json={"windows": 3})
    if request.path == wire.REFERENCES_PATH:
        return Response(200, json={"id": 7, "model": "credit"})
    if request.path == wire.METRICS_PATH:
        return Response(200, b"# HELP x\n")
    if request.method == "GET":
        return Response(200, json=[{"path": request.path.split("?")[0]}])
    return Response(200, json={"accepted": 2, "duplicate": request.json()["batch_id"] == "seen"})


def test_the_collector_client_speaks_the_wire_paths_with_gzip_and_each_token() -> None:
    ingest, admin = MockTransport(_answers), MockTransport(_answers)
    client = CollectorClient(ingest, admin, error=Refused)
    assert client.records({"batch_id": "b1", "model": "credit", "records": []}) == (2, False)
    assert client.records({"batch_id": "seen", "model": "credit", "records": []}) == (2, True)
    assert client.labels({"batch_id": "l1", "model": "credit", "labels": []}) == 2
    assert client.stats({"batch_id": "s1", "model": "credit"}) == 2
    assert client.reference({"model": "credit", "columns": {}}) == {"id": 7, "model": "credit"}
    assert client.evaluate() == 3
    assert client.series("credit", "performance", slice="all") == [{"path": "/v1/models/credit/performance"}]
    assert client.series("a/b c", "drift", limit=5) == [{"path": "/v1/models/a%2Fb%20c/drift"}]
    assert client.slos() == [{"path": wire.SLOS_PATH}]
    assert client.metrics() == "# HELP x\n"
    assert [r.path for r in ingest.requests] == [
        wire.RECORDS_PATH, wire.RECORDS_PATH, wire.LABELS_PATH, wire.STATS_PATH, wire.REFERENCES_PATH
    ]  # fmt: skip
    assert all(r.method == "POST" and r.header("Content-Encoding") == "gzip" for r in ingest.requests)
    assert ingest.requests[0].json() == {"batch_id": "b1", "model": "credit", "records": []}
    assert [(r.method, r.path) for r in admin.requests] == [
        ("POST", wire.EVALUATE_PATH),
        ("GET", "/v1/models/credit/performance?limit=10000&slice=all"),
        ("GET", "/v1/models/a%2Fb%20c/drift?limit=5"),
        ("GET", wire.SLOS_PATH),
        ("GET", wire.METRICS_PATH),
    ]
    with pytest.raises(ValueError, match="unknown model read 'drifts'"):
        client.series("credit", "drifts")


def test_a_refusal_raises_the_callers_error_naming_the_path_status_and_body() -> None:
    body = b'{"detail": "batch id reused for other content"}' + b"x" * 1000
    client = CollectorClient(MockTransport(lambda r: Response(409, body)), error=Refused)
    with pytest.raises(Refused) as err:
        client.records({"batch_id": "b1"})
    assert str(err.value) == f"the collector refused /v1/records with 409: {body[:300].decode()}"
    plain = CollectorClient(MockTransport(lambda r: Response(403, json={"detail": "admin only"})))
    with pytest.raises(RuntimeError, match=r"refused /v1/evaluate with 403: \{\"detail\": \"admin only\"\}"):
        plain.evaluate()
    with pytest.raises(RuntimeError, match="refused /v1/models/credit/drift with 404"):
        CollectorClient(MockTransport(lambda r: Response(404, b"{}"))).series("credit", "drift")


def test_ready_is_false_while_the_collector_is_unreachable_or_its_storage_is_down(port) -> None:
    down = CollectorClient.connect(f"http://127.0.0.1:{port}", "t", timeout=1.0)
    assert down.ready() is False
    down.close()
    assert (
        CollectorClient(MockTransport(lambda r: Response(503, json={"status": "unavailable"}))).ready()
        is False
    )
    up = MockTransport(lambda r: Response(200, json={"status": "ready"}))
    assert CollectorClient(up).ready() is True and up.requests[0].path == wire.READY_PATH
