"""`driftline delete --model M (--ids FILE | --subject-key VALUE)`: serve a privacy request. Removes a data
subject's records and labels (and what was counted from them) and has the windows they were in evaluated
again, through a running collector (`POST /v1/models/{model}/deletions`, admin token) or, with
`--database-url`, on the database directly (with the spec, `--config`, and the collector's salt in
DRIFTLINE_SALT / DRIFTLINE_SALT_FILE, so a raw subject value hashes as the SDK hashed it).

The subject key is a `pii: true` field's value: raw (hashed with the salt) or its `sha256:` hash (as
stored; useful where the operator does not hold the salt). Neither is printed or kept in the audit log.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.orm import sessionmaker

from collector import db, migrations, privacy, repository
from collector.api.deletions import MAX_IDS
from collector.context import AppContext
from collector.evaluation import Evaluator
from collector.metrics import MetricsState
from collector.settings import Settings
from contract import DriftlineError
from sdk import CollectorClient, wire
from spec import SpecError, load_spec


class DeleteError(DriftlineError):
    """The collector refused the deletion or could not be reached."""


def read_ids(path: str) -> list[str]:
    """Record ids from a file (or `-`: stdin), one per line; blank lines are skipped."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def merge(total: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """Two answers (of chunks of one id list) as one."""
    if not total:
        return part
    for table, n in part["removed"].items():
        total["removed"][table] = total["removed"].get(table, 0) + n
    total["minutes_recounted"] += part["minutes_recounted"]
    for key in ("reevaluated", "cleared"):
        total[key] += [w for w in part[key] if w not in total[key]]
    return total


def describe(answer: dict[str, Any]) -> str:
    """The answer in a few lines: rows removed per table, windows re-evaluated and cleared."""
    removed = ", ".join(f"{t} {n}" for t, n in sorted(answer["removed"].items()) if n) or "nothing"
    lines = [f"deleted from {answer['model']}: {removed}"]
    for key, what in (
        ("reevaluated", "re-evaluated at the next tick"),
        ("cleared", "cleared (no record left)"),
    ):
        for w in answer[key]:
            start = w["window_start"] if isinstance(w["window_start"], str) else w["window_start"].isoformat()
            lines.append(f"  window {w['version']} {w['window_seconds']}s from {start}: {what}")
    return "\n".join(lines)


def _through_collector(args: argparse.Namespace, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    token = args.token or os.environ.get("DRIFTLINE_TOKEN")
    if not token:
        raise DeleteError("driftline delete needs an admin token: --token or DRIFTLINE_TOKEN")
    client = CollectorClient.connect(args.collector, token, timeout=300.0, error=DeleteError)
    total: dict[str, Any] = {}
    try:
        for body in bodies:
            total = merge(total, dict(client.post(f"{wire.API_PREFIX}/models/{args.model}/deletions", body)))
    except OSError as exc:
        raise DeleteError(f"the collector at {args.collector} cannot be reached ({exc})") from None
    finally:
        client.close()
    return total


def local_context(database_url: str, config: str) -> AppContext:
    """What a deletion needs of a collector, on the database directly: storage, the spec and the salt."""
    try:
        spec = load_spec(config)
    except (SpecError, OSError) as exc:
        raise DeleteError(f"--config: {exc}") from None
    settings = Settings(database_url=database_url)
    engine = db.make_engine(database_url)
    migrations.migrate(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions() as s:
        projects = repository.model_projects(s)
    state = MetricsState()
    return AppContext(
        settings=settings,
        spec=spec,
        engine=engine,
        sessions=sessions,
        state=state,
        evaluator=Evaluator(sessions, spec, state),
        known_models=set(projects),
        model_projects=projects,
    )


def _on_database(args: argparse.Namespace, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    if not args.config:
        raise DeleteError("--database-url needs --config (the spec the collector runs with)")
    ctx = local_context(args.database_url, args.config)
    if args.model not in ctx.known_models:
        raise DeleteError(f"--model: {args.model!r} is not registered in this database")
    total: dict[str, Any] = {}
    try:
        for body in bodies:
            done = privacy.delete_subject(
                ctx, model=args.model, ids=body.get("ids"), subject_key=body.get("subject_key")
            )
            windows = {
                key: [{"version": v, "window_seconds": n, "window_start": t} for v, n, t in sorted(found)]
                for key, found in (("reevaluated", done.reevaluated), ("cleared", done.cleared))
            }
            total = merge(
                total,
                {
                    "model": args.model,
                    "removed": done.removed,
                    "minutes_recounted": done.minutes_recounted,
                    **windows,
                },
            )
    finally:
        ctx.engine.dispose()
    return total


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete one subject's data and print what was removed; 2 with the reason when refused."""
    try:
        if args.ids is not None:
            ids = read_ids(args.ids)
            if not ids:
                raise DeleteError(f"--ids: {args.ids} holds no record id (one per line)")
            bodies: list[dict[str, Any]] = [
                {"ids": ids[i : i + MAX_IDS]} for i in range(0, len(ids), MAX_IDS)
            ]
        else:
            bodies = [{"subject_key": args.subject_key}]
        answer = _on_database(args, bodies) if args.database_url else _through_collector(args, bodies)
    except OSError as exc:
        print(f"driftline delete: --ids: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except DeleteError as exc:
        print(f"driftline delete: {exc}", file=sys.stderr)
        return 2
    print(describe(answer))
    return 0


def add_parser(sub: Any) -> None:
    """The `delete` command: serve a privacy request (a data subject's records and labels)."""
    d = sub.add_parser("delete", help="delete a data subject's records and labels (a privacy request)")
    d.add_argument("--model", required=True, help="the model whose records to delete")
    who = d.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--ids",
        metavar="FILE",
        help="a file of record ids as the application sent them, one a line (- reads stdin)",
    )
    who.add_argument(
        "--subject-key",
        metavar="VALUE",
        help="a pii: true field's value (raw: hashed with the collector's salt) or its sha256: hash",
    )
    d.add_argument("--collector", default=os.environ.get("DRIFTLINE_URL", "http://127.0.0.1:8650"),
                   help="collector URL (env DRIFTLINE_URL, default http://127.0.0.1:8650)")  # fmt: skip
    d.add_argument("--token", help="an admin token (env DRIFTLINE_TOKEN)")
    d.add_argument("--database-url", help="delete on this database directly instead of through a collector")
    d.add_argument("--config", help="with --database-url: the spec file the collector runs with")
    d.set_defaults(func=cmd_delete)
