"""The `driftline` command: serve, token create|list|revoke, check, generate, provision, silence, replay,
event, report, demo."""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from alerting import silence_body
from clients import GrafanaError, SilenceError, connect, create_silence
from collector import Settings, auth, create_app, db, migrations, reads, repository
from driftline import delete, events, models, reference
from driftline import generate as artifacts
from driftline import replay as rp
from driftline.demo import run_demo
from driftline.generate import build, generate, push_dashboards, push_grafana_alerting
from driftline.replay.cluster import replay_on_dask
from driftline.report import ReportError, write_report
from driftline.store_reads import open_reads
from sdk import CollectorClient
from spec import Model, ResolvedSpec, SpecError, load_spec, parse_duration


def _settings(args: argparse.Namespace, *names: str) -> Settings:
    """Flags override DRIFTLINE_* environment variables, which override defaults."""
    given: dict[str, Any] = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    return Settings(**given)


def _spec(path: str | None) -> ResolvedSpec | None:
    """The spec at `path`, or None when no spec is named (the collector runs without one)."""
    return load_spec(path) if path else None


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the collector; on an empty token table, create and print a bootstrap admin, ingest and read token."""
    settings = _settings(args, "config", "host", "port", "database_url", "evaluation_interval")
    spec = _spec(settings.config)
    # A 5,000-record batch allocates ~100k short-lived dicts; at the default gen-0 threshold (700) the
    # cyclic GC runs hundreds of times per batch. Ingest holds no reference cycles worth collecting early.
    gc.set_threshold(50_000, 20, 20)
    grafana = settings.grafana_url  # each deploy and reported event becomes an annotation there, when set
    app = create_app(settings, spec, on_deploy=_deploy_annotator(grafana), on_event=events.annotator(grafana))
    ctx = app.state.ctx
    with ctx.sessions.begin() as s:
        if repository.count_tokens(s) == 0:
            admin = auth.create_token(s, scope="admin", name="bootstrap admin", project=None)  # global
            ingest = auth.create_token(s, scope="ingest", name="bootstrap ingest")  # project default
            read = auth.create_token(s, scope="read", name="bootstrap read", project=None)  # global, like admin
            print(
                "No API tokens existed, so three were created. They are shown this once; store them now.\n"
                f"  admin token:  {admin}\n  ingest token: {ingest}\n"
                f"  read token:   {read}   (driftline models, Grafana, reads: DRIFTLINE_READ_TOKEN)",
                flush=True,
            )
    print(
        f"driftline collector on http://{settings.host}:{settings.port}"
        f" (storage: {_redact_url(settings.database_url)})",
        flush=True,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level, access_log=False)
    return 0


def _deploy_annotator(grafana_url: str | None) -> Any:
    """A hook posting a Grafana annotation per deploy, when DRIFTLINE_GRAFANA_URL is set; else None."""
    if not grafana_url:
        return None
    # dashboards needs grafana-foundation-sdk, the optional grafana extra
    from dashboards import post_deploy_annotation

    api = connect(grafana_url, timeout=5.0, anonymous=True)

    def annotate(model: str, version: str, at: dt.datetime) -> None:
        post_deploy_annotation(api, model, version, int(at.timestamp() * 1000))

    return annotate


def _redact_url(url: str) -> str:
    """A database URL with its password hidden, for the start-up line."""
    return make_url(url).render_as_string(hide_password=True)


def _token_sessions(args: argparse.Namespace) -> Any:
    """A session factory on the migrated database that `--database-url` (or the environment) names."""
    engine = db.make_engine(_settings(args, "database_url").database_url)
    migrations.migrate(engine)
    return sessionmaker(engine)


def cmd_token_create(args: argparse.Namespace) -> int:
    """Create a token and print it once (only its hash is stored)."""
    try:
        with _token_sessions(args).begin() as s:
            token = auth.create_token(s, scope=args.scope, name=args.name or "", project=args.project)
    except ValueError as exc:
        print(f"--project: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    """Every token's id, name, scope, project, creation time and state; never a secret (none is stored)."""
    with _token_sessions(args)() as s:
        rows = [
            (
                t.id,
                t.name or "-",
                t.scope,
                t.project or auth.ALL_PROJECTS,
                t.created_at.strftime("%Y-%m-%d %H:%M:%SZ"),
                "revoked" if t.revoked else "active",
            )
            for t in repository.list_tokens(s)
        ]
    header = ("ID", "NAME", "SCOPE", "PROJECT", "CREATED", "STATE")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    """Revoke a token by id: the collector refuses it from its next request on (tokens are not cached)."""
    token_id = args.id.split("_")[1] if args.id.startswith("dl_") and args.id.count("_") >= 2 else args.id
    with _token_sessions(args).begin() as s:
        row = repository.get_token(s, token_id=token_id)
        if row is None:
            print(f"no token has id {token_id!r}: `driftline token list` shows the ids", file=sys.stderr)
            return 1
        was, what = row.revoked, f"{row.name or 'no name'}, scope {row.scope}"
        auth.revoke_token(s, token_id=token_id)
    state = "was already revoked" if was else "revoked: the collector refuses it from the next request on"
    print(f"token {token_id} ({what}) {state}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a spec as a deploy would load it, pinned model files included."""
    spec = load_spec(args.config, require_files=True)  # a deploy check: a model file must be there, pinned
    print(f"{args.config}: ok ({len(spec.models)} model(s), {len(spec.raw.slos)} SLO(s))")
    for note in artifacts.missing_links(spec):
        print(f"{args.config}: note: {note}", file=sys.stderr)
    return 0


def _model_and_sink(
    args: argparse.Namespace, command: str, admin_token: str | None = None
) -> tuple[Model, rp.Sink] | None:
    """The spec's model `--model` and where its data goes (a running collector with an ingest token, or the
    database); None, with the reason printed, when either cannot be had."""
    settings = _settings(args, "config", "database_url")
    if not settings.config:
        print(f"{command} needs the spec: pass --config driftline.yaml or set DRIFTLINE_CONFIG", file=sys.stderr)
        return None
    spec = load_spec(settings.config)
    model = spec.model(args.model)
    if model is None:
        names = ", ".join(m.name for m in spec.models)
        print(f"--model {args.model!r} is not in {settings.config} (models: {names})", file=sys.stderr)
        return None
    if not args.collector:
        return model, rp.EmbeddedSink(settings.database_url, spec)
    token = args.token or os.environ.get("DRIFTLINE_TOKEN")
    if not token:
        print("--collector needs an ingest token: --token or DRIFTLINE_TOKEN", file=sys.stderr)
        return None
    return model, rp.HTTPSink(args.collector, token, admin_token)


def cmd_replay(args: argparse.Namespace) -> int:
    """Backfill a prediction log into a database or a running collector, then print the window summary."""
    until = None
    if args.reference_until:
        until = rp.parse_time(args.reference_until)
        if until is None:
            print(
                f"--reference-until {args.reference_until!r} is not a timestamp: use ISO-8601",
                file=sys.stderr,
            )
            return 2
    found = _model_and_sink(args, "replay", args.admin_token or os.environ.get("DRIFTLINE_ADMIN_TOKEN"))
    if found is None:
        return 2
    model, sink = found
    columns = rp.Columns(
        time=args.time_column,
        time_unit=args.time_unit,
        id=args.id_column,
        prediction=args.prediction_column,
        score=args.score_column,
        label=args.label_column,
        version=args.version_column,
    )
    try:
        run = partial(replay_on_dask, args.dask) if args.dask else rp.replay
        result = run(
            Path(args.file),
            model,
            sink,
            columns=columns,
            version=args.version,
            labels_file=Path(args.labels) if args.labels else None,
            reference_file=Path(args.reference) if args.reference else None,
            reference_until=until,
            strict=args.strict,
            batch_rows=args.batch_rows,
            progress=not args.quiet,
        )
    except rp.ReplayFileError as exc:  # bad input: one line, exit 2 like a bad spec
        print(f"driftline replay: {exc}", file=sys.stderr)
        return 2
    except rp.ReplayError as exc:
        print(f"replay stopped: {exc}", file=sys.stderr)
        return 1
    for problem in result.problems[:50]:
        print(f"{args.file}: {problem}", file=sys.stderr)
    if len(result.problems) > 50:
        print(f"... and {len(result.problems) - 50} more problem(s)", file=sys.stderr)
    print(
        f"Replayed {result.rows:,} rows of {args.file}: {result.records_stored:,} records stored "
        f"({result.records_sent - result.records_stored:,} already stored), {result.labels_sent:,} labels, "
        f"{result.skipped:,} rows skipped, {len(result.problems)} problem(s); "
        f"reference from {result.reference_rows:,} rows; {result.windows} window(s) evaluated."
    )
    if result.calibration_rows:
        print(f"CBPE calibrated on {result.calibration_rows:,} labelled reference rows: accuracy is estimated too.")
    for missing in result.not_computed:
        print(f"Not computed: {missing}.")
    print()
    print(rp.summary(model, sink.series(model.name, "drift"), sink.series(model.name, "performance")))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    spec = artifacts.with_grafana_url(load_spec(args.config), args.grafana_url)
    for note in artifacts.missing_links(spec):
        print(f"{args.config}: note: {note}", file=sys.stderr)
    paths = generate(
        spec,
        args.out,
        prometheus_url=args.prometheus_url,
        database_url=args.database_url,
    )
    for path in paths:
        print(path)
    return 0


def cmd_provision_grafana(args: argparse.Namespace) -> int:
    spec = load_spec(args.config)
    artifacts = build(spec, prometheus_url=args.prometheus_url, database_url=args.database_url)
    try:
        api = connect(args.url)
        print(push_dashboards(artifacts, api).summary())
        if not args.no_alerting:
            print(push_grafana_alerting(artifacts, api).summary())
    except GrafanaError as exc:
        print(f"provisioning failed: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_silence_create(args: argparse.Namespace) -> int:
    try:
        duration = dt.timedelta(seconds=parse_duration(args.duration))
    except ValueError as exc:
        print(f"--duration: {exc}", file=sys.stderr)
        return 2
    body = silence_body(
        args.model, dt.datetime.now(dt.UTC), duration, args.comment, args.author or getpass.getuser()
    )
    try:
        silence_id = create_silence(args.alertmanager, body)
    except SilenceError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"silenced model {args.model} until {body['endsAt']} (silence {silence_id})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write one model's self-contained HTML report."""
    settings = _settings(args, "config", "database_url")
    spec = _spec(settings.config)
    now = None
    if args.at:
        try:
            now = dt.datetime.fromisoformat(args.at)
        except ValueError:
            print(f"--at {args.at!r} is not an ISO-8601 time, such as 2026-03-02T12:00:00Z", file=sys.stderr)
            return 2
    try:
        path = write_report(settings.database_url, spec, args.model, args.out, now=now)
    except ReportError as exc:
        print(f"driftline report: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def cmd_reference_upload(args: argparse.Namespace) -> int:
    """Fit and store a model's reference from a file, and print what was fitted."""
    found = _model_and_sink(args, "reference upload")
    if found is None:
        return 2
    model, sink = found
    columns = rp.Columns(score=args.score_column, label=args.label_column)
    try:
        answer, result = reference.upload(Path(args.file), model, sink, columns=columns, version=args.version)
    except rp.ReplayError as exc:
        print(f"driftline reference upload: {exc}", file=sys.stderr)
        return 2
    print(reference.describe(answer, result, args.file))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """Print every model the token may read, one line each."""
    return _read_collector(args, "models", models.overview)


def cmd_status(args: argparse.Namespace) -> int:
    """Print one model at a glance."""
    return _read_collector(args, "status", lambda client: models.status(client, args.model))


def _read_collector(args: argparse.Namespace, command: str, render: Any) -> int:
    """Run a read command against a collector's database (--database-url) or a running collector with a read
    token; 2 with the reason when it cannot."""
    if args.database_url:
        try:
            with open_reads(args.database_url, _spec(args.config)) as store:
                print(render(store))
        except reads.StoreError as exc:
            print(f"driftline {command}: {exc}", file=sys.stderr)
            return 2
        return 0
    token = args.token or os.environ.get("DRIFTLINE_READ_TOKEN")
    if not token:
        print(f"driftline {command} needs a read token (--token or DRIFTLINE_READ_TOKEN) or --database-url",
              file=sys.stderr)  # fmt: skip
        return 2
    client = CollectorClient.connect(args.collector, token, error=rp.ReplayError)
    try:
        print(render(client))
    except rp.ReplayError as exc:
        print(f"driftline {command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"driftline {command}: the collector at {args.collector} cannot be reached ({exc})", file=sys.stderr)
        return 2
    finally:
        client.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the end-to-end demo."""
    return run_demo(out_dir=args.out, duration=args.duration)


def _add_serve(sub: Any) -> None:
    """The `serve` command: run the collector."""
    s = sub.add_parser("serve", help="run the collector")
    s.add_argument("--config", help="spec file (driftline.yaml); env DRIFTLINE_CONFIG")
    s.add_argument("--host", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default 8650)")
    s.add_argument("--database-url", help="SQLAlchemy URL (default sqlite:///driftline.db)")
    s.add_argument("--evaluation-interval", type=float, help="seconds between drift evaluations (default 60)")
    s.set_defaults(func=cmd_serve)


def _add_token(sub: Any) -> None:
    """The `token` command: token create, list and revoke."""
    t = sub.add_parser("token", help="manage API tokens")
    tsub = t.add_subparsers(dest="token_command", required=True)
    tc = tsub.add_parser("create", help="create a token and print it once")
    tc.add_argument("--scope", required=True, choices=["ingest", "read", "admin"])
    tc.add_argument("--name", help="what the token is for")
    tc.add_argument(
        "--project",
        default="default",
        help="the project whose models the token may touch (default: default); '*' for every project",
    )
    tc.add_argument("--database-url", help="SQLAlchemy URL (default sqlite:///driftline.db)")
    tc.set_defaults(func=cmd_token_create)
    tl = tsub.add_parser("list", help="list tokens: id, name, scope, project, created, state (never secrets)")
    tl.add_argument("--database-url", help="SQLAlchemy URL (default sqlite:///driftline.db)")
    tl.set_defaults(func=cmd_token_list)
    tr = tsub.add_parser("revoke", help="revoke a token by id; refused from the collector's next request on")
    tr.add_argument("id", help="the token's id, as `token list` shows it")
    tr.add_argument("--database-url", help="SQLAlchemy URL (default sqlite:///driftline.db)")
    tr.set_defaults(func=cmd_token_revoke)


def _add_check(sub: Any) -> None:
    """The `check` command: validate a spec."""
    c = sub.add_parser("check", help="validate a spec file")
    c.add_argument("config")
    c.set_defaults(func=cmd_check)


def _add_generate(sub: Any) -> None:
    """The `generate` command: write the generated artifacts."""
    g = sub.add_parser("generate", help="write Prometheus rules, Alertmanager config and dashboards")
    g.add_argument("config")
    g.add_argument("--out", required=True, help="output directory")
    g.add_argument(
        "--grafana-url",
        "--dashboard-url",
        type=artifacts.grafana_url_option,
        help="Grafana's base URL for alert links, instead of the spec's grafana.url",
    )
    g.add_argument("--prometheus-url", default="http://localhost:9090", help="Prometheus datasource URL")
    g.add_argument("--database-url", help="collector database; PostgreSQL adds a read-only SQL datasource")
    g.set_defaults(func=cmd_generate)


def _add_provision(sub: Any) -> None:
    """The `provision` command: push to Grafana."""
    pv = sub.add_parser("provision", help="push dashboards and datasources to a running tool")
    pvsub = pv.add_subparsers(dest="provision_target", required=True)
    pg = pvsub.add_parser(
        "grafana", help="create or update folder, datasources and dashboards (token: GRAFANA_TOKEN)"
    )
    pg.add_argument("config")
    pg.add_argument("--url", required=True, help="Grafana base URL, such as http://grafana:3000")
    pg.add_argument("--prometheus-url", default="http://localhost:9090", help="Prometheus datasource URL")
    pg.add_argument("--database-url", help="collector database; PostgreSQL adds a read-only SQL datasource")
    pg.add_argument(
        "--no-alerting", action="store_true", help="skip Grafana-managed alerting (Alertmanager users)"
    )
    pg.set_defaults(func=cmd_provision_grafana)


def _add_silence(sub: Any) -> None:
    """The `silence` command: Alertmanager silences."""
    si = sub.add_parser("silence", help="manage Alertmanager silences")
    ssub = si.add_subparsers(dest="silence_command", required=True)
    sc = ssub.add_parser("create", help="mute one model's alerts, e.g. during a retrain")
    sc.add_argument("--model", required=True)
    sc.add_argument("--duration", required=True, help="such as 2h or 30m")
    sc.add_argument("--comment", required=True, help="why: shown to whoever looks at the silence")
    sc.add_argument("--author", help="default: the current user")
    sc.add_argument(
        "--alertmanager",
        default=os.environ.get("DRIFTLINE_ALERTMANAGER_URL", "http://127.0.0.1:9093"),
        help="Alertmanager URL (env DRIFTLINE_ALERTMANAGER_URL)",
    )
    sc.set_defaults(func=cmd_silence_create)


def _read_flags(p: argparse.ArgumentParser) -> None:
    """Where `models` and `status` read: a running collector with a read token, or its database."""
    p.add_argument("--collector", default=os.environ.get("DRIFTLINE_URL", "http://127.0.0.1:8650"),
                   help="collector URL (env DRIFTLINE_URL, default http://127.0.0.1:8650)")  # fmt: skip
    p.add_argument("--token", help="a read (or admin) token (env DRIFTLINE_READ_TOKEN)")
    p.add_argument("--database-url", help="read the collector's database instead (no collector needed)")
    p.add_argument("--config", help="the spec, for SLO budgets when reading the database")


def _add_models(sub: Any) -> None:
    """The `models` command: every model at a glance."""
    m = sub.add_parser("models", help="every model: versions, records, newest window, drifting features, accuracy")
    _read_flags(m)
    m.set_defaults(func=cmd_models)


def _add_status(sub: Any) -> None:
    """The `status` command: one model at a glance."""
    st = sub.add_parser("status", help="one model at a glance: drift, accuracy, data quality, SLO budgets, alerts")
    st.add_argument("model")
    _read_flags(st)
    st.set_defaults(func=cmd_status)


def _add_reference(sub: Any) -> None:
    """The `reference` command: upload a model's reference from a file."""
    r = sub.add_parser("reference", help="a model's reference (the baseline drift is measured against)")
    rsub = r.add_subparsers(dest="reference_command", required=True)
    up = rsub.add_parser("upload", help="fit and store a reference from a CSV or Parquet file; say what was fitted")
    up.add_argument("file", help="CSV, TSV or Parquet file: one column per drift feature, named as in the spec")
    up.add_argument("--model", required=True, help="the spec's model the reference is for")
    up.add_argument("--version", help="the model version it applies to (default: every version)")
    up.add_argument("--config", help="spec file; env DRIFTLINE_CONFIG")
    up.add_argument("--score-column", default="score", help="positive-class scores, for CBPE (default score)")
    up.add_argument("--label-column", default="label", help="true labels, for CBPE (default label)")
    up.add_argument("--database-url", help="store into this database (default: DRIFTLINE_DATABASE_URL or sqlite)")
    up.add_argument("--collector", help="send to a running collector at this URL instead of a database")
    up.add_argument("--token", help="ingest token for --collector (env DRIFTLINE_TOKEN)")
    up.set_defaults(func=cmd_reference_upload)


def _add_report(sub: Any) -> None:
    """The `report` command: the HTML report."""
    rep = sub.add_parser("report", help="write a self-contained HTML report of one model")
    rep.add_argument("--model", required=True)
    rep.add_argument("--out", default="report.html", help="output file (default report.html)")
    rep.add_argument("--config", help="spec file; env DRIFTLINE_CONFIG")
    rep.add_argument("--database-url", help="collector database (default: DRIFTLINE_DATABASE_URL or sqlite)")
    rep.add_argument("--at", help="figures as of this ISO-8601 time (default now), for reproducible reports")
    rep.set_defaults(func=cmd_report)


def _add_demo(sub: Any) -> None:
    """The `demo` command: the end-to-end demo."""
    d = sub.add_parser("demo", help="run the end-to-end demo on an embedded SQLite store")
    d.add_argument("--out", default="driftline-out", help="where generated artifacts go")
    d.add_argument("--duration", type=float, default=40.0, help="seconds of simulated traffic")
    # the database always stays in --out now; the flag is still accepted from older scripts
    d.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    d.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per job, each declared by its own `_add_*` function."""
    p = argparse.ArgumentParser(prog="driftline", description="Model monitoring and SLOs.")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    sub = p.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    _add_token(sub)
    _add_check(sub)
    _add_generate(sub)
    _add_provision(sub)
    _add_silence(sub)
    rp.add_replay_parser(sub, cmd_replay)
    _add_reference(sub)
    events.add_parser(sub)
    delete.add_parser(sub)
    _add_models(sub)
    _add_status(sub)
    _add_report(sub)
    _add_demo(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the command; a bad spec is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except SpecError as exc:
        print(str(exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
