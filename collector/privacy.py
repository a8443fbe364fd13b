"""Privacy deletions: remove a data subject's records and labels (and with the records their attributions,
reservoir keys and everything counted from them), then correct what they were counted in.

A subject is named by record ids (as the application sent them: each is mapped as ingest maps ids, so a
raw id finds the record stored under its salted hash) or by a subject key: the value of a `pii: true`
field, hashed here with the collector's salt as the SDK hashed it (`sdk.redact.Redactor.hash_value`), or
that hash itself (`sha256:` + 16 hex digits, kept as sent). The raw value is used for the lookup only:
it is never stored, logged or answered.

Everything happens in one transaction, under each touched version's exclusive aggregate lock (ingest holds
it shared): the records and labels go, the minutes they were counted in are cleared and counted again from
the records left (`aggregation.add_stored`, what a rebuild does), hours rolled up from those minutes are
summed again, windows left with no record lose their stored points, and the minutes of every other touched
window are marked pending, so the next evaluation tick re-evaluates exactly those windows (re-summarising
their labelled minutes first). The audit entry is written in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from collector import audit, dialects, redaction, repository
from collector.aggregation import HOUR, add_stored, lock_key
from collector.context import AppContext
from collector.db import Label, Record
from collector.evaluation import window_start
from collector.repository import privacy as sql
from sdk.redact import is_hashed


@dataclass
class Deletion:
    """What a deletion removed (rows per table), the windows the next tick re-evaluates and those cleared."""

    model: str
    removed: dict[str, int] = field(default_factory=dict)
    minutes_recounted: int = 0
    reevaluated: list[tuple[str, int, dt.datetime]] = field(default_factory=list)
    cleared: list[tuple[str, int, dt.datetime]] = field(default_factory=list)


def subject_hash(ctx: AppContext, model: str, value: str) -> str:
    """The hash the SDK (and the collector's redaction) stores for a pii value of this model; a value that
    already is such a hash is kept as it is."""
    return redaction.of(ctx).redactor(model).hash_value(value)


def _holds(values: Any, target: str) -> bool:
    return isinstance(values, Mapping) and any(v == target for v in values.values())


def _find(
    s: Session, ctx: AppContext, model: str, ids: Iterable[str] | None, subject: str | None
) -> tuple[set[str], list[tuple[str, str, dt.datetime]]]:
    """(ids whose labels go, (id, version, time) of the records that go)."""
    if ids is not None:
        red = redaction.of(ctx).redactor(model)
        wanted = {x for i in ids for x in (i, red.record_id(i))}  # as sent, and as ingest stores it
        return wanted, sql.records_by_ids(s, model=model, ids=wanted)
    assert subject is not None
    target = subject_hash(ctx, model, subject)
    found = [
        (rid, version, ts)
        for rid, version, ts, features, slices in sql.scan_records(s, model=model)
        if _holds(features, target) or _holds(slices, target)
    ]
    return {rid for rid, _, _ in found}, found


def delete_subject(
    ctx: AppContext,
    *,
    model: str,
    ids: Iterable[str] | None = None,
    subject_key: str | None = None,
    token_id: str | None = None,
) -> Deletion:
    """Delete one subject's data of `model` (by `ids` or by `subject_key`, exactly one) and correct the
    aggregates and windows it was counted in; audited as `token_id`'s (None: a local command's)."""
    if (ids is None) == (subject_key is None):
        raise ValueError("name the subject by ids or by subject key, exactly one")
    aggregator = ctx.evaluator.aggregator
    out = Deletion(model)
    with ctx.sessions.begin() as s:
        label_ids, found = _find(s, ctx, model, ids, subject_key)
        versions = sorted({v for _, v, _ in found})
        for version in versions:  # in one order on every collector: two deletions never deadlock
            dialects.of(s).lock_version(s.connection(), lock_key(model, version), shared=False)
        record_ids = {rid for rid, _, _ in found}
        label_ids |= record_ids
        out.removed[Label.__tablename__] = sql.delete_by_ids(s, Label, model=model, ids=label_ids)
        out.removed[Record.__tablename__] = sql.delete_by_ids(s, Record, model=model, ids=record_ids)
        bucket = aggregator.bucket_seconds(model)
        for version in versions:
            touched = {
                repository.minute_time(repository.bucket_start(ts, bucket))
                for _, v, ts in found
                if v == version
            }
            _correct(s, ctx, out, model, version, touched, bucket)
        audit.record(
            s,
            action="records.delete",
            token_id=token_id,
            model=model,
            params={
                "by": "ids" if ids is not None else "subject_key",
                "removed": dict(out.removed),
                "windows_reevaluated": len(out.reevaluated),
                "windows_cleared": len(out.cleared),
            },
        )
    return out


def _correct(
    s: Session,
    ctx: AppContext,
    out: Deletion,
    model: str,
    version: str,
    touched: set[dt.datetime],
    bucket: int,
) -> None:
    """Count the touched minutes again from the records left, sum their hours again, clear the windows left
    empty and mark the rest pending."""
    aggregator = ctx.evaluator.aggregator
    step = dt.timedelta(seconds=bucket)
    state = repository.aggregate_state(s, model=model, version=version)
    current = state is not None and state == aggregator.target(s, model, version)
    # a version whose aggregates are stale (or not built) is rebuilt whole by the loop: pending is enough
    if current and state is not None:
        out.removed["minute_aggregates_recounted"] = out.removed.get("minute_aggregates_recounted", 0) + (
            sql.clear_minutes(s, model=model, version=version, minutes=touched)
        )
        for minute in sorted(touched):
            rows = sql.records_between(s, model=model, version=version, start=minute, end=minute + step)
            add_stored(aggregator, s, model=model, version=version, reference_id=state[0], rows=rows)
        hours = {window_start(m, HOUR) for m in touched}
        repository.roll_up(s, model=model, version=version, reference_id=state[0], hours=hours)
        out.minutes_recounted += len(touched)
    pending: set[int] = set()
    labelled: set[int] = set()
    for seconds in aggregator.windows(model):
        for start in sorted({window_start(m, seconds) for m in touched}):
            end = start + dt.timedelta(seconds=seconds)
            first = sql.first_record_time(s, model=model, version=version, start=start, end=end)
            if first is None:  # no record left: the window has no points, as if it never received any
                for table, n in sql.delete_window_points(
                    s, model=model, version=version, seconds=seconds, start=start
                ).items():
                    out.removed[table] = out.removed.get(table, 0) + n
                out.cleared.append((version, seconds, start))
                continue
            out.reevaluated.append((version, seconds, start))
            inside = [m for m in touched if start <= m < end]
            kept = [
                m
                for m in inside
                if sql.first_record_time(s, model=model, version=version, start=m, end=m + step)
            ]
            labelled.update(repository.bucket_start(m, bucket) for m in kept)
            # a window whose touched minutes are all empty now is still re-evaluated: note a minute it holds
            pending.update(repository.bucket_start(m, bucket) for m in kept or [first])
    repository.mark_pending(s, model=model, version=version, minutes=pending, kind="records")
    repository.mark_pending(s, model=model, version=version, minutes=labelled, kind="labels")


def looks_hashed(value: str) -> bool:
    """Whether a subject key was sent already hashed (kept as is) rather than as the raw value."""
    return is_hashed(value)
