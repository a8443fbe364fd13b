"""4xx answers that say what is wrong: a hint for the pattern that failed, NUL named where it is, a body that
is not UTF-8 called so, the token checked before any body is parsed, 413 (not a reset connection) for a
50 MB body, and every error status documented in the OpenAPI description with the body it comes with."""

from __future__ import annotations

import gzip
import json
import re
import time
import uuid
from collections.abc import Iterator
from http.client import HTTPConnection
from typing import Any

import jsonschema
import pytest

from tests.conftest import Collector, http, start_collector

NOW = time.time()


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    tmp = tmp_path_factory.mktemp("errors")
    c = start_collector(f"sqlite:///{tmp / 'driftline.db'}", tmp)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def openapi(collector: Collector) -> dict[str, Any]:
    status, spec = http("GET", collector.url + "/openapi.json")
    assert status == 200
    return dict(spec)


def operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The OpenAPI operation serving a concrete path (path parameters matched)."""
    for template, item in spec["paths"].items():
        if (
            re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path.split("?")[0])
            and method.lower() in item
        ):
            return dict(item[method.lower()])
    raise AssertionError(f"{method} {path} is not in the OpenAPI description")


def documented(spec: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """The status is documented for the operation, and the body matches the schema documented for it."""
    responses = operation(spec, method, path)["responses"]
    assert str(status) in responses, (method, path, status, sorted(responses))
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": spec["components"]})


def record(**over: Any) -> dict[str, Any]:
    return {"id": "r1", "ts": NOW - 60, "features": {"income": 1.0}, "prediction": 1, **over}


def records(*recs: dict[str, Any], **over: Any) -> dict[str, Any]:
    return {"batch_id": uuid.uuid4().hex, "model": "credit", "version": "v1", "records": list(recs), **over}


CASES = {
    "a model name starting with a digit": (
        records(record(), model="9lives"),
        ["body", "model"],
        "a model name starts with a letter, then only letters, digits",
    ),
    "a version with a space": (
        records(record(), version="v 7"),
        ["body", "version"],
        "a version starts with a letter or digit",
    ),
    "a NUL in a record id": (records(record(id="a\x00b")), ["body", "records", 0, "id"], "NUL character"),
    "a NUL in a slice value": (
        records(record(slices={"region": "E\x00U"})),
        ["body", "records", 0, "slices", "region"],
        "NUL character",
    ),
}


@pytest.mark.parametrize("payload, loc, hint", list(CASES.values()), ids=list(CASES))
def test_each_bad_value_gets_the_hint_for_what_it_broke(
    collector: Collector, openapi: dict[str, Any], payload: dict[str, Any], loc: list[Any], hint: str
) -> None:
    status, body = collector.post("/v1/records", payload)
    assert status == 422, body
    entry = next(e for e in body["detail"] if e["loc"] == loc)
    assert hint in entry["msg"], entry
    if "NUL" not in hint:
        assert "NUL" not in entry["msg"], entry  # was: every pattern mismatch blamed a NUL character
    assert "not null" not in entry["msg"], entry  # was: a NUL in a slice value said "not null"
    documented(openapi, "POST", "/v1/records", status, body)


def test_a_query_pattern_names_the_values_it_takes(collector: Collector, openapi: dict[str, Any]) -> None:
    status, body = collector.get("/v1/models/credit/attributions?kind=gain")
    assert status == 422, body
    assert "^(prediction|loss)$" in body["detail"][0]["msg"] and "NUL" not in body["detail"][0]["msg"]
    documented(openapi, "GET", "/v1/models/credit/attributions", status, body)


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_a_body_that_is_not_utf8_is_called_so(
    collector: Collector, openapi: dict[str, Any], gzipped: bool
) -> None:
    raw = json.dumps(records(record(id="caf\u00e9"))).encode().replace(b"caf\\u00e9", b"caf\xe9")
    assert b"\xe9" in raw  # Latin-1, as a misconfigured client sends it
    headers = {"Content-Encoding": "gzip"} if gzipped else {}
    status, body = http(
        "POST",
        collector.url + "/v1/records",
        raw=gzip.compress(raw) if gzipped else raw,
        token=collector.ingest,
        headers=headers,
    )
    assert status == 422, body
    msg = body["detail"][0]["msg"]
    assert msg.startswith("the body is not UTF-8 JSON: byte ") and "encode the JSON as UTF-8" in msg, msg
    documented(openapi, "POST", "/v1/records", status, body)


BODY_ROUTES = ["/v1/records", "/v1/labels", "/v1/stats", "/v1/references", "/v1/models"]


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_the_token_is_checked_before_the_body_is_parsed(
    collector: Collector, openapi: dict[str, Any], path: str
) -> None:
    malformed = b'{"model": "credit", '
    status, body = http("POST", collector.url + path, raw=malformed)
    assert status == 401, (path, body)  # was 400 on /v1/models: the JSON was parsed first
    documented(openapi, "POST", path, status, body)
    status, body = http("POST", collector.url + path, raw=malformed, token=collector.read)
    assert status == 403, (path, body)
    documented(openapi, "POST", path, status, body)
    status, body = http("POST", collector.url + path, raw=malformed, token=collector.admin)
    assert status == 422 and body["detail"][0]["type"] == "json_invalid", (path, body)
    documented(openapi, "POST", path, status, body)


FIFTY_MB = 50 * 1024 * 1024


def send_big(c: Collector, path: str, token: str | None, chunked: bool) -> tuple[int, Any]:
    """POST 50 MB the way plain clients (urllib, curl without Expect) do: all of it before reading the
    answer, on a connection to be closed after it."""
    blob = b"x" * FIFTY_MB
    conn = HTTPConnection("127.0.0.1", c.port, timeout=120)
    try:
        headers = {"Content-Type": "application/json", "Connection": "close"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if chunked:
            conn.request(
                "POST",
                path,
                body=iter([blob[i : i + (1 << 20)] for i in range(0, FIFTY_MB, 1 << 20)]),
                headers=headers,
                encode_chunked=True,
            )
        else:
            conn.request("POST", path, body=blob, headers=headers)  # Content-Length, one sendall
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_50_mb_body_is_answered_413_or_401_not_with_a_reset_connection(
    collector: Collector, openapi: dict[str, Any], chunked: bool
) -> None:
    status, body = send_big(collector, "/v1/records", collector.ingest, chunked)
    assert status == 413 and "bytes: send smaller batches" in body["detail"], body
    documented(openapi, "POST", "/v1/records", status, body)
    status, body = send_big(collector, "/v1/references", None, chunked)
    assert status == 401, body
    # a route that reads no body at all still answers
    status, body = send_big(collector, "/v1/evaluate", None, chunked)
    assert status == 401, body
    assert collector.post("/v1/records", records(record(id=f"after-{chunked}")))[0] == 200


def test_every_operation_documents_its_error_statuses_with_the_error_body(openapi: dict[str, Any]) -> None:
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in openapi["paths"].items():
        for method, op in item.items():
            responses = op["responses"]
            expected = set()
            if op.get("security"):
                expected |= {"401", "403", "422", "429", "503"}
            if "{" in path:
                expected |= {"404"}
            if "requestBody" in op:
                expected |= {"400", "409", "413", "415", "422"}
            missing = expected - set(responses)
            assert not missing, (method, path, missing)
            for status in expected:
                assert responses[status]["content"]["application/json"]["schema"] == error, (
                    method,
                    path,
                    status,
                )
            if "429" in expected:
                assert "Retry-After" in responses["429"]["headers"]
    secured = [op for item in openapi["paths"].values() for op in item.values() if op.get("security")]
    assert len(secured) >= 15  # every /v1 operation
    for status in ("401", "403", "404", "409", "413", "415", "422", "429", "503"):
        assert any(status in op["responses"] for op in secured), status
