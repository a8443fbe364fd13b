"""Per-minute aggregates give exactly what the raw rows give (issue 16).

The data is scikit-learn's breast-cancer and wine sets (nobody here wrote them), with hostile values mixed
in; the raw side is the analyzers run on the rows read back from the database, the aggregate side is what
the collector stored after ingesting the same rows in shuffled batches, late records, re-sent records and
a new reference included.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_wine
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from analyzers.aggregates import Moments, WindowCounts, aggregate
from analyzers.binning import FeatureReference, fit_reference
from analyzers.drift import feature_drift
from analyzers.estimation import Calibrator, estimate_accuracy
from analyzers.performance import LabelledRow, window_performance
from analyzers.performance_summary import AUC_BINS, _logit_cell
from analyzers.quality import window_quality
from collector import db, evaluation, repository
from collector.encoding import sample_key
from tests.conftest import Collector, start_collector

HOUR = 3600
NUMERIC = ("mean_radius", "mean_texture", "worst_area")
SPEC = """\
version: 1
models:
  - name: cancer
    features:
      - {name: mean_radius, type: numeric}
      - {name: mean_texture, type: numeric}
      - {name: worst_area, type: numeric}
      - {name: cultivar, type: categorical}
      - {name: email, type: text, pii: true}
    prediction: {type: binary, positive_class: 1}
    slices: [cultivar]
    drift: {window: 1h, metrics: [psi, kl, js, chi2, ks, wasserstein], min_count: 5}
"""


def public_rows() -> list[dict[str, Any]]:
    """Breast-cancer measurements with a wine cultivar beside each (categorical), as feature dicts."""
    cancer = load_breast_cancer(as_frame=True).frame
    wine = load_wine().target.astype(str)
    out = []
    for i, row in enumerate(cancer.itertuples(index=False)):
        values = dict(zip(cancer.columns, row, strict=True))
        out.append({**{n: float(values[n.replace("_", " ")]) for n in NUMERIC}, "cultivar": f"c{wine[i % len(wine)]}",
                    "email": f"p{i}@example.com"})
    return out


def model_scores() -> tuple[np.ndarray, np.ndarray]:
    """A logistic regression fitted on the first 300 rows: its scores for every row, and the true labels."""
    from sklearn.linear_model import LogisticRegression

    data = load_breast_cancer()
    x = data.data[:, [0, 1, 23]]
    fitted = LogisticRegression(max_iter=5000).fit(x[:300], data.target[:300])
    return fitted.predict_proba(x)[:, 1], data.target


def hostile(rows: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Some values missing, mistyped, huge, unseen or undeclared, as bad clients send them."""
    bad: list[Any] = [None, "12.5", "n/a", 1e308, -1e308, True, [1, 2], {"x": 1}, 0, ""]
    out = []
    for r in rows:
        r = dict(r)
        if rng.random() < 0.15:
            r[rng.choice([*NUMERIC, "cultivar"])] = rng.choice(bad)
        if rng.random() < 0.05:
            r.pop(rng.choice(NUMERIC))
        if rng.random() < 0.05:
            r["cultivar"] = "never-seen"
        if rng.random() < 0.03:
            r["undeclared"] = 1
        out.append(r)
    return out


# -- pure: counts add up ------------------------------------------------------------------------------

REFS = fit_reference({n: [r[n] for r in public_rows()[:300]] for n in (*NUMERIC, "cultivar")})
DECLARED = {n: "numeric" for n in NUMERIC} | {"cultivar": "categorical"}
value = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6), st.none(),
                  st.sampled_from(["c0", "c1", "c2", "zz", "", "1.5"]), st.booleans())
record = st.dictionaries(st.sampled_from([*NUMERIC, "cultivar", "extra"]), value, max_size=5)


def summed(parts: list[list[tuple[int, dict[str, Any]]]]) -> dict[tuple[str, str], int]:
    total: dict[tuple[str, str], int] = defaultdict(int)
    for part in parts:
        for (_, feature, item), n in aggregate(part, REFS, DECLARED).counts.items():
            total[(feature, item)] += n
    return dict(total)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 5), record), max_size=60), st.randoms(use_true_random=False))
def test_a_window_summed_from_minutes_in_any_split_equals_the_window_from_its_rows(
    rows: list[tuple[int, dict[str, Any]]], rnd: random.Random
) -> None:
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    cut = sorted(rnd.randrange(len(rows) + 1) for _ in range(3))
    parts = [shuffled[a:b] for a, b in zip([0, *cut], [*cut, len(rows)], strict=True)]
    window = WindowCounts(summed(parts))
    raw = [f for _, f in rows]
    for name, ref in REFS.items():
        assert window.histogram(ref) == ref.binning.histogram([r.get(name) for r in raw])
    assert window.quality(DECLARED, REFS) == window_quality(DECLARED, REFS, raw)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=False, width=32), max_size=40), st.integers(0, 40))
def test_moments_merge_like_the_whole_sample(values: list[float], cut: int) -> None:
    whole, merged = Moments.of(values), Moments.of(values[:cut]).merge(Moments.of(values[cut:]))
    assert (whole.n, whole.low, whole.high) == (merged.n, merged.low, merged.high)
    assert whole.total == pytest.approx(merged.total, rel=1e-9, abs=1e-6)


# -- through a collector, on each database ------------------------------------------------------------


def body(records: list[dict[str, Any]], version: str = "v1") -> dict[str, Any]:
    return {"batch_id": uuid.uuid4().hex, "model": "cancer", "version": version, "records": records}


def traffic(rows: list[dict[str, Any]], start: float, prefix: str, rng: random.Random,
            scores: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Records spread over two hour-long windows from `start`, with the model's scores (some missing,
    some predictions left for the threshold to decide)."""
    out = []
    for i, f in enumerate(rows):
        score = float(scores[i]) if scores is not None else rng.random()
        out.append({"id": f"{prefix}{i}", "ts": start + rng.uniform(0, 2 * HOUR - 1), "features": f,
                    "prediction": None if rng.random() < 0.1 else int(score > 0.3),
                    "score": None if rng.random() < 0.05 else score,
                    "slices": {"cultivar": scalar(f.get("cultivar")) if rng.random() < 0.8
                               else rng.choice(ODD_SLICES)}})
    return out


ODD_SLICES = ["a-" + "x" * 250, "b-" + "x" * 250, 3, None, ""]


def scalar(v: Any) -> Any:
    """A feature value as a slice value may be (lists and objects are refused there)."""
    return v if v is None or isinstance(v, str | int | float) else None


def send(c: Collector, records: list[dict[str, Any]], rng: random.Random) -> None:
    i = 0
    while i < len(records):
        n = rng.randint(1, 60)
        status, answer = c.post("/v1/records", body(records[i : i + n]))
        assert status == 200, answer
        i += n


def from_raw(
    url: str, model: str = "cancer", seconds: int = HOUR
) -> tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
    """Drift, quality and CBPE's estimate of every window of `seconds`, computed by the analyzers from the
    stored rows."""
    spec = {"metrics": ("psi", "kl", "js", "chi2", "ks", "wasserstein"), "min_count": 5}
    engine = db.make_engine(url)
    try:
        with sessionmaker(engine)() as s:
            ref = repository.latest_reference(s, model=model, version="v1")
            assert ref is not None
            refs = {k: FeatureReference.from_dict(v) for k, v in ref.features.items()}
            calibrator = Calibrator.from_dict(ref.calibration) if ref.calibration else None
            windows: dict[dt.datetime, list[dict[str, Any]]] = defaultdict(list)
            scored: dict[dt.datetime, list[tuple[float, Any]]] = defaultdict(list)
            r = db.Record
            for ts, features, score, prediction in s.execute(
                select(r.ts, r.features, r.score, r.prediction).where(r.model == model)
            ):
                epoch = int(ts.timestamp())
                start = dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC)
                windows[start].append(features)
                if score is not None and np.isfinite(score):
                    scored[start].append((score, prediction))
    finally:
        engine.dispose()
    drift, quality, estimate = {}, {}, {}
    for start, rows in windows.items():
        if calibrator is not None:
            e = estimate_accuracy(calibrator, [x for x, _ in scored[start]], 0.5,
                                  predictions=[p for _, p in scored[start]], positive_class=1)
            estimate[start] = (e.n, e.value, e.lower, e.upper)
        for name in (*NUMERIC, "cultivar"):
            for v in feature_drift(refs[name], [r.get(name) for r in rows], spec["metrics"], min_count=5):
                drift[(start, name, v.metric)] = (v.value, v.n_current, v.p_value)
        clean = [{k: x for k, x in r.items() if k != "email"} for r in rows]
        for q in window_quality(DECLARED | {}, refs, clean):
            quality[(start, q.feature, q.check)] = (q.count, q.total)
    return drift, quality, estimate


def stored(url: str, seconds: int = HOUR) -> tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
    engine = db.make_engine(url)
    try:
        with sessionmaker(engine)() as s:
            drift = {(p.window_start, p.feature, p.metric): (p.value, p.n_current, p.p_value)
                     for p in repository.drift_series(s, model="cancer", window_seconds=seconds, limit=100_000)}
            quality = {(q.window_start, q.feature, q.check): (q.count, q.total)
                       for q in repository.quality_series(s, model="cancer", window_seconds=seconds, limit=100_000)}
            estimate = {p.window_start: (p.support, p.value, p.lower, p.upper)
                        for p in repository.performance_series(s, model="cancer", metric="estimated_accuracy",
                                                               window_seconds=seconds)}
    finally:
        engine.dispose()
    return drift, quality, estimate


def same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Equal, NaN included (a statistic with nothing to compare is NaN on both sides, stored as NULL)."""
    norm = [tuple(None if isinstance(x, float) and x != x else x for x in t) for t in (a, b)]
    return norm[0] == norm[1]


def assert_exact(url: str, seconds: int = HOUR) -> None:
    want_drift, want_quality, want_estimate = from_raw(url, seconds=seconds)
    got_drift, got_quality, got_estimate = stored(url, seconds)
    assert set(got_drift) == set(want_drift)
    wrong = {k: (got_drift[k], want_drift[k]) for k in want_drift if not same(got_drift[k], want_drift[k])}
    assert not wrong, wrong
    assert got_quality == want_quality
    # CBPE sums floats minute by minute: equal to the last few bits, and its count exactly
    assert want_estimate and set(got_estimate) == set(want_estimate)
    for start, (n, *bounds) in want_estimate.items():
        assert got_estimate[start][0] == n
        assert got_estimate[start][1:] == pytest.approx(bounds, rel=1e-12)


def test_drift_and_quality_from_aggregates_equal_the_raw_rows_exactly(db_url: str, tmp_path: Path) -> None:
    """Shuffled batches, records re-sent under new batch ids, late records for an evaluated window, hostile
    values, then a new reference: after every tick the stored statistics equal the raw rows' exactly."""
    spec = tmp_path / "cancer.yaml"
    spec.write_text(SPEC)
    rng = random.Random(16)
    data = public_rows()
    scores, labels = model_scores()
    c = start_collector(db_url, tmp_path, config=spec)
    try:
        ref = {n: [r[n] for r in data[:300]] for n in (*NUMERIC, "cultivar")}
        calibration = {"scores": scores[:300].tolist(), "labels": labels[:300].tolist()}
        assert c.post("/v1/references", {"model": "cancer", "columns": ref, **calibration})[0] == 200
        now = int(time.time())
        start = float(now - now % HOUR - 3 * HOUR)
        records = traffic(hostile(data[300:], rng), start, "r", rng, scores[300:])
        rng.shuffle(records)
        first, late = records[:200], records[200:]
        send(c, first, rng)
        send(c, rng.sample(first, 40), rng)  # re-sent: stored and counted once
        assert c.evaluate() >= 2  # the first batch builds the aggregates from the stored records
        assert_exact(db_url)
        send(c, late, rng)  # late records reopen evaluated windows
        send(c, rng.sample(first, 30) + rng.sample(late, 30), rng)  # re-sent once the aggregates exist
        assert c.evaluate() >= 1
        assert_exact(db_url)
        assert c.evaluate() == 0  # nothing new: no window is evaluated again

        shifted = {n: [x * 1.3 for x in ref[n]] if n != "cultivar" else ref[n][::-1] for n in ref}
        recalibrated = {"scores": scores[:300][::-1].tolist(), "labels": labels[:300].tolist()}
        answer = c.post("/v1/references", {"model": "cancer", "version": "v1", "columns": shifted, **recalibrated})
        assert answer[0] == 200, answer
        send(c, traffic(data[:30], start, "after-ref", rng), rng)
        assert c.evaluate() >= 2  # re-binned on the new reference: every window again
        assert_exact(db_url)
    finally:
        c.stop()


def test_every_window_length_equals_the_raw_rows_of_its_windows(db_url: str, tmp_path: Path) -> None:
    """`drift.window: [1h, 1d]`: both lengths are evaluated from the same minutes, each equal to the raw rows of
    its own windows, late records included; /metrics and the API tell the lengths apart by `window`."""
    spec = tmp_path / "cancer.yaml"
    spec.write_text(SPEC.replace("window: 1h,", "window: [1h, 1d],"))
    rng = random.Random(17)
    data = public_rows()
    scores, labels = model_scores()
    c = start_collector(db_url, tmp_path, config=spec)
    try:
        ref = {n: [r[n] for r in data[:300]] for n in (*NUMERIC, "cultivar")}
        calibration = {"scores": scores[:300].tolist(), "labels": labels[:300].tolist()}
        assert c.post("/v1/references", {"model": "cancer", "columns": ref, **calibration})[0] == 200
        now = int(time.time())
        start = float(now - now % HOUR - 3 * HOUR)
        records = traffic(hostile(data[300:], rng), start, "w", rng, scores[300:])
        send(c, records[:150], rng)
        assert c.evaluate() >= 3  # two hours and at least one day
        send(c, records[150:], rng)  # late records reopen an hour and its day
        assert c.evaluate() >= 2
        for seconds in (HOUR, 24 * HOUR):
            assert_exact(db_url, seconds)
        assert c.evaluate() == 0

        metrics = c.metrics()
        for window in ("1h", "1d"):
            assert f'metric="psi",model="cancer",version="v1",window="{window}"' in metrics
        days = c.get("/v1/models/cancer/drift?window=1d&feature=mean_radius")[1]
        assert days and {p["window"] for p in days} == {"1d"} and {p["window_seconds"] for p in days} == {86400}
        every = c.get("/v1/models/cancer/drift?feature=mean_radius")[1]
        assert {p["window"] for p in every} == {"1h", "1d"}
        status, answer = c.get("/v1/models/cancer/performance?window=an-hour")
        assert status == 422 and answer["detail"][0]["loc"] == ["query", "window"], answer
    finally:
        c.stop()


def test_a_day_window_added_to_the_spec_is_evaluated_over_the_stored_history(db_url: str, tmp_path: Path) -> None:
    """A collector restarted with `window: [1h, 1d]` over hours stored under `1h`: the changed config rebuilds
    the aggregates, rolls up every stored hour and evaluates the day's windows, equal to the raw rows."""
    spec = tmp_path / "cancer.yaml"
    spec.write_text(SPEC)
    rng = random.Random(18)
    data = public_rows()
    scores, labels = model_scores()
    now = int(time.time())
    start = float(now - now % HOUR - 3 * HOUR)
    c = start_collector(db_url, tmp_path, config=spec)
    try:
        ref = {n: [r[n] for r in data[:300]] for n in (*NUMERIC, "cultivar")}
        calibration = {"scores": scores[:300].tolist(), "labels": labels[:300].tolist()}
        assert c.post("/v1/references", {"model": "cancer", "columns": ref, **calibration})[0] == 200
        send(c, traffic(data[300:], start, "h", rng, scores[300:]), rng)
        assert c.evaluate() >= 2
        assert stored(db_url, 24 * HOUR) == ({}, {}, {})
    finally:
        c.stop()
    spec.write_text(SPEC.replace("window: 1h,", "window: [1h, 1d],"))
    c = start_collector(db_url, tmp_path, config=spec)
    try:
        send(c, traffic(data[:5], start, "after", rng), rng)  # new data makes the next tick look at the version
        assert c.evaluate() >= 3
        assert_exact(db_url, HOUR)
        assert_exact(db_url, 24 * HOUR)
    finally:
        c.stop()


def test_ks_and_wasserstein_read_a_seeded_uniform_reservoir_and_equal_scipy_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the reservoir smaller than the window, KS is scipy's KS of the reference sample against the
    records with the smallest keyed hashes of their ids; the histogram statistics still see every record."""
    from collector.app import build_context
    from collector.schemas import RecordBatch, ReferenceIn
    from collector.service import store_records, store_reference
    from collector.settings import Settings
    from spec import load_spec

    spec = tmp_path / "cancer.yaml"
    spec.write_text(SPEC)
    monkeypatch.setattr(evaluation, "RESERVOIR_SIZE", 50)
    ctx = build_context(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}"), load_spec(spec))
    data = public_rows()
    store_reference(ctx, ReferenceIn(model="cancer", columns={n: [r[n] for r in data[:300]] for n in NUMERIC}))
    rng = random.Random(3)
    now = int(time.time())
    start = float(now - now % HOUR - 2 * HOUR)
    records = [{**r, "ts": start + (i % 3000)} for i, r in enumerate(traffic(data[300:], start, "k", rng))]
    store_records(ctx, RecordBatch.model_validate(body(records)))
    ctx.evaluator.tick()
    ctx.evaluator.tick()
    kept = sorted(records, key=lambda r: sample_key(r["id"]))[:50]
    with ctx.sessions() as s:
        ref = repository.latest_reference(s, model="cancer", version="v1")
        assert ref is not None
        points = {(p.feature, p.metric): p for p in repository.drift_series(s, model="cancer")}
    for name in NUMERIC:
        sample = np.sort([r["features"][name] for r in kept])
        reference = FeatureReference.from_dict(ref.features[name])
        ks = points[(name, "ks")]
        assert ks.n_current == 50
        assert ks.value == stats.ks_2samp(reference.sample, sample).statistic
        assert points[(name, "wasserstein")].n_current == 50
        assert points[(name, "psi")].n_current == len(records)  # histograms count every record


# -- two collectors, one PostgreSQL -------------------------------------------------------------------


def scratch_database(pg_url: str) -> str:
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = f"driftline_agg_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def drop_database(pg_url: str, url: str) -> None:
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def aggregates_of(url: str) -> tuple[dict[Any, int], dict[Any, tuple[Any, ...]]]:
    engine = db.make_engine(url)
    try:
        with sessionmaker(engine)() as s:
            c, m = db.MinuteCount, db.MinuteMoments
            counts = {(r.reference_id, r.minute, r.feature, r.item): r.n for r in s.scalars(select(c))}
            # sums of floats depend on the order they were added in; counts and extremes do not
            moments = {(r.reference_id, r.minute, r.feature): (r.n, r.low, r.high) for r in s.scalars(select(m))}
            p = db.MinutePerformance
            counts |= {("slices", r.minute, r.slice, r.item): r.n for r in s.scalars(select(p))}
    finally:
        engine.dispose()
    return counts, moments


@pytest.mark.postgres
def test_two_collectors_ingesting_one_stream_concurrently_store_the_aggregates_of_one(
    pg_url: str, tmp_path: Path
) -> None:
    spec = tmp_path / "cancer.yaml"
    spec.write_text(SPEC)
    rng = random.Random(2)
    data = public_rows()
    ref = {n: [r[n] for r in data[:300]] for n in (*NUMERIC, "cultivar")}
    now = int(time.time())
    start = float(now - now % HOUR - 3 * HOUR)
    warmup = traffic(data[:20], start, "w", rng)
    stream = traffic(hostile(data * 4, rng), start, "s", rng)
    for i, r in enumerate(stream):
        r["id"] = f"s{i}"
    shared, single = scratch_database(pg_url), scratch_database(pg_url)
    started: list[Collector] = []
    try:
        a = start_collector(shared, tmp_path, config=spec)
        started.append(a)
        b = start_collector(shared, tmp_path, config=spec, tokens=(a.admin, a.ingest, a.read))
        started.append(b)
        one = start_collector(single, tmp_path, config=spec)
        started.append(one)
        for c in (a, one):  # the same reference id (1) in both databases, then aggregates built
            assert c.post("/v1/references", {"model": "cancer", "columns": ref})[0] == 200
            assert c.post("/v1/records", body(warmup))[0] == 200
            c.evaluate()

        def feed(c: Collector, part: list[dict[str, Any]], seed: int) -> None:
            send(c, part, random.Random(seed))

        threads = [threading.Thread(target=feed, args=(c, stream[i::2], i)) for i, c in enumerate((a, b))]
        for t in threads:
            t.start()
        send(one, stream, random.Random(9))
        for t in threads:
            t.join()
        shared_counts, shared_moments = aggregates_of(shared)
        single_counts, single_moments = aggregates_of(single)
        assert shared_counts == single_counts
        assert sum(n for (k, _, sl, _), n in single_counts.items() if k == "slices" and sl == "all") \
            == len(stream) + len(warmup)
        assert shared_moments == single_moments
        assert sum(n for (_, _, f, item), n in single_counts.items() if f == "*" and item == "t:schema_violation") \
            == len(stream) + len(warmup)
    finally:
        for c in started:
            c.stop()
        drop_database(pg_url, shared)
        drop_database(pg_url, single)


def performance_from_raw(url: str, seconds: int = HOUR) -> dict[tuple[Any, str, str], tuple[Any, ...]]:
    """Every window's (of `seconds`) realized performance computed by the analyzers from the stored joined
    rows."""
    engine = db.make_engine(url)
    try:
        with sessionmaker(engine)() as s:
            windows: dict[dt.datetime, list[LabelledRow]] = defaultdict(list)
            r, lab = db.Record, db.Label
            stmt = select(r.ts, r.prediction, lab.label, r.slices, r.score).outerjoin(
                lab, (lab.model == r.model) & (lab.record_id == r.record_id)
            ).where(r.model == "cancer")
            for ts, p, y, sl, sc in s.execute(stmt):
                epoch = int(ts.timestamp())
                windows[dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC)].append(
                    LabelledRow(p, y, sl or {}, sc))
    finally:
        engine.dispose()
    out = {}
    for start, rows in windows.items():
        # ROC AUC is computed on score cells (pairs in one cell tie): the raw side ranks the same cells
        gridded = [replace(r, score=None if r.score is None else
                           (float(_logit_cell(np.array([r.score]))[0]) + 0.5) / AUC_BINS) for r in rows]  # fmt: skip
        on_grid = {(v.slice, v.metric): v.value
                   for v in window_performance(gridded, prediction_type="binary", slice_columns=["cultivar"],
                                               resamples=0) if v.metric == "roc_auc"}  # fmt: skip
        for v in window_performance(rows, prediction_type="binary", slice_columns=["cultivar"], resamples=0):
            value = on_grid[(v.slice, v.metric)] if v.metric == "roc_auc" else v.value
            out[(start, v.slice, v.metric)] = (value, v.support, v.total, v.status)
    return out


def performance_stored(url: str, seconds: int = HOUR) -> dict[tuple[Any, str, str], tuple[Any, ...]]:
    engine = db.make_engine(url)
    try:
        with sessionmaker(engine)() as s:
            return {
                (p.window_start, p.slice, p.metric): (p.value, p.support, p.total, p.status)
                for p in repository.performance_series(s, model="cancer", window_seconds=seconds, limit=100_000)
                if p.metric != "estimated_accuracy"
            }
    finally:
        engine.dispose()


def assert_performance_exact(url: str, windows: tuple[int, ...] = (HOUR,)) -> None:
    for seconds in windows:
        _assert_performance_exact(url, seconds)


def _assert_performance_exact(url: str, seconds: int) -> None:
    want, got = performance_from_raw(url, seconds), performance_stored(url, seconds)
    assert set(got) == set(want) and want
    for key, (value, *rest) in want.items():
        assert got[key][1:] == tuple(rest), (key, got[key], want[key])
        if value is None:
            assert got[key][0] is None, key
        else:  # to the last bits of the float sums
            assert got[key][0] == pytest.approx(value, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("window", ["1h", "[1h, 1d]"])
def test_performance_from_summaries_equals_the_raw_rows_with_late_early_and_corrected_labels(
    db_url: str, tmp_path: Path, window: str
) -> None:
    """Labels before their records, after them, in shuffled batches, some corrected later, plus records
    with no label: after every tick each window's stored performance equals the raw joined rows'. With
    `[1h, 1d]` the day's windows come from hour roll-ups, summed again as labels change their minutes."""
    spec = tmp_path / "cancer.yaml"
    spec.write_text(SPEC.replace("window: 1h,", f"window: {window},"))
    lengths = (HOUR,) if window == "1h" else (HOUR, 24 * HOUR)
    rng = random.Random(21)
    data = public_rows()
    scores, truth = model_scores()
    c = start_collector(db_url, tmp_path, config=spec)

    def label(ids: list[int], flip: bool = False) -> None:
        rng.shuffle(ids)
        for i in range(0, len(ids), 70):
            labels = [{"id": f"r{j}", "label": int(truth[300 + j]) ^ flip} for j in ids[i : i + 70]]
            answer = c.post("/v1/labels", {"batch_id": uuid.uuid4().hex, "model": "cancer", "labels": labels})
            assert answer[0] == 200, answer

    try:
        now = int(time.time())
        start = float(now - now % HOUR - 3 * HOUR)
        records = traffic(data[300:], start, "r", rng, scores[300:])
        n = len(records)
        label(list(range(0, n, 5)))  # labels first: their records are not there yet
        send(c, records[: n // 2], rng)
        assert c.evaluate() >= 1
        assert_performance_exact(db_url, lengths)
        label([i for i in range(n // 2) if i % 5 and i % 3])  # late labels for stored records
        send(c, records[n // 2 :], rng)
        assert c.evaluate() >= 1
        assert_performance_exact(db_url, lengths)
        label([i for i in range(0, n, 7)], flip=True)  # corrections: the new label replaces the old
        assert c.evaluate() >= 1
        assert_performance_exact(db_url, lengths)
        assert c.evaluate() == 0
    finally:
        c.stop()
