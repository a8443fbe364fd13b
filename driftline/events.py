"""`driftline event retrain|deploy|rollback --model M`: report what happened to a model to a running collector
(`POST /v1/events`), which stores it once, counts it on /metrics and, with DRIFTLINE_GRAFANA_URL set, posts it
to Grafana as an annotation (`annotator`, the hook `driftline serve` installs). Prints what was stored."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import uuid
from collections.abc import Callable
from typing import Any

from clients import connect
from collector.schemas import EVENT_KINDS, EventOut
from contract import DriftlineError
from sdk import CollectorClient, wire

#: Where events are sent (`collector.api.events`).
EVENTS_PATH = f"{wire.API_PREFIX}/events"


class EventError(DriftlineError):
    """The collector refused the event or could not be reached."""


def annotator(grafana_url: str | None) -> Callable[[EventOut], None] | None:
    """A hook posting a Grafana annotation per stored event, when DRIFTLINE_GRAFANA_URL is set; else None."""
    if not grafana_url:
        return None
    # dashboards needs grafana-foundation-sdk, the optional grafana extra
    from dashboards import post_event_annotation

    api = connect(grafana_url, timeout=5.0, anonymous=True)

    def annotate(event: EventOut) -> None:
        post_event_annotation(
            api,
            event.model,
            event.kind,
            int(event.ts.timestamp() * 1000),
            version=event.version,
            note=event.note,
            links=event.links,
        )

    return annotate


def _when(text: str) -> str:
    """`--at` as ISO-8601 (no zone: UTC); argparse reports the ValueError naming the flag."""
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 time, such as 2026-03-02T12:00:00Z"
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat()


def describe(stored: dict[str, Any]) -> str:
    """What the collector stored, in a few lines."""
    what = f"{stored['kind']} of {stored['model']}" + (
        f" version {stored['version']}" if stored["version"] else ""
    )
    head = "already stored (nothing changed)" if stored.get("duplicate") else "stored"
    lines = [f"{head}: {what} at {stored['ts']} (event id {stored['event_id']})"]
    if stored.get("note"):
        lines.append(f"  note: {stored['note']}")
    lines += [f"  link: {link}" for link in stored.get("links") or []]
    return "\n".join(lines)


def send(client: CollectorClient, body: dict[str, Any]) -> dict[str, Any]:
    """POST one event; the collector's answer (the stored event, and whether it was a duplicate)."""
    return dict(client.post(EVENTS_PATH, body))


def cmd_event(args: argparse.Namespace) -> int:
    """Send one event and print what was stored; 2 with the collector's reason when it was refused."""
    token = args.token or os.environ.get("DRIFTLINE_TOKEN")
    if not token:
        print("driftline event needs an ingest token: --token or DRIFTLINE_TOKEN", file=sys.stderr)
        return 2
    body: dict[str, Any] = {"event_id": args.id or uuid.uuid4().hex, "model": args.model, "kind": args.kind}
    optional = {"version": args.version, "ts": args.at, "note": args.note, "links": args.link}
    body.update({k: v for k, v in optional.items() if v})
    client = CollectorClient.connect(args.collector, token, timeout=30.0, error=EventError)
    try:
        print(describe(send(client, body)))
    except EventError as exc:
        print(f"driftline event: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"driftline event: the collector at {args.collector} cannot be reached ({exc})", file=sys.stderr
        )
        return 2
    finally:
        client.close()
    return 0


def add_parser(sub: Any) -> None:
    """The `event` command: report a retrain, deploy or rollback of a model."""
    e = sub.add_parser("event", help="report a retrain, deploy or rollback of a model to the collector")
    e.add_argument("kind", choices=EVENT_KINDS, help="what happened")
    e.add_argument("--model", required=True, help="the model it happened to")
    e.add_argument("--version", help="the model version it produced or restored")
    e.add_argument("--note", help="why, in a sentence (shown on the Grafana annotation)")
    e.add_argument(
        "--link", action="append", help="an http(s) address: the pipeline run, the change (repeatable)"
    )
    e.add_argument("--at", type=_when, help="when it happened, ISO-8601 (default now; no zone means UTC)")
    e.add_argument(
        "--id", help="the event's id: sending the same id again stores it once (default: a new one)"
    )
    e.add_argument("--collector", default=os.environ.get("DRIFTLINE_URL", "http://127.0.0.1:8650"),
                   help="collector URL (env DRIFTLINE_URL, default http://127.0.0.1:8650)")  # fmt: skip
    e.add_argument("--token", help="an ingest (or admin) token (env DRIFTLINE_TOKEN)")
    e.set_defaults(func=cmd_event)
