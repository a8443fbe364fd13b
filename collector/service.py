"""What ingesting means, independent of HTTP: the routes and `driftline replay` both call these."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from analyzers.binning import fit_reference
from analyzers.estimation import fit_calibration
from analyzers.performance import same_class
from analyzers.quality import schema_checker
from collector import attributions, audit, canonical, db, multivariate, redaction, repository
from collector.aggregation import ingested
from collector.auth import Principal
from collector.context import AppContext
from collector.schemas import Accepted, LabelBatch, RecordBatch, ReferenceIn, ReferenceOut, StatsBatch
from contract import DriftlineError
from spec import Model


class InputError(DriftlineError, ValueError):
    """Input the collector refuses; the app answers it with `status` and a body naming the field."""

    def __init__(self, status: int, loc: list[str | int], msg: str) -> None:
        super().__init__(msg)
        self.status, self.loc, self.msg = status, loc, msg

    def detail(self) -> list[dict[str, Any]]:
        """The refusal as FastAPI's 422 body lists it: where, what, and the error type."""
        return [{"loc": self.loc, "msg": self.msg, "type": "value_error"}]


def authorize(
    ctx: AppContext, principal: Principal, model: str, loc: list[str | int], *, missing: int = 422
) -> None:
    """Refuse a model outside the token's project (403) or not registered in it (`missing`: 422 for a
    body, 404 for a path), naming only the models the token may see."""
    if model in ctx.known_models and not principal.owns(ctx.project_of(model)):
        raise InputError(
            403,
            loc,
            f"model {model!r} is not in project {principal.project_label!r} of this token: "
            "use a token of the model's project",
        )
    if model not in ctx.known_models:
        known = ", ".join(ctx.models_of(principal)) or "none yet"
        raise InputError(
            missing,
            loc,
            f"model {model!r} is not registered (known in project {principal.project_label!r}: {known}): "
            "declare it under `models:` in the spec or POST /v1/models",
        )


def batch_digest(batch: BaseModel) -> str:
    """SHA-256 of the validated batch as pydantic serializes it (times as ISO-8601, NaN as null, keys in
    the order sent): a retry of the same batch has the same digest, other content under the id does not."""
    return hashlib.sha256(batch.model_dump_json().encode()).hexdigest()


def _new_batch(claim: repository.Claim, batch_id: str, model: str) -> bool:
    """True for a batch id this model has not used; False for a retry of a stored batch (store nothing);
    409 for an id this model already used for other content, which is never stored over."""
    if claim == "conflict":
        raise InputError(
            409,
            ["body", "batch_id"],
            f"batch id {batch_id!r} of model {model!r} was stored before with different content: a retry "
            "must resend the same batch unchanged; send new data under a new batch id",
        )
    return claim == "new"


def known_model(ctx: AppContext, model: str, loc: list[str | int]) -> None:
    """Refuse data for a model the collector was not told about."""
    if model not in ctx.known_models:
        known = ", ".join(sorted(ctx.known_models)) or "none yet"
        raise InputError(
            422,
            loc,
            f"model {model!r} is not registered (known: {known}): declare it under `models:` in the spec "
            "or POST /v1/models",
        )


def store_records(ctx: AppContext, batch: RecordBatch) -> Accepted:
    """Store a validated batch once: a batch id seen before changes nothing."""
    known_model(ctx, batch.model, ["body", "model"])
    redaction.records(ctx, batch)
    digest = batch_digest(batch)
    canonical.canonical_records(ctx.spec.model(batch.model) if ctx.spec else None, batch.records)
    n = len(batch.records)
    now = db.utcnow()
    invalid = invalid_records(ctx, batch)
    with ctx.sessions.begin() as s:
        claimed = repository.claim_batch(
            s,
            batch_id=batch.batch_id,
            kind="records",
            model=batch.model,
            size=n,
            version=batch.version,
            invalid=invalid,
            digest=digest,
        )
        if not _new_batch(claimed, batch.batch_id, batch.model):
            return Accepted(accepted=0, duplicate=True)
        stored = repository.insert_records(
            s,
            model=batch.model,
            version=batch.version,
            batch_id=batch.batch_id,
            received_at=now,
            records=batch.records,
        )
        # the new records' counts join their minutes' aggregates in the same transaction: stored once, counted once
        new = [batch.records[i] for i in stored]
        ctx.evaluator.aggregator.add_records(
            s,
            model=batch.model,
            version=batch.version,
            rows=ingested(new),
        )
    ctx.state.received(batch.model, "records", now.timestamp())
    ctx.state.add_records(batch.model, batch.version, n, invalid)
    return Accepted(accepted=len(stored))


def invalid_records(ctx: AppContext, batch: RecordBatch) -> int:
    """Records of the batch that break the declared schema (0 for a model the spec does not declare)."""
    model = ctx.spec.model(batch.model) if ctx.spec else None
    if model is None:
        return 0
    valid = _checkers.get(model.name)
    if valid is None:
        types = {f.name: f.type for f in model.features if not f.pii}
        valid = _checkers[model.name] = schema_checker(types, model.pii_features)
    return sum(not valid(r.features) for r in batch.records)


#: One compiled schema check per declared model (the spec is fixed for the process's life).
_checkers: dict[str, Callable[[Any], bool]] = {}


def store_labels(ctx: AppContext, batch: LabelBatch) -> Accepted:
    """Store ground truth by record id, once per batch id; the last label for an id in a batch wins."""
    known_model(ctx, batch.model, ["body", "model"])
    redaction.labels(ctx, batch)
    digest = batch_digest(batch)
    now = db.utcnow()
    latest = {lab.id: lab for lab in batch.labels}
    rows = [
        {"model": batch.model, "record_id": i, "label": lab.label, "ts": lab.ts, "received_at": now}
        for i, lab in latest.items()
    ]
    with ctx.sessions.begin() as s:
        claim = repository.claim_batch(
            s, batch_id=batch.batch_id, kind="labels", model=batch.model, size=len(rows), digest=digest
        )
        if not _new_batch(claim, batch.batch_id, batch.model):
            return Accepted(accepted=0, duplicate=True)
        n = repository.upsert_labels(s, rows=rows)
        found = repository.predictions_by_id(s, model=batch.model, ids=list(latest))
        by_version: dict[str, list[int]] = {}
        bucket = ctx.evaluator.aggregator.bucket_seconds(batch.model)
        for version, _, ts in found.values():
            by_version.setdefault(version, []).append(repository.bucket_start(ts, bucket))
        for version, minutes in by_version.items():  # their windows' performance is evaluated again
            repository.mark_pending(s, model=batch.model, version=version, minutes=minutes, kind="labels")
    # the labels are in hand: join them to their records' predictions here rather than in SQL
    joined = [(batch.model, found[i][0], found[i][1], lab.label) for i, lab in latest.items() if i in found]
    ctx.state.add_labels(batch.model, n)
    ctx.state.add_labelled(labelled_outcomes(joined))
    ctx.state.received(batch.model, "labels", now.timestamp())
    return Accepted(accepted=n)


def labelled_outcomes(rows: list[tuple[str, str, Any, Any]]) -> dict[tuple[str, str, str], int]:
    """Count (model, version, correct | incorrect) of joined (model, version, prediction, label) rows."""
    out: dict[tuple[str, str, str], int] = {}
    for model, version, prediction, label in rows:
        key = (model, version, "correct" if same_class(prediction, label) else "incorrect")
        out[key] = out.get(key, 0) + 1
    return out


def _reference_calibration(body: ReferenceIn, model: Model | None, n: int) -> dict[str, Any] | None:
    """Check a reference's per-row scores, labels and attributions against its `n` rows; fit CBPE's
    calibration where scores came with labels."""
    calibration = None
    if body.scores is not None:  # labels alone are fine: they give loss attributions, not CBPE
        if body.labels is None or len(body.scores) != len(body.labels):
            raise InputError(
                422, ["body", "scores"], "send scores and labels together, one per reference row"
            )
        positive = model.positive_class if model is not None else 1
        try:
            calibration = fit_calibration(body.scores, body.labels, positive_class=positive).to_dict()
        except ValueError as exc:
            raise InputError(422, ["body", "scores"], f"cannot calibrate CBPE: {exc}") from None
    if body.attributions is not None and len(body.attributions) != n:
        raise InputError(
            422,
            ["body", "attributions"],
            f"{len(body.attributions)} attributions for {n} rows: send one per row",
        )
    if body.labels is not None and len(body.labels) != n:
        raise InputError(422, ["body", "labels"], f"{len(body.labels)} labels for {n} rows: send one per row")
    return calibration


def store_reference(ctx: AppContext, body: ReferenceIn, *, token_id: str | None = None) -> ReferenceOut:
    """Fit a reference's binning once (numeric quantile edges, category tables); store and audit it."""
    known_model(ctx, body.model, ["body", "model"])
    redaction.reference(ctx, body)
    model = ctx.spec.model(body.model) if ctx.spec else None
    columns = body.columns
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise InputError(
            422,
            ["body", "columns"],
            f"columns have different lengths {sorted(lengths)}: send one value per row in every column",
        )
    kinds: dict[str, str] | None = None
    if model is not None:
        declared = {f.name: f.type for f in model.drift_features}
        unknown = sorted(set(columns) - {f.name for f in model.features})
        if unknown:
            raise InputError(
                422,
                ["body", "columns", unknown[0]],
                f"{unknown[0]!r} is not a declared feature of {model.name!r}: "
                "declare it in the spec or leave it out",
            )
        columns = {k: v for k, v in columns.items() if k in declared}
        columns = canonical.canonical_columns(model, columns)
        kinds = {k: declared[k] for k in columns}
    if not columns or not next(iter(lengths), 0):
        raise InputError(
            422,
            ["body", "columns"],
            "no reference values for any drift feature: send at least one non-empty numeric or categorical column",
        )
    bins = body.bins or (model.drift.bins if model else 10)
    try:
        fitted = fit_reference(columns, kinds=kinds, n_bins=bins)
    except (TypeError, ValueError) as exc:
        raise InputError(422, ["body", "columns"], f"cannot fit the reference: {exc}") from None
    features: dict[str, Any] = {name: ref.to_dict() for name, ref in fitted.items()}
    n = next(iter(lengths))
    calibration = _reference_calibration(body, model, n)
    with ctx.sessions.begin() as s:
        ref_id = repository.create_reference(
            s,
            model=body.model,
            version=body.version,
            name=body.name,
            n=n,
            features=features,
            calibration=calibration,
        )
        what = {"reference_id": ref_id, "version": body.version, "name": body.name, "rows": n}
        audit.record(s, action="reference.upload", token_id=token_id, model=body.model, params=what)
    warnings: list[str] = []
    if model is not None:
        sent = None if body.attributions is None else [a.model_dump() for a in body.attributions]
        # explaining runs in the worker process, after the binning is stored: a failure loses nothing
        stored, background, warnings = attributions.reference_attributions(
            ctx.evaluator.explainers, model, ref_id, body.columns, body.labels, sent
        )
        joint, mv_warnings = multivariate.reference_sample(model, body.columns)
        warnings += mv_warnings
        if stored is not None or background is not None or joint is not None:
            with ctx.sessions.begin() as s:
                repository.update_reference(
                    s,
                    ref_id,
                    attributions=stored,
                    sample={"explain_background": background, "multivariate": joint},
                )
    return ReferenceOut(
        id=ref_id,
        model=body.model,
        version=body.version,
        n=n,
        features={name: {k: v for k, v in f.items() if k != "sample"} for name, f in features.items()},
        cbpe=calibration is not None,
        warnings=warnings,
    )


def store_stats(ctx: AppContext, batch: StatsBatch) -> Accepted:
    """Store one SDK stats delta once and add it to the exported totals; a new version is a deploy."""
    known_model(ctx, batch.model, ["body", "model"])
    problems = batch.problems()
    if problems:
        field, msg = problems[0]
        raise InputError(422, ["body", field], msg)
    seen = ctx.state.bounds_for(batch.model, batch.version)
    if seen is not None and seen != tuple(batch.latency_bounds):
        raise InputError(
            422,
            ["body", "latency_bounds"],
            f"differ from the bounds this model version already reported ({list(seen)}): "
            "one model version must use one set of latency buckets",
        )
    row = batch.model_dump()
    row["received_at"] = db.utcnow()
    with ctx.sessions.begin() as s:
        claim = repository.claim_batch(
            s, batch_id=batch.batch_id, kind="stats", model=batch.model, size=1, digest=batch_digest(batch)
        )
        if not _new_batch(claim, batch.batch_id, batch.model):
            return Accepted(accepted=0, duplicate=True)
        repository.insert_stats(s, row=row)
        deployed = repository.record_deploy(
            s, model=batch.model, version=batch.version, first_seen=batch.start
        )
    if deployed and ctx.on_deploy is not None:
        ctx.on_deploy(batch.model, batch.version, batch.start)
    ctx.state.add_stats(
        model=batch.model,
        version=batch.version,
        ok=batch.ok,
        error=batch.error,
        bounds=batch.latency_bounds,
        counts=batch.latency_counts,
        latency_sum=batch.latency_sum,
        dropped=batch.dropped,
        end=batch.end.timestamp(),
    )
    if batch.compute_seconds or batch.input_tokens or batch.output_tokens:
        ctx.state.add_usage(
            model=batch.model,
            version=batch.version,
            compute_seconds=batch.compute_seconds,
            input_tokens=batch.input_tokens,
            output_tokens=batch.output_tokens,
        )
    if batch.feature_ages:
        ages = {f: h.model_dump() for f, h in batch.feature_ages.items()}
        ctx.state.add_feature_ages(model=batch.model, version=batch.version, ages=ages)
    if batch.genai is not None:
        ctx.state.add_genai(model=batch.model, version=batch.version, genai=batch.genai.model_dump())
    return Accepted(accepted=1)
