"""What storing an event means, independent of HTTP: a retrain, deploy or rollback of a model, stored once
per (model, event id), counted on /metrics and handed to the `on_event` hook (a Grafana annotation)."""

from __future__ import annotations

from collector import db, event_time, repository
from collector.context import AppContext
from collector.schemas import EventIn, EventOut, EventStored
from collector.service import InputError, batch_digest, known_model


def event_out(row: db.Event) -> EventOut:
    """A stored event as the API answers it."""
    return EventOut(
        event_id=row.event_id,
        model=row.model,
        kind=row.kind,
        version=row.version,
        ts=row.ts,
        note=row.note,
        links=list(row.links or []),
        received_at=row.received_at,
    )


def store_event(ctx: AppContext, body: EventIn) -> EventStored:
    """Store an event once: a retry of the same event (same id, same content as sent, so an event sent
    without a time is the same event when retried later) answers the stored one with `duplicate`; the id
    reused for another event is a 409 naming `event_id`."""
    known_model(ctx, body.model, ["body", "model"])
    now = db.utcnow()
    row = {
        "model": body.model,
        "event_id": body.event_id,
        "kind": body.kind,
        "version": body.version,
        "ts": event_time.as_utc(body.ts) if body.ts is not None else now,
        "note": body.note,
        "links": list(body.links),
        "digest": batch_digest(body),  # of the event as sent: a time left out is not part of it
        "received_at": now,
    }
    with ctx.sessions.begin() as s:
        claim, stored = repository.insert_event(s, row=row)
    if claim == "conflict":
        raise InputError(
            409,
            ["body", "event_id"],
            f"event id {body.event_id!r} of model {body.model!r} was stored before for another event: a retry "
            "must resend the same event unchanged; send a new event under a new event id",
        )
    if claim == "duplicate" and stored is not None:
        return EventStored(**event_out(stored).model_dump(), duplicate=True)
    event = EventOut(**{k: v for k, v in row.items() if k != "digest"})
    ctx.state.add_event(body.model, body.kind)
    if ctx.on_event is not None:
        ctx.on_event(event)
    return EventStored(**event.model_dump())
