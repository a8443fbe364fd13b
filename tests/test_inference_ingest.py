"""Model servers with no code change (issue 17 item 5): Open Inference Protocol v2 bodies at
POST /v1/inference/{model} and KServe's / Seldon Core's inference-logger CloudEvents at POST /v1/cloudevents,
against a real collector process; the same rows through the SDK and through either endpoint store equal
values; malformed events are refused with a 4xx naming the problem."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest

from collector.metrics import MetricsState, make_registry
from collector.pairing import Pairing
from sdk import Monitor
from spec.errors import SpecError
from spec.loading import load_spec_text
from tests.conftest import Collector, http, start_collector

SALT = "inference-test-salt"
MODELS = ("via_sdk", "via_v2", "via_ce")
_MODEL = """
  - name: {name}
    features:
      - {{name: income, type: numeric}}
      - {{name: age, type: numeric}}
      - {{name: debt_ratio, type: numeric}}
      - {{name: region, type: categorical}}
      - {{name: email, type: text, pii: true}}
    prediction: {{type: binary, positive_class: 1}}
    slices: [region]
    tensors:
      inputs: {{numeric: [income, age, debt_ratio], region: region, email: email}}
      prediction: predict
      score: predict_proba
"""
#: iris: no tensors section, so a single [N, 4] input's columns are the declared features in order.
SPEC = (
    "version: 1\nmodels:\n"
    + "".join(_MODEL.format(name=n) for n in MODELS)
    + """
  - name: iris
    features:
      - {name: sepal_length, type: numeric}
      - {name: sepal_width, type: numeric}
      - {name: petal_length, type: numeric}
      - {name: petal_width, type: numeric}
    prediction: {type: multiclass}
"""
)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    d = tmp_path_factory.mktemp("inference")
    (d / "spec.yaml").write_text(SPEC)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DRIFTLINE_SALT", SALT)  # one secret for collector and SDK: pii hashes agree across models
        mp.setenv(
            "DRIFTLINE_RATE_LIMIT_PER_TOKEN", "0"
        )  # a Monitor per example: more than 50 requests a second
        c = start_collector(f"sqlite:///{d / 'driftline.db'}", d, config=d / "spec.yaml")
        yield c
        c.stop()


def stored(c: Collector, model: str) -> dict[str, dict[str, Any]]:
    """What the collector stored for each record of `model` (the API's record reads leave features out)."""
    with sqlite3.connect(c.database_url.removeprefix("sqlite:///")) as db:
        rows = db.execute(
            "SELECT record_id, version, ts, features, prediction, score, slices FROM records WHERE model = ?",
            (model,),
        ).fetchall()
    return {
        r[0]: {
            "version": r[1],
            "ts": r[2],
            "features": json.loads(r[3]),
            "prediction": json.loads(r[4]) if isinstance(r[4], str) else r[4],
            "score": r[5],
            "slices": json.loads(r[6]) if r[6] else None,
        }
        for r in rows
    }


def aggregates(c: Collector, model: str) -> list[tuple[str, str, int]]:
    """The model's per-minute counts summed over minutes and versions: (feature, item, n)."""
    with sqlite3.connect(c.database_url.removeprefix("sqlite:///")) as db:
        return db.execute(
            "SELECT feature, item, SUM(n) FROM minute_counts WHERE model = ? GROUP BY feature, item ORDER BY 1, 2",
            (model,),
        ).fetchall()


def v2_request(rid: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A v2 request as a client sends it to Triton / KServe / MLServer: a 2-D FP64 tensor and two BYTES ones."""
    n = len(rows)
    return {
        "id": rid,
        "inputs": [
            {
                "name": "numeric",
                "shape": [n, 3],
                "datatype": "FP64",
                "data": [[r["income"], r["age"], r["debt_ratio"]] for r in rows],  # nested, row-major
            },
            {"name": "region", "shape": [n], "datatype": "BYTES", "data": [r["region"] for r in rows]},
            {"name": "email", "shape": [n, 1], "datatype": "BYTES", "data": [r["email"] for r in rows]},
        ],
    }


def v2_response(rid: str, preds: list[int], scores: list[float], version: str = "v1") -> dict[str, Any]:
    n = len(preds)
    return {
        "id": rid,
        "model_name": "credit",
        "model_version": version,
        "outputs": [
            {"name": "predict", "shape": [n], "datatype": "INT64", "data": preds},
            {
                "name": "predict_proba",
                "shape": [n, 2],
                "datatype": "FP64",
                "data": [x for s in scores for x in (1 - s, s)],  # flat, row-major
            },
        ],
    }


def kserve_headers(event_id: str, half: str, model: str, token: str) -> dict[str, str]:
    """Binary-mode headers as KServe's logger (pkg/logger/worker.go) sends them, plus our bearer token."""
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Ce-Specversion": "1.0",
        "Ce-Id": event_id,
        "Ce-Type": f"org.kubeflow.serving.inference.{half}",
        "Ce-Source": "http://localhost:9081/",
        "Ce-Time": "2026-12-06T12:00:00Z",
        "Ce-Inferenceservicename": model,
        "Ce-Namespace": "default",
        "Ce-Component": "predictor",
        "Ce-Endpoint": "default",
        "Ce-Recordedtime": "2026-12-06T12:00:00.01Z",
        "Ce-Metadata": "{}",
    }


def post_event(c: Collector, headers: dict[str, str], body: Any, query: str = "") -> tuple[int, Any]:
    raw = json.dumps(body).encode()
    return http("POST", c.url + "/v1/cloudevents" + query, raw=raw, headers=headers)


def seldon_structured(event_id: str, half: str, model: str, data: Any) -> bytes:
    """A structured-mode event with Seldon Core's request-logger attributes (type, modelid, requestid)."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "type": f"io.seldon.serving.inference.{half}",
            "source": "http://iris-default.seldon:8000/",
            "time": "2026-12-06T12:00:00Z",
            "modelid": model,
            "requestid": event_id,
            "inferenceservicename": model,
            "namespace": "seldon",
            "endpoint": "default",
            "datacontenttype": "application/json",
            "data": data,
        }
    ).encode()


ROW = st.fixed_dictionaries(
    {
        "income": st.floats(-1e9, 1e9, allow_nan=False),
        "age": st.integers(0, 120).map(float),
        "debt_ratio": st.floats(0, 10, allow_nan=False),
        "region": st.sampled_from(["EU", "US", "APAC", "jane@example.com"]),
        "email": st.emails(),
    }
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=20), data=st.data())
def test_the_same_rows_through_the_sdk_v2_and_cloudevents_store_equal_values(
    collector: Collector, rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    rid = uuid.uuid4().hex
    n = len(rows)
    preds = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    scores = data.draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=n, max_size=n))
    ids = [rid] if n == 1 else [f"{rid}-{i}" for i in range(n)]
    mon = Monitor(
        "via_sdk",
        "v1",
        collector=collector.url,
        token=collector.ingest,
        sample_rate=1.0,
        redact=["email"],
        flush_interval=5,
    )
    with mon.observe(ids=ids, features=rows, slices={"region": [r["region"] for r in rows]}) as obs:
        obs.predictions(preds, scores=scores)
    assert mon.flush(30)
    mon.close()
    status, body = collector.post(
        "/v1/inference/via_v2", {**v2_request(rid, rows), **v2_response(rid, preds, scores)}
    )
    assert (status, body) == (200, {"accepted": n, "duplicate": False}), body
    # the response's half first: the request may reach the collector after it
    h = kserve_headers(rid, "response", "via_ce", collector.ingest)
    assert post_event(collector, h, v2_response(rid, preds, scores)) == (
        200,
        {"accepted": 0, "duplicate": False, "pending": True},
    )
    h = kserve_headers(rid, "request", "via_ce", collector.ingest)
    assert post_event(collector, h, v2_request(rid, rows)) == (
        200,
        {"accepted": n, "duplicate": False, "pending": False},
    )
    keys = ("features", "prediction", "score", "slices")
    got = [stored(collector, m) for m in MODELS]
    for i in ids:
        sdk, v2, ce = ({k: s[i][k] for k in keys} for s in got)
        assert sdk == v2 == ce, (sdk, v2, ce)
        assert sdk["features"]["email"].startswith("sha256:")  # redacted alike: the pii feature hashed
    sums = [aggregates(collector, m) for m in MODELS]
    assert sums[0] and sums[0] == sums[1] == sums[2]  # binned and counted alike


def test_records_are_counted_and_aggregated_like_sdk_records(collector: Collector) -> None:
    """The records counter of /metrics counts v2 rows, per model and version, as it counts the SDK's."""
    rows = [{"income": 1.0, "age": 30.0, "debt_ratio": 0.1, "region": "EU", "email": "a@b.c"}] * 3
    before = _metric(collector, "driftline_records_total", model="via_v2", version="v9")
    body = {
        "request": {**v2_request("count-1", rows), "parameters": {"timestamp": "2026-12-06T12:30:00Z"}},
        "response": v2_response("count-1", [1, 0, 1], [0.9, 0.2, 0.7], "v9"),
    }
    assert collector.post("/v1/inference/via_v2", body)[0] == 200
    assert (
        collector.post("/v1/inference/via_v2", body)[1]["duplicate"] is True
    )  # a resent request: stored once
    assert _metric(collector, "driftline_records_total", model="via_v2", version="v9") == before + 3


def _metric(c: Collector, name: str, **labels: str) -> float:
    total = 0.0
    for line in c.metrics().splitlines():
        m = re.fullmatch(rf"{re.escape(name)}\{{(.*)\}} (\S+)", line)
        if m and labels.items() <= dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))).items():
            total += float(m.group(2))
    return total


def test_a_single_2d_input_is_the_declared_features_in_order_and_seldon_structured_events_pair(
    collector: Collector,
) -> None:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    rows = X[:5].tolist()
    request = {"inputs": [{"name": "predict", "shape": [5, 4], "datatype": "FP32", "data": X[:5].ravel().tolist()}]}
    response = {
        "model_name": "iris",
        "outputs": [{"name": "predict", "shape": [5, 1], "datatype": "INT64", "data": y[:5].tolist()}],
    }
    headers = {"Authorization": f"Bearer {collector.ingest}", "Content-Type": "application/cloudevents+json"}
    eid = uuid.uuid4().hex
    for half, body in (("request", request), ("response", response)):
        status, answer = http(
            "POST",
            collector.url + "/v1/cloudevents",
            raw=seldon_structured(eid, half, "iris", body),
            headers=headers,
        )
        assert status == 200, answer
    assert answer["accepted"] == 5
    got = stored(collector, "iris")
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    for i in range(5):
        r = got[f"{eid}-{i}"]
        assert r["features"] == dict(zip(names, rows[i], strict=True)) and r["prediction"] == y[i]
        assert r["version"] == "unknown" and r["ts"].startswith("2026-12-06 12:00:00")


GOOD = {"inputs": [{"name": "predict", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}


@pytest.mark.parametrize(
    ("case", "headers", "body", "status", "needle"),
    [
        ("missing ce-id", {"Ce-Id": ""}, GOOD, 422, "missing ce-id"),
        ("unknown model", {"Ce-Inferenceservicename": "nosuch"}, GOOD, 422, "'nosuch' is not registered"),
        ("no model at all", {"Ce-Inferenceservicename": None}, GOOD, 422, "?model=NAME"),
        ("not an inference event", {"Ce-Type": "com.example.other"}, GOOD, 422, "not an inference request"),
        ("no ce-source", {"Ce-Source": None}, GOOD, 422, "'source'"),
        (
            "shape against data length",
            {},
            {"inputs": [{"name": "predict", "shape": [2, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]},
            422,
            "shape [2, 4] holds 8 values but data has 4",
        ),
        (
            "a datatype that is not numeric or BYTES",
            {},
            {"inputs": [{"name": "predict", "shape": [1, 4], "datatype": "COMPLEX64", "data": [1, 2, 3, 4]}]},
            422,
            "'COMPLEX64' is not a numeric, BOOL or BYTES type",
        ),
        (
            "text in a numeric tensor",
            {},
            {"inputs": [{"name": "predict", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, "x", 4]}]},
            422,
            "a str value in FP32 data",
        ),
        (
            "an unknown tensor name",
            {},
            {"inputs": [{"name": "mystery", "shape": [1], "datatype": "FP64", "data": [1]}]},
            422,
            "unknown tensor name 'mystery'",
        ),
        (
            "a body that is no v2 inference",
            {},
            {"instances": [[1, 2, 3, 4]]},
            422,
            "a list 'inputs' of tensors",
        ),
        ("no token", {"Authorization": None}, GOOD, 401, "missing bearer token"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else "",
)
def test_a_malformed_event_is_refused_naming_the_problem(
    collector: Collector, case: str, headers: dict[str, str | None], body: Any, status: int, needle: str
) -> None:
    h: dict[str, Any] = {**kserve_headers(uuid.uuid4().hex, "request", "iris", collector.ingest), **headers}
    got = post_event(collector, {k: v for k, v in h.items() if v is not None}, body)
    assert got[0] == status and needle in json.dumps(got[1]), (case, got)


def test_a_malformed_v2_body_is_refused_naming_the_tensor(collector: Collector) -> None:
    rows = [{"income": 1.0, "age": 30.0, "debt_ratio": 0.1, "region": "EU", "email": "a@b.c"}]
    body = {**v2_request("bad", rows), **v2_response("bad", [1, 0], [0.5, 0.5])}
    status, answer = collector.post("/v1/inference/via_v2", body)
    assert status == 422 and "the request has 1 rows but the response 2" in json.dumps(answer)
    bad = v2_request("bad", rows)
    bad["inputs"][0]["shape"] = [1, 2]
    bad["inputs"][0]["data"] = [1.0, 2.0]
    status, answer = collector.post("/v1/inference/via_v2", bad)
    assert status == 422 and "has 2 columns, the spec maps 3 features" in json.dumps(answer), answer
    assert collector.post("/v1/inference/nosuch", GOOD)[0] == 404
    assert collector.post("/v1/inference/iris", GOOD, token=collector.read)[0] == 403


def test_an_unpaired_half_waits_a_bounded_time_and_is_counted() -> None:
    now = [0.0]
    state = MetricsState()
    pairing = Pairing(state.add_unpaired, seconds=10, max_pending=2, clock=lambda: now[0])
    assert pairing.offer("m", "a", "request", 1, 10) is None
    assert pairing.offer("m", "b", "response", 2, 10) is None
    assert pairing.offer("m", "a", "response", 3, 10).value == 1  # type: ignore[union-attr]
    now[0] = 11.0  # b has waited past its time
    assert pairing.waiting() == 0
    for event in "cde":  # one more than max_pending: the oldest is pushed out
        pairing.offer("m", event, "request", 0, 10)
    text = generate_latest(make_registry(state)).decode()
    assert 'driftline_inference_unpaired_total{half="response",model="m"} 1.0' in text
    assert 'driftline_inference_unpaired_total{half="request",model="m"} 1.0' in text


@pytest.mark.parametrize(
    ("tensors", "needle"),
    [
        (
            "{inputs: {x: [income, agee]}}",
            "7: models.0.tensors.inputs.x.1: model 'm': tensor 'x': 'agee' is not a declared feature "
            "(did you mean 'age'?)",
        ),
        ("{inputs: {x: [income], y: income}}", "feature 'income' is mapped from both 'x' and 'y'"),
        ("{prediction: 'bad name!'}", "tensors.prediction"),
    ],
)
def test_the_spec_checks_the_tensors_section_with_line_numbers(tensors: str, needle: str) -> None:
    text = f"""version: 1
models:
  - name: m
    features:
      - {{name: income, type: numeric}}
      - {{name: age, type: numeric}}
    tensors: {tensors}
    prediction: {{type: regression}}
"""
    with pytest.raises(SpecError) as err:
        load_spec_text(text)
    assert needle in str(err.value), str(err.value)
