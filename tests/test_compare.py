"""Version comparison: Newcombe's interval, the mSPRT's validity under peeking, and GET/POST compare on a real
collector app (SQLite and PostgreSQL) fed scikit-learn models' predictions through the ingest API."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy.stats import norm

from analyzers.compare import canary_verdict, newcombe_difference, sequential_difference
from collector import Settings, create_app
from tests.conftest import create_tokens

# ----------------------------------------------------------------------------------------- statistics


def test_newcombe_interval_matches_the_papers_worked_example() -> None:
    # Newcombe (1998), Table II example (a): 56/70 - 48/80, method 10 gives 0.0524 to 0.3339
    d = newcombe_difference(48, 80, 56, 70)
    assert d.difference == pytest.approx(0.2)
    assert d.lower == pytest.approx(0.0524, abs=5e-4)
    assert d.upper == pytest.approx(0.3339, abs=5e-4)


def test_msprt_p_value_is_the_inverse_of_the_normal_mixture_likelihood_ratio() -> None:
    q = sequential_difference("error_rate", 50, 1000, 80, 1000, alpha=0.05, tau=0.05)
    pb, pc = 50.5 / 1001, 80.5 / 1001
    v = pb * (1 - pb) / 1000 + pc * (1 - pc) / 1000
    ratio = norm.pdf(0.03, 0, math.sqrt(v + 0.05**2)) / norm.pdf(0.03, 0, math.sqrt(v))
    assert q.p_value == pytest.approx(1 / ratio, rel=1e-9)
    # the confidence sequence is exactly the set of differences the test does not reject
    assert q.lower is not None and q.upper is not None
    for edge in (q.lower, q.upper):
        at = norm.pdf(0.03, edge, math.sqrt(v + 0.05**2)) / norm.pdf(0.03, edge, math.sqrt(v))
        assert at == pytest.approx(1 / 0.05, rel=1e-6)


def _peeking(p_baseline: float, p_candidate: float, runs: int, seed: int) -> tuple[float, float]:
    """Share of simulated canaries ever judged fail, and ever judged pass, checked after every batch."""
    rng = np.random.default_rng(seed)
    fails = passes = 0
    for _ in range(runs):
        b = c = n = 0
        seen: set[str] = set()
        for _ in range(40):  # 40 checks of 100 more calls per version each
            b += int(rng.binomial(100, p_baseline))
            c += int(rng.binomial(100, p_candidate))
            n += 100
            seen.add(canary_verdict({"error_rate": (b, n, c, n)}, alpha=0.05, margin=0.02).verdict)
            if "fail" in seen:
                break
        fails += "fail" in seen
        passes += "pass" in seen
    return fails / runs, passes / runs


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.2], ids=["1% errors", "5% errors", "20% errors"])
def test_equal_canaries_checked_after_every_batch_fail_at_most_alpha(rate: float) -> None:
    false_fail, _ = _peeking(rate, rate, runs=200, seed=int(rate * 1000))
    assert false_fail <= 0.05


def test_a_worse_canary_is_failed_and_an_equal_one_passes_eventually() -> None:
    power, _ = _peeking(0.05, 0.10, runs=200, seed=11)
    assert power >= 0.9, f"power {power}"
    _, passed = _peeking(0.05, 0.05, runs=50, seed=12)
    assert passed >= 0.5, f"equal canaries passed {passed}"


def test_too_little_data_is_inconclusive_and_says_so() -> None:
    v = canary_verdict({"error_rate": (0, 5, 3, 5)})
    assert v.verdict == "inconclusive" and "insufficient data" in v.reason and v.metrics == ()
    assert canary_verdict({}).verdict == "inconclusive"


# ------------------------------------------------------------------------------ a real collector app

MODEL = "cancer"


def _models() -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """A good classifier and a worse one of breast-cancer data, and the whole data set to score."""
    sk = pytest.importorskip("sklearn", reason="pip install scikit-learn (the dev extra)")  # noqa: F841
    from sklearn.datasets import load_breast_cancer  # optional extra: the dev dependency set
    from sklearn.linear_model import LogisticRegression  # optional extra: the dev dependency set
    from sklearn.pipeline import make_pipeline  # optional extra: the dev dependency set
    from sklearn.preprocessing import StandardScaler  # optional extra: the dev dependency set
    from sklearn.tree import DecisionTreeClassifier  # optional extra: the dev dependency set

    data = load_breast_cancer()
    x, y = data.data, data.target
    rng = np.random.default_rng(0)
    train = rng.permutation(len(y))[: len(y) // 2]
    good = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x[train], y[train])
    worse = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x[train][:, 20:22], y[train])
    return good, worse, x, y


@pytest.fixture
def app_client(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    admin, ingest, read = create_tokens(db_url)
    app = create_app(Settings(database_url=db_url), run_loop=False)
    headers = {k: {"Authorization": f"Bearer {t}"} for k, t in (("admin", admin), ("ingest", ingest), ("read", read))}
    with TestClient(app) as client:
        r = client.post("/v1/models", json={"name": MODEL}, headers=headers["admin"])
        assert r.status_code in (200, 201, 202), r.text
        yield client, headers


def _send(client: TestClient, h: dict[str, dict[str, str]], version: str, ids: list[str], x: np.ndarray,
          predicted: np.ndarray, scores: np.ndarray, ts: dt.datetime, errors: int, latency: float) -> None:
    names = [f"f{j}" for j in range(x.shape[1])]
    for start in range(0, len(ids), 200):
        records = [
            {"id": ids[i], "ts": (ts + dt.timedelta(milliseconds=i)).isoformat(),
             "features": dict(zip(names, map(float, x[i]), strict=True)),
             "prediction": int(predicted[i]), "score": float(scores[i])}
            for i in range(start, min(start + 200, len(ids)))
        ]
        r = client.post("/v1/records", json={"batch_id": f"{version}-{start}", "model": MODEL, "version": version,
                                             "records": records}, headers=h["ingest"])
        assert r.status_code in (200, 202), r.text
    calls = 2000
    r = client.post("/v1/stats", headers=h["ingest"], json={
        "batch_id": f"stats-{version}", "model": MODEL, "version": version,
        "start": (ts - dt.timedelta(minutes=1)).isoformat(), "end": ts.isoformat(),
        "ok": calls - errors, "error": errors, "latency_bounds": [0.05, 0.1, 1.0],
        "latency_counts": [calls // 2, calls // 2, 0, 0], "latency_sum": latency * calls,
    })
    assert r.status_code in (200, 202), r.text


def _label(client: TestClient, h: dict[str, dict[str, str]], ids: list[str], y: np.ndarray) -> None:
    for start in range(0, len(ids), 500):
        labels = [{"id": ids[i], "label": int(y[i])} for i in range(start, min(start + 500, len(ids)))]
        r = client.post("/v1/labels", json={"batch_id": f"l-{ids[0]}-{start}", "model": MODEL, "labels": labels},
                        headers=h["ingest"])
        assert r.status_code in (200, 202), r.text


@pytest.fixture
def loaded(app_client: tuple[TestClient, dict[str, dict[str, str]]]) -> tuple[TestClient, dict[str, dict[str, str]]]:
    """Version v1 (good), v2-worse and v3-equal (the same model again), every record labelled, and shadow
    s1 scoring v1's own record ids a second later."""
    client, h = app_client
    good, worse, x, y = _models()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    n = len(y)
    p_good, s_good = good.predict(x), good.predict_proba(x)[:, 1]
    p_worse, s_worse = worse.predict(x[:, 20:22]), worse.predict_proba(x[:, 20:22])[:, 1]
    for version, prefix, (p, s) in (("v1", "a", (p_good, s_good)), ("v2-worse", "b", (p_worse, s_worse)),
                                    ("v3-equal", "c", (p_good, s_good))):
        ids = [f"{prefix}{i}" for i in range(n)]
        _send(client, h, version, ids, x, p, s, now, errors=20, latency=0.05 if version == "v1" else 0.08)
        _label(client, h, ids, y)
    _send(client, h, "s1", [f"a{i}" for i in range(n)], x, p_worse, s_worse, now + dt.timedelta(seconds=1),
          errors=20, latency=0.05)
    r = client.post("/v1/evaluate", headers=h["admin"])
    assert r.status_code == 200, r.text
    return client, h


def _compare(client: TestClient, h: dict[str, dict[str, str]], **params: Any) -> Any:
    r = client.get(f"/v1/models/{MODEL}/compare", params=params, headers=h["read"])
    assert r.status_code == 200, r.text
    return r.json()


Loaded = tuple[TestClient, dict[str, dict[str, str]]]


def test_a_worse_candidate_fails_and_an_equal_one_does_not(loaded: Loaded) -> None:
    client, h = loaded
    worse = _compare(client, h, baseline="v1", candidate="v2-worse")
    assert worse["verdict"] == "fail", worse["reason"]
    # by default the range starts when the candidate was first seen serving: its first stats delta's start
    first = client.get(f"/v1/models/{MODEL}/deploys", headers=h["read"]).json()
    assert worse["since_from"] == "deploy"
    assert dt.datetime.fromisoformat(worse["since"]) == next(
        dt.datetime.fromisoformat(d["first_seen"]) for d in first if d["version"] == "v2-worse"
    )
    acc = worse["accuracy"]
    assert acc["kind"] == "realized" and acc["n_baseline"] == acc["n_candidate"] == 569
    assert acc["difference"] < 0 and acc["upper"] < 0
    assert any(q["metric"] == "inaccuracy" and q["lower"] > 0 for q in worse["sequential"])
    assert worse["latency"]["difference_seconds"] == pytest.approx(0.03)
    assert worse["error_rate"]["difference"] == pytest.approx(0.0)
    drift = {(d["feature"], d["metric"]): d for d in worse["drift"]}
    assert drift[("(score)", "ks")]["status"] == "alert"  # the worse model scores otherwise
    assert drift[("(prediction)", "psi")]["status"] == "ok"  # yet predicts each class about as often
    assert drift[("f0", "psi")]["value"] == pytest.approx(0.0, abs=1e-9)  # on the very same inputs

    equal = _compare(client, h, baseline="v1", candidate="v3-equal")
    assert equal["verdict"] != "fail", equal["reason"]
    assert equal["accuracy"]["difference"] == pytest.approx(0.0)
    assert equal["accuracy"]["lower"] < 0 < equal["accuracy"]["upper"]


def test_a_shadow_agrees_with_its_primary_where_their_predictions_do(
    loaded: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, h = loaded
    good, worse, x, _ = _models()
    expected = float(np.mean(good.predict(x) == worse.predict(x[:, 20:22])))
    got = _compare(client, h, baseline="v1", candidate="s1", shadow="true")["agreement"]
    assert got["pairs"] == 569 and got["rate"] == pytest.approx(expected)
    assert got["lower"] < expected < got["upper"]
    assert _compare(client, h, baseline="v1", candidate="v3-equal", shadow="true")["agreement"]["pairs"] == 0


def test_flagger_webhook_answers_200_or_412(loaded: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, h = loaded

    def hook(candidate: str, **meta: str) -> int:
        body = {"name": "cancer", "namespace": "ml", "phase": "Progressing",
                "metadata": {"baseline": "v1", "candidate": candidate, **meta}}
        return client.post(f"/v1/models/{MODEL}/compare/flagger", json=body, headers=h["read"]).status_code

    assert hook("v2-worse") == 412
    assert hook("v3-equal") == 200
    assert hook("v3-equal", require="pass") == 412  # not yet a pass: the promotion gate waits
    assert hook("v3-equal", require="maybe") == 422
    assert hook("v3-equal", alpha="often") == 422
    r = client.post(f"/v1/models/{MODEL}/compare/flagger", headers=h["read"],
                    json={"name": "c", "namespace": "ml", "phase": "Progressing", "metadata": {"baseline": "v1"}})
    assert r.status_code == 422 and "metadata.candidate" in r.text


def test_hostile_parameters_are_refused_naming_the_field(
    app_client: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, h = app_client
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    x = np.ones((40, 2))
    for v in ("v1", "v2"):
        _send(client, h, v, [f"{v}-{i}" for i in range(40)], x, np.zeros(40), np.zeros(40), now, 0, 0.01)
    url = f"/v1/models/{MODEL}/compare"
    r = client.get(url, params={"baseline": "v1", "candidate": "v9"}, headers=h["read"])
    assert r.status_code == 404 and "v9" in r.text and "v1" in r.text
    r = client.get(url, params={"baseline": "v1", "candidate": "v1"}, headers=h["read"])
    assert r.status_code == 422 and "candidate" in r.text
    r = client.get(url, params={"baseline": "v1", "candidate": "v2", "window": "soon"}, headers=h["read"])
    assert r.status_code == 422 and "window" in r.text
    r = client.get("/v1/models/nosuch/compare", params={"baseline": "v1", "candidate": "v2"}, headers=h["read"])
    assert r.status_code == 404
    r = client.get(url, params={"baseline": "v1", "candidate": "v2"})
    assert r.status_code == 401
    old = now - dt.timedelta(days=3)
    r = client.get(url, params={"baseline": "v1", "candidate": "v2", "until": old.isoformat()}, headers=h["read"])
    assert r.status_code == 422 and "until" in r.text and "deploy" in r.text  # before the canary began
    empty = _compare(client, h, baseline="v1", candidate="v2", since=(old - dt.timedelta(hours=1)).isoformat(),
                     until=old.isoformat())
    assert empty["verdict"] == "inconclusive" and "insufficient data" in empty["reason"]
    assert empty["since_from"] == "since"


# ------------------------------------------------------------------------- docs/canary.md's resources

DOCS = Path(__file__).resolve().parent.parent / "docs" / "canary.md"


def _documented() -> dict[str, dict[str, Any]]:
    yaml = pytest.importorskip("yaml", reason="pip install pyyaml")
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S)
    docs = [d for b in blocks for d in yaml.safe_load_all(b)]
    return {d["kind"]: d for d in docs}


def _argo_condition(expr: str, result: dict[str, Any]) -> bool:
    """The documented conditions' form of Argo's expr language: `result.<field> == "<text>"`."""
    m = re.fullmatch(r'result\.(\w+) == "(\w+)"', expr)
    assert m, f"{expr!r} is not of the form the docs promise"
    return bool(result[m.group(1)] == m.group(2))


def _fill(text: str, values: dict[str, str]) -> str:
    """Argo's `{{args.name}}` substitution."""
    return re.sub(r"\{\{args\.([\w-]+)\}\}", lambda m: values[m.group(1)], text)


def test_the_documented_analysis_template_reads_a_real_answer(loaded: Loaded) -> None:
    client, h = loaded
    metric = _documented()["AnalysisTemplate"]["spec"]["metrics"][0]
    web = metric["provider"]["web"]
    args = {"model": MODEL, "baseline": "v1", "driftline-token": h["read"]["Authorization"].split()[1]}
    for candidate, verdict in (("v2-worse", "fail"), ("v3-equal", "inconclusive")):
        values = {**args, "candidate": candidate}
        url = _fill(web["url"], values)
        headers = {x["key"]: _fill(x["value"], values) for x in web["headers"]}
        r = client.get(url.split(":8650", 1)[1], headers=headers)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["verdict"] == verdict, answer["reason"]
        assert _argo_condition(metric["successCondition"], answer) is False
        assert _argo_condition(metric["failureCondition"], answer) is (verdict == "fail")


def test_the_documented_canary_posts_what_the_webhook_takes(loaded: Loaded) -> None:
    client, h = loaded
    hooks = _documented()["Canary"]["spec"]["analysis"]["webhooks"]
    direct = next(w for w in hooks if w["type"] == "rollout")
    assert direct["url"].endswith("/v1/models/fraud-scorer/compare/flagger")
    body = {"name": "fraud-scorer", "namespace": "ml", "phase": "Progressing",
            "metadata": {**direct["metadata"], "baseline": "v1", "candidate": "v2-worse"}}
    r = client.post(f"/v1/models/{MODEL}/compare/flagger", json=body, headers=h["read"])
    assert r.status_code == 412 and r.json()["verdict"] == "fail"
    gate = next(w for w in hooks if w["type"] == "confirm-promotion")
    found = re.search(r"-d '(.*?)'", gate["metadata"]["cmd"], flags=re.S)
    assert found, "the load tester's curl sends no body"
    sent = json.loads(found.group(1))
    sent["metadata"] = {**sent["metadata"], "baseline": "v1", "candidate": "v3-equal"}
    r = client.post(f"/v1/models/{MODEL}/compare/flagger", json=sent, headers=h["read"])
    assert r.status_code == 412 and r.json()["canary"]["require"] == "pass"


def test_without_labels_the_accuracy_difference_is_cbpes_estimate(app_client: Loaded) -> None:
    client, h = app_client
    good, _, x, y = _models()
    rng = np.random.default_rng(1)
    ref = rng.permutation(len(y))[:250]
    r = client.post("/v1/references", headers=h["ingest"], json={
        "model": MODEL, "columns": {f"f{j}": x[ref, j].tolist() for j in range(x.shape[1])},
        "scores": good.predict_proba(x[ref])[:, 1].tolist(), "labels": y[ref].tolist(),
    })
    assert r.status_code in (200, 201, 202) and r.json()["cbpe"], r.text
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    p, s = good.predict(x), good.predict_proba(x)[:, 1]
    for version, prefix in (("v1", "a"), ("v3-equal", "c")):
        _send(client, h, version, [f"{prefix}{i}" for i in range(len(y))], x, p, s, now, errors=20, latency=0.05)
    assert client.post("/v1/evaluate", headers=h["admin"]).status_code == 200
    answer = _compare(client, h, baseline="v1", candidate="v3-equal")
    acc = answer["accuracy"]
    assert acc["kind"] == "estimated" and acc["n_baseline"] == acc["n_candidate"] == len(y)
    assert 0.8 < acc["baseline"] <= 1.0 and acc["difference"] == pytest.approx(0.0, abs=1e-12)
    assert acc["lower"] < 0 < acc["upper"]
    assert [q["metric"] for q in answer["sequential"]] == ["error_rate"]  # an estimate is no evidence to judge
