"""Eval verdicts (POST /v1/evals) against a real collector: they join records by id like labels, count once
per record, eval and source, and the judge-versus-human agreement counts each record both judged, exactly,
before and after a restart (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from sdk import wire
from tests.conftest import start_collector
from tests.test_collector_api import sample

SPEC = """version: 1
models:
  - name: assistant
    features:
      - {name: prompt_chars, type: numeric}
    prediction: {type: multiclass}
"""


def test_eval_verdicts_become_exact_quality_counters_and_judge_human_agreement(db_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "assistant.yaml"
    spec.write_text(SPEC)
    first = start_collector(db_url, tmp_path, config=spec)
    rng = np.random.default_rng(5)
    now = time.time() - 600
    ids = [f"ans-{i}" for i in range(40)]
    try:
        records = [{"id": rid, "ts": now, "features": {"prompt_chars": 80}, "prediction": "stop"} for rid in ids]
        for i, version in ((0, "v1"), (20, "v2")):
            body = {"batch_id": f"r-{i}", "model": "assistant", "version": version, "records": records[i : i + 20]}
            assert first.post(wire.RECORDS_PATH, body)[0] == 200
        judge = {rid: bool(rng.random() < 0.8) for rid in ids}
        human = {rid: (judge[rid] if rng.random() < 0.7 else not judge[rid]) for rid in ids[::3]}
        g = {"name": "groundedness"}
        evals = [{"id": r, **g, "source": "judge", "passed": p, "score": 0.5} for r, p in judge.items()]
        evals += [{"id": r, **g, "source": "human", "passed": p} for r, p in human.items()]
        evals.append({"id": "never-sampled", "name": "groundedness", "source": "judge", "passed": False})
        status, answer = first.post(wire.EVALS_PATH, {"model": "assistant", "version": "v2", "evals": evals[:30]})
        assert status == 200 and answer == {"accepted": 30, "duplicate": 0}, answer
        # the rest, with the first ten resent and one verdict changed: verdicts are final, counted once
        changed = {**evals[0], "passed": not evals[0]["passed"]}
        status, answer = first.post(
            wire.EVALS_PATH, {"model": "assistant", "version": "v2", "evals": [changed, *evals[1:10], *evals[30:]]}
        )
        assert status == 200 and answer == {"accepted": len(evals) - 30, "duplicate": 10}, answer

        def expected() -> dict[str, float]:
            out: dict[str, float] = {}
            for source, verdicts in (("judge", judge), ("human", human)):
                for rid, passed in verdicts.items():
                    version = "v1" if int(rid.split("-")[1]) < 20 else "v2"
                    verdict = "pass" if passed else "fail"
                    key = f'model="assistant",name="groundedness",source="{source}",verdict="{verdict}",'
                    key += f'version="{version}"'
                    out[key] = out.get(key, 0) + 1
            key = 'model="assistant",name="groundedness",source="judge",verdict="fail",version="v2"'
            out[key] = out.get(key, 0) + 1  # never-sampled: no record, so the batch's version
            return out

        agree: dict[str, float] = {}
        for rid, passed in human.items():
            version = "v1" if int(rid.split("-")[1]) < 20 else "v2"
            outcome = "agree" if passed == judge[rid] else "disagree"
            key = f'model="assistant",name="groundedness",outcome="{outcome}",version="{version}"'
            agree[key] = agree.get(key, 0) + 1
        assert any("disagree" in k for k in agree) and any('"agree"' in k for k in agree)

        def check(text: str) -> None:
            for labels, n in expected().items():
                assert sample(text, "driftline_genai_evals_total", labels) == n, labels
            for labels, n in agree.items():
                assert sample(text, "driftline_genai_eval_agreement_total", labels) == n, labels

        check(first.metrics())
        first.stop()
        second = start_collector(db_url, tmp_path, config=spec, tokens=(first.admin, first.ingest, first.read))
        try:
            check(second.metrics())
            good = {"id": "x", "name": "groundedness", "source": "judge", "passed": True}
            bad = {"model": "assistant", "evals": [{**good, "source": "robot"}]}
            status, body = second.post(wire.EVALS_PATH, bad)
            assert status == 422 and "source" in json.dumps(body)
            status, body = second.post(wire.EVALS_PATH, {"model": "nope", "evals": [good]})
            assert status == 422 and "nope" in json.dumps(body)
            status, body = second.post(wire.EVALS_PATH, {"model": "assistant", "evals": []})
            assert status == 422 and "evals" in json.dumps(body)
            assert second.post(wire.EVALS_PATH, bad, token="dl_wrong")[0] == 401
        finally:
            second.stop()
    finally:
        first.stop()
