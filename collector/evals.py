"""Eval verdicts on a generative model's answers (POST /v1/evals): a judge model's or a human reviewer's pass
or fail on one eval (groundedness, hallucination, ...) of one record. They arrive like delayed labels, any
time after the call, joined to the record by its id (the record's version, else the batch's, else
``unknown``), and become quality SLIs: `contract.GENAI_EVALS` counts them by name, source and verdict, and
where a judge and a human judged the same record on the same eval, `contract.GENAI_EVAL_AGREEMENT` counts
whether they agreed (the judge's reliability). The first verdict per (record, eval, source) is final:
a resent or later one changes nothing, so every count is exact, also with several collectors."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector import db, dialects, event_time
from collector.context import AppContext
from collector.schemas import EvalBatch, EvalsAccepted
from collector.service import known_model

UNKNOWN_VERSION = "unknown"
#: (model, version, eval name, source, "pass" | "fail") -> verdicts
VerdictCounts = Counter[tuple[str, str, str, str, str]]
#: (model, version, eval name, "agree" | "disagree") -> records judged by both a judge and a human
AgreementCounts = Counter[tuple[str, str, str, str]]


def _record_versions(s: Session, model: str, ids: list[str]) -> dict[str, str]:
    """The version each stored record of these ids was served by."""
    t = db.table(db.Record)
    out: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        stmt = select(t.c.record_id, t.c.version).where(t.c.model == model, t.c.record_id.in_(ids[i : i + 500]))
        out.update({rid: version for rid, version in s.execute(stmt)})
    return out


def store_evals(ctx: AppContext, batch: EvalBatch) -> EvalsAccepted:
    """Store each verdict once (module docstring) and add the new ones to /metrics."""
    known_model(ctx, batch.model, ["body", "model"])
    now = db.utcnow()
    t = db.table(db.EvalVerdict)
    verdicts: VerdictCounts = Counter()
    agreement: AgreementCounts = Counter()
    stored = 0
    with ctx.sessions.begin() as s:
        versions = _record_versions(s, batch.model, sorted({e.id for e in batch.evals}))
        insert: Any = dialects.of(s).insert(t)  # the dialect's Insert, which knows ON CONFLICT
        for e in batch.evals:
            version = versions.get(e.id) or batch.version or UNKNOWN_VERSION
            row: dict[str, Any] = {
                "model": batch.model,
                "record_id": e.id,
                "name": e.name,
                "source": e.source,
                "version": version,
                "passed": e.passed,
                "score": e.score,
                "ts": event_time.as_utc(e.ts) if e.ts is not None else now,
                "received_at": now,
            }
            stmt = insert.values(**row).on_conflict_do_nothing(
                index_elements=["model", "record_id", "name", "source"]
            ).returning(t.c.record_id)
            if s.execute(stmt).first() is None:
                continue
            stored += 1
            verdicts[(batch.model, version, e.name, e.source, "pass" if e.passed else "fail")] += 1
            other = s.execute(
                select(t.c.passed, t.c.version).where(
                    t.c.model == batch.model,
                    t.c.record_id == e.id,
                    t.c.name == e.name,
                    t.c.source == ("human" if e.source == "judge" else "judge"),
                )
            ).first()
            if other is not None:
                judge_version = version if e.source == "judge" else other.version
                outcome = "agree" if bool(other.passed) == e.passed else "disagree"
                agreement[(batch.model, judge_version, e.name, outcome)] += 1
    ctx.state.add_evals(verdicts, agreement)
    return EvalsAccepted(accepted=stored, duplicate=len(batch.evals) - stored)


def eval_totals(s: Session) -> tuple[VerdictCounts, AgreementCounts]:
    """Every stored verdict counted as /metrics counts them, to rebuild its totals on start."""
    t = db.table(db.EvalVerdict)
    verdicts: VerdictCounts = Counter()
    stmt = select(t.c.model, t.c.version, t.c.name, t.c.source, t.c.passed, func.count()).group_by(
        t.c.model, t.c.version, t.c.name, t.c.source, t.c.passed
    )
    for model, version, name, source, passed, n in s.execute(stmt):
        verdicts[(model, version, name, source, "pass" if passed else "fail")] += n
    judge, human = t.alias("judge"), t.alias("human")
    pairs = (
        select(judge.c.model, judge.c.version, judge.c.name, judge.c.passed, human.c.passed, func.count())
        .join(
            human,
            (human.c.model == judge.c.model)
            & (human.c.record_id == judge.c.record_id)
            & (human.c.name == judge.c.name),
        )
        .where(judge.c.source == "judge", human.c.source == "human")
        .group_by(judge.c.model, judge.c.version, judge.c.name, judge.c.passed, human.c.passed)
    )
    agreement: AgreementCounts = Counter()
    for model, version, name, a, b, n in s.execute(pairs):
        agreement[(model, version, name, "agree" if bool(a) == bool(b) else "disagree")] += n
    return verdicts, agreement
