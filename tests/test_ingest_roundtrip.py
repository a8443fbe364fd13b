"""Every ingest path stores a record alike: the SDK, a direct POST, a CSV replay and a Parquet replay.

A property over generated records (hypothesis): each record goes through all four paths into one real
collector process, and the four stored rows must hold equal features, slices and scores, and land in the
same bins of one reference binning. Booleans, numbers used as categories and missing values are spelled
by the rule in analyzers.categories whatever the path; CSV cannot tell 1 from "1", so the rule must.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from analyzers.binning import fit_reference
from driftline.replay import HTTPSink, replay
from sdk import Monitor
from spec import load_spec
from tests.conftest import Collector, start_collector

SPEC = """
version: 1
models:
  - name: rt
    features:
      - {name: num, type: numeric}
      - {name: cat, type: categorical}
    prediction: {type: binary, positive_class: 1}
    slices: [cat]
"""

#: Values a categorical column really carries: JSON booleans and numbers, their text forms from CSV,
#: words that CSV readers like to turn into nulls ("NA" is North America), quotes, commas, padding.
CATEGORIES = st.one_of(
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([1.0, -0.0, 2.5, 1e3, float("nan")]),
    st.sampled_from(["true", "FALSE", "1", "1.0", "-0", "01234", "NA", "null", "N/A", "nan", " EU ", "", "  ",
                     "a,b", 'say "hi"', "é", "EU"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=6),
    st.none(),
)
NUMBERS = st.one_of(
    st.floats(allow_infinity=False, width=64),  # NaN too: a missing number on every path
    st.integers(-(2**53), 2**53),  # numeric features are float64: beyond 2**53 integers are not kept exactly
    st.none(),
)
SCORES = st.one_of(st.floats(0, 1), st.none())
PATHS = ("sdk", "http", "csv", "parquet")
_ids = itertools.count()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> Iterator[tuple[Collector, Any]]:
    work = tmp_path_factory.mktemp("roundtrip")
    spec_path = work / "rt.yaml"
    spec_path.write_text(SPEC)
    c = start_collector(pg_url, work, config=spec_path)
    yield c, load_spec(spec_path)
    c.stop()


def _send(c: Collector, spec: Any, work: Path, rid: str, ts: float, row: dict[str, Any]) -> None:
    model = spec.model("rt")
    features = {"num": row["num"], "cat": row["cat"]}
    # the SDK, in serving code
    mon = Monitor("rt", "v1", collector=c.url, token=c.ingest, sample_rate=1.0, flush_interval=0.05)
    with mon.observe(ids=[f"sdk-{rid}"], features=[features], slices={"cat": [row["cat"]]}, timestamp=ts) as obs:
        obs.predictions([1], scores=None if row["score"] is None else [row["score"]])
    assert mon.close(timeout=30)
    # a direct POST, as any HTTP client would send it
    rec = {"id": f"http-{rid}", "ts": ts, "features": features, "prediction": 1, "score": row["score"],
           "slices": {"cat": row["cat"]}}
    # json.dumps writes NaN as the bare word NaN, as Python clients do
    status, out = c.post("/v1/records", {"batch_id": f"b-{rid}", "model": "rt", "version": "v1", "records": [rec]})
    assert status == 200, out
    # replays of the same row as CSV text and as typed Parquet
    sink = HTTPSink(c.url, c.ingest, c.admin)
    csv_path = work / f"{rid}.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "ts", "num", "cat", "prediction", "score"])
        w.writerow([f"csv-{rid}", repr(ts), _csv(row["num"]), _csv(row["cat"]), 1, _csv(row["score"])])
    replay(csv_path, model, sink, version="v1", progress=False)
    pq_path = work / f"{rid}.parquet"
    table = pa.table({"id": [f"parquet-{rid}"], "ts": [ts], "num": [row["num"]], "cat": [row["cat"]],
                      "prediction": [1], "score": [row["score"]]})
    pq.write_table(table, pq_path)
    replay(pq_path, model, sink, version="v1", progress=False)


def _csv(v: Any) -> str:
    """A value as a CSV writer writes it (None and NaN as an empty field, numbers by repr)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(v) if isinstance(v, float) else str(v)


def _stored(c: Collector, rid: str) -> dict[str, tuple[Any, Any, Any, dt.datetime]]:
    engine = create_engine(c.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT record_id, features, slices, score, ts FROM records WHERE model = 'rt' "
                     "AND record_id IN (:a, :b, :c, :d)"),
                {k: f"{p}-{rid}" for k, p in zip("abcd", PATHS, strict=True)},
            ).all()
    finally:
        engine.dispose()
    return {r[0].split("-", 1)[0]: (r[1], r[2], r[3], r[4]) for r in rows}


REFERENCE = fit_reference(
    {"num": [-1e6, -1.0, 0.0, 0.5, 1.0, 2.0, 1e3, 1e6] * 10,
     "cat": ["true", "false", "1", "0", "EU", "NA", "01234", "2.5", "a,b"] * 10},
    kinds={"num": "numeric", "cat": "categorical"},
)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(num=NUMBERS, cat=CATEGORIES, score=SCORES)
def test_every_ingest_path_stores_the_same_values_in_the_same_bins(
    setup: tuple[Collector, Any], tmp_path: Path, num: Any, cat: Any, score: Any
) -> None:
    c, spec = setup
    rid = f"{next(_ids)}"
    ts = time.time() // 60 * 60 - 3600 + 0.125
    _send(c, spec, tmp_path, rid, ts, {"num": num, "cat": cat, "score": score})
    stored = _stored(c, rid)
    assert set(stored) == set(PATHS), stored
    first = stored["sdk"]
    for path in PATHS[1:]:
        features, slices, sc, when = stored[path]
        assert features == first[0], (path, cat, stored)
        assert slices == first[1], (path, cat, stored)
        assert sc == first[2] and when == first[3], (path, stored)
        for name, ref in REFERENCE.items():
            assert ref.binning.histogram([features.get(name)]) == ref.binning.histogram([first[0].get(name)])
