"""A local stand-in for Grafana's HTTP API that checks every request against Grafana's OpenAPI description.

No Grafana server can run here, so `FakeGrafana` is a real HTTP server (stdlib, 127.0.0.1, a free port)
that does what matters for provisioning:

- **Validates every request** against ``shared/specs/grafana-openapi3.json`` (Grafana 9.5): the method and
  path must be an operation of the description (server base ``/api``; the alerting-provisioning paths are
  written there as ``/api/v1/provisioning/...`` and are served at exactly that URL, not under a second
  ``/api``), path parameters must have their declared types, query parameters must be declared ones of the
  declared types, and the JSON body must validate against the operation's request schema with every
  ``$ref`` resolved to ``components``. Request schemas are *closed*: a property the schema does not
  declare is an error. Grafana itself ignores unknown fields, which is how a typo (``folderUID`` for
  ``folderUid``) would go unnoticed against a real server. A failure answers 400 (404/405 for an unknown
  path or method) with the validation error and is recorded in `errors`, which the tests assert empty.
  Where the 2023 description contradicts the Go type Grafana decodes the JSON into, so that a body the
  description allows is one Grafana refuses, the schema is corrected (`MENDS`, each with its source) and
  the literal reading is refused, as Grafana refuses it.
- **Keeps state like Grafana**: folders (uid, id, version), datasources (uid, id, version, secrets kept
  apart and reported as ``secureJsonFields``), dashboards (uid -> id, version incremented on every
  save, even an identical one, as Grafana does; optimistic-locking 412s), search, annotations, and the
  alerting provisioning objects: contact points (secure settings answered as ``[REDACTED]``), mute
  timings, the policy tree (its receivers and mute timings must exist when `strict_references` is set),
  rule groups whose PUT creates, updates and deletes the group's rules (a rule's save count moves only
  when its content changes), and alert rules, whose titles are unique within a folder as Grafana required
  until 2025 (grafana/grafana#102067).
- Requires ``Authorization: Bearer <token>`` with its token, as a Grafana service account token is used.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from jsonschema import Draft4Validator

ROOT = Path(__file__).resolve().parent.parent
SPEC = Path(
    os.environ.get("GRAFANA_OPENAPI_SPEC", ROOT.parent / "shared" / "specs" / "grafana-openapi3.json")
)
NOW = "2024-01-01T00:00:00Z"


class Reply(Exception):
    """Answer the request with this status and JSON body."""

    def __init__(self, status: int, body: Any = None) -> None:
        super().__init__(status, body)
        self.status, self.body = status, body


def _fail(code: int, message: str, **extra: Any) -> Reply:
    return Reply(code, {"message": message, **extra})


# ------------------------------------------------------------------------------------------------
# The OpenAPI description: routes and validators.


@dataclass(frozen=True)
class Operation:
    method: str
    spec_path: str  # as written in the description
    url: str  # where the server answers it
    regex: re.Pattern[str]
    literals: int  # literal segments: the more, the more specific
    op: dict[str, Any]
    params: tuple[dict[str, Any], ...]

    @property
    def operation_id(self) -> str:
        return str(self.op.get("operationId", f"{self.method} {self.spec_path}"))


#: A Prometheus duration as github.com/prometheus/common/model.Duration parses it ("0s", "5m", "1h30m").
_PROM_DURATION = {
    "type": "string",
    "minLength": 1,
    "pattern": r"^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$",
}
_CLOCK = {"type": "string", "pattern": r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"}

#: Corrections to the description: (schema, property or None for the whole schema) -> the schema of what
#: Grafana's Go type decodes. Without them the description accepts bodies Grafana refuses, and refuses the
#: ones it documents.
MENDS: dict[tuple[str, str | None], dict[str, Any]] = {
    # `For model.Duration` (pkg/services/ngalert/api/tooling/definitions/provisioning_alert_rules.go):
    # prometheus/common's Duration reads JSON as a string ("5m"; the docs' example sends "for": "5m").
    # The description merged it with Grafana's integer Duration of relativeTimeRange.
    ("ProvisionedAlertRule", "for"): _PROM_DURATION,
    ("AlertRuleExport", "for"): _PROM_DURATION,
    ("AlertRuleGroupExport", "interval"): _PROM_DURATION,
    # `Model map[string]any` of the file export, described as an object with no properties allowed.
    ("AlertQueryExport", "model"): {"type": "object"},
    # definitions.ObjectMatchers.UnmarshalJSON reads `[][3]string`: [["severity", "=", "page"]].
    ("ObjectMatchers", None): {
        "type": "array",
        "items": {
            "type": "array",
            "minItems": 3,
            "maxItems": 3,
            "items": [
                {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
                {"enum": ["=", "!=", "=~", "!~"]},
                {"type": "string"},
            ],
        },
    },
    # alertmanager timeinterval.TimeRange.UnmarshalJSON reads {"start_time": "HH:MM", "end_time": "HH:MM"}.
    ("TimeRange", None): {
        "type": "object",
        "properties": {"start_time": _CLOCK, "end_time": _CLOCK},
        "required": ["start_time", "end_time"],
    },
}


def _mend(components: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(components)
    schemas = out.get("schemas", {})
    for (name, prop), schema in MENDS.items():
        if name not in schemas:
            continue
        if prop is None:
            schemas[name] = copy.deepcopy(schema)
        else:
            schemas[name].setdefault("properties", {})[prop] = copy.deepcopy(schema)
    return out


def _close(schema: Any) -> Any:
    """A copy where every object schema that lists properties forbids the ones it does not list.

    It also mends a defect of this description that rejects valid requests: enums generated from
    a comma-separated list keep the spaces (`' webhook'`), so enum strings are stripped.
    """
    if isinstance(schema, list):
        return [_close(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _close(v) for k, v in schema.items()}
    if isinstance(out.get("enum"), list):
        out["enum"] = [e.strip() if isinstance(e, str) else e for e in out["enum"]]
    if "properties" in out and "additionalProperties" not in out and "allOf" not in out:
        out["additionalProperties"] = False
    if "allOf" in schema:  # members of an allOf see only their own properties: leave them open
        out["allOf"] = schema["allOf"]
    return out


class OpenAPI:
    """Grafana's OpenAPI 3 description, compiled into routes and request validators."""

    def __init__(self, path: Path = SPEC) -> None:
        self.doc = json.loads(path.read_text())
        base = self.doc.get("servers", [{"url": ""}])[0]["url"].rstrip("/")
        self.closed_components = _close(_mend(self.doc.get("components", {})))
        self.routes: list[Operation] = []
        for spec_path, item in self.doc["paths"].items():
            # The quirk: alerting provisioning paths already carry the /api base.
            url = spec_path if spec_path.startswith(base + "/") else base + spec_path
            segments = url.strip("/").split("/")
            pattern = "/".join(
                f"(?P<{s[1:-1]}>[^/]+)" if s.startswith("{") and s.endswith("}") else re.escape(s)
                for s in segments
            )
            literals = sum(not s.startswith("{") for s in segments)
            shared = tuple(item.get("parameters", []))
            for method, op in item.items():
                if method == "parameters":
                    continue
                self.routes.append(
                    Operation(
                        method.upper(),
                        spec_path,
                        url,
                        re.compile(f"^/{pattern}$"),
                        literals,
                        op,
                        shared + tuple(op.get("parameters", [])),
                    )
                )
        self.routes.sort(key=lambda r: -r.literals)
        self._validators: dict[str, Draft4Validator] = {}

    def route(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        """The operation a request names, with its path parameters; Reply(404/405) when there is none."""
        allowed = set()
        for r in self.routes:
            m = r.regex.match(path)
            if not m:
                continue
            params = {k: unquote(v) for k, v in m.groupdict().items()}
            if not self._path_params_fit(r, params):
                continue
            if r.method == method:
                return r, params
            allowed.add(r.method)
        if allowed:
            raise _fail(
                405, f"{method} {path}: the description allows only {', '.join(sorted(allowed))} here"
            )
        raise _fail(404, f"{method} {path} is no operation of Grafana's OpenAPI description")

    def _path_params_fit(self, r: Operation, values: dict[str, str]) -> bool:
        path = [p for p in r.params if p.get("in") == "path" and p["name"] in values]
        return not any(self._scalar_errors(p.get("schema", {}), values[p["name"]]) for p in path)

    @staticmethod
    def _scalar_errors(schema: dict[str, Any], raw: str) -> list[str]:
        kind = schema.get("type")
        if kind == "integer" and not re.fullmatch(r"-?\d+", raw):
            return [f"{raw!r} is not an integer"]
        if kind == "boolean" and raw not in ("true", "false"):
            return [f"{raw!r} is not true or false"]
        if "enum" in schema and raw not in schema["enum"]:
            return [f"{raw!r} is not one of {schema['enum']}"]
        return []

    def query_errors(self, r: Operation, query: dict[str, list[str]]) -> list[str]:
        """Query parameters that the operation does not declare, or whose values have the wrong type."""
        declared = {p["name"]: p for p in r.params if p.get("in") == "query"}
        errors = []
        for name, values in query.items():
            p = declared.get(name)
            if p is None:
                errors.append(f"query parameter {name!r} is not declared (declared: {sorted(declared)})")
                continue
            schema = p.get("schema", {})
            if schema.get("type") != "array" and len(values) > 1:
                errors.append(f"query parameter {name!r} is given {len(values)} times but is not an array")
            item = schema.get("items", {}) if schema.get("type") == "array" else schema
            errors += [f"query parameter {name!r}: {e}" for v in values for e in self._scalar_errors(item, v)]
        for name, p in declared.items():
            if p.get("required") and name not in query:
                errors.append(f"required query parameter {name!r} is missing")
        return errors

    def body_errors(self, r: Operation, body: Any, has_body: bool) -> list[str]:
        """Schema violations of the JSON body, or a body where none is expected, or a missing one."""
        rb = r.op.get("requestBody")
        if rb is None:
            return ["this operation takes no body"] if has_body else []
        if not has_body:
            return ["a JSON body is required"] if rb.get("required") else []
        schema = rb.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return [f"only {sorted(rb.get('content', {}))} bodies are described here"]
        return self._errors(schema, body)

    def schema_errors(self, name: str, instance: Any) -> list[str]:
        """Violations of `instance` against components/schemas/`name`, closed and mended as bodies are."""
        if name not in self.closed_components.get("schemas", {}):
            raise KeyError(f"{name} is no schema of Grafana's OpenAPI description")
        return self._errors({"$ref": f"#/components/schemas/{name}"}, instance)

    def _errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            validator = Draft4Validator({**schema, "components": self.closed_components})
            self._validators[key] = validator
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
        ]


@functools.cache
def _default_spec() -> OpenAPI:
    return OpenAPI()


# ------------------------------------------------------------------------------------------------
# Grafana's state.


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


@dataclass
class State:
    """What a Grafana organisation holds, as far as provisioning is concerned."""

    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    saves: dict[str, int] = field(default_factory=dict)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    contact_points: dict[str, dict[str, Any]] = field(default_factory=dict)
    policy_tree: dict[str, Any] = field(
        default_factory=lambda: {
            "receiver": "grafana-default-email",
            "group_by": ["grafana_folder", "alertname"],
        }
    )
    contact_point_secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    mute_timings: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (folder uid, group) -> {"interval": seconds, "rules": [rule uid, ...]}
    rule_groups: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    alert_rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    rule_saves: dict[str, int] = field(default_factory=dict)

    def next_id(self) -> int:
        return next(self.ids)


Handler = Callable[["FakeGrafana", dict[str, str], dict[str, list[str]], Any], tuple[int, Any]]
HANDLERS: dict[str, Handler] = {}


def handles(*operation_ids: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for op in operation_ids:
            HANDLERS[op] = fn
        return fn

    return register


class FakeGrafana:
    """The fake server: `url`, `token`, `state`, `requests` (method, path, body) and `errors`."""

    def __init__(
        self, token: str = "glsa_fake_token", spec: OpenAPI | None = None, *, strict_references: bool = False
    ) -> None:
        self.token = token
        self.strict_references = strict_references
        self.api = spec or _default_spec()
        self.state = State()
        self.requests: list[tuple[str, str, Any]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            wbufsize = 1 << 16  # headers and body leave in one write: no delayed-ACK stall per request

            def _serve(self) -> None:
                status, body = fake.handle(self.command, self.path, dict(self.headers), self._read())
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _read(self) -> bytes | None:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else None

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeGrafana:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw: bytes | None
    ) -> tuple[int, Any]:
        """Validate one request, then apply it to the state."""
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query, keep_blank_values=True)
        with self._lock:
            try:
                body = None if raw is None else json.loads(raw)
            except ValueError as exc:
                return self._invalid(method, parts.path, 400, f"the body is not JSON: {exc}")
            self.requests.append((method, parts.path, body))
            auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
            if auth != f"Bearer {self.token}":
                return self._invalid(method, parts.path, 401, "invalid API key")
            try:
                op, params = self.api.route(method, parts.path)
            except Reply as r:
                return self._invalid(method, parts.path, r.status, r.body["message"])
            problems = self.api.query_errors(op, query) + self.api.body_errors(op, body, raw is not None)
            if problems:
                return self._invalid(method, parts.path, 400, f"{op.operation_id}: " + "; ".join(problems))
            handler = HANDLERS.get(op.operation_id)
            if handler is None:
                return self._invalid(method, parts.path, 501, f"{op.operation_id} is described but not faked")
            try:
                return handler(self, params, query, copy.deepcopy(body))
            except Reply as r:
                return r.status, r.body
            except Exception as exc:  # a bug in the fake: fail the test, answer like a server would
                return self._invalid(method, parts.path, 500, f"{type(exc).__name__}: {exc}")

    def _invalid(self, method: str, path: str, status: int, message: str) -> tuple[int, Any]:
        self.errors.append(f"{method} {path}: {status} {message}")
        return status, {"message": message}

    # Helpers the tests read.

    def dashboard_versions(self) -> dict[str, int]:
        """Dashboard uid -> its current version."""
        return {uid: d["version"] for uid, d in self.state.dashboards.items()}


# --- folders -------------------------------------------------------------------------------------


def _folder_out(f: dict[str, Any]) -> dict[str, Any]:
    return {
        **f,
        "url": f"/dashboards/f/{f['uid']}/{_slug(f['title'])}",
        "hasAcl": False,
        "canSave": True,
        "canEdit": True,
        "canAdmin": True,
        "canDelete": True,
        "created": NOW,
        "updated": NOW,
        "createdBy": "admin",
        "updatedBy": "admin",
    }


@handles("getFolders")
def _get_folders(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in g.state.folders.values()]


@handles("getFolderByUID")
def _get_folder(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    f = g.state.folders.get(p["folder_uid"])
    if f is None:
        raise _fail(404, "folder not found", status="not-found")
    return 200, _folder_out(f)


@handles("createFolder")
def _create_folder(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    title = (body.get("title") or "").strip()
    if not title:
        raise _fail(400, "folder title cannot be empty")
    uid = body.get("uid") or uuid.uuid4().hex[:14]
    if uid in g.state.folders:
        raise _fail(409, "a folder with the same uid already exists")
    if any(f["title"] == title for f in g.state.folders.values()):
        raise _fail(409, "a folder or dashboard in the general folder with the same name already exists")
    g.state.folders[uid] = {"id": g.state.next_id(), "uid": uid, "title": title, "version": 1}
    return 200, _folder_out(g.state.folders[uid])


@handles("updateFolder")
def _update_folder(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    f = g.state.folders.get(p["folder_uid"])
    if f is None:
        raise _fail(404, "folder not found")
    if not body.get("overwrite") and body.get("version") not in (None, f["version"]):
        raise _fail(412, "the folder has been changed by someone else", status="version-mismatch")
    if body.get("title"):
        f["title"] = body["title"]
    f["version"] += 1
    return 200, _folder_out(f)


# --- datasources ---------------------------------------------------------------------------------

_DS_FIELDS = (
    "name",
    "type",
    "url",
    "access",
    "user",
    "database",
    "basicAuth",
    "basicAuthUser",
    "isDefault",
    "withCredentials",
    "jsonData",
)


def _ds_out(g: FakeGrafana, ds: dict[str, Any]) -> dict[str, Any]:
    secure = {k: True for k in g.state.secrets.get(ds["uid"], {})}
    return {**ds, "orgId": 1, "typeLogoUrl": "", "readOnly": False, "secureJsonFields": secure}


def _ds_reply(g: FakeGrafana, ds: dict[str, Any], message: str) -> tuple[int, Any]:
    return 200, {"datasource": _ds_out(g, ds), "id": ds["id"], "message": message, "name": ds["name"]}


@handles("getDataSources")
def _list_ds(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    return 200, [_ds_out(g, ds) for ds in g.state.datasources.values()]


@handles("getDataSourceByUID")
def _get_ds(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    ds = g.state.datasources.get(p["uid"])
    if ds is None:
        raise _fail(404, "Data source not found")
    return 200, _ds_out(g, ds)


@handles("addDataSource")
def _add_ds(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    if not body.get("name") or not body.get("type"):
        raise _fail(400, "bad request data: name and type are required")
    uid = body.get("uid") or uuid.uuid4().hex[:14]
    if uid in g.state.datasources or any(d["name"] == body["name"] for d in g.state.datasources.values()):
        raise _fail(409, "data source with the same name or uid already exists")
    ds: dict[str, Any] = {
        "id": g.state.next_id(),
        "uid": uid,
        "version": 1,
        "access": "proxy",
        "url": "",
        "user": "",
        "database": "",
        "basicAuth": False,
        "isDefault": False,
        "withCredentials": False,
        "jsonData": {},
    }
    ds |= {k: body[k] for k in _DS_FIELDS if k in body}
    g.state.datasources[uid] = ds
    g.state.secrets[uid] = dict(body.get("secureJsonData") or {})
    return _ds_reply(g, ds, "Datasource added")


@handles("updateDataSourceByUID")
def _update_ds(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    ds = g.state.datasources.get(p["uid"])
    if ds is None:
        raise _fail(404, "Data source not found")
    if not body.get("name") or not body.get("type"):
        raise _fail(400, "bad request data: name and type are required")
    if body.get("version") not in (None, ds["version"]):
        raise _fail(409, "Datasource has already been updated by someone else. Please reload and try again")
    if any(d["name"] == body["name"] and u != p["uid"] for u, d in g.state.datasources.items()):
        raise _fail(409, "data source with the same name already exists")
    # An update replaces every field (jsonData whole); secrets not sent are kept.
    for k in _DS_FIELDS:
        ds[k] = body.get(k, {} if k == "jsonData" else False if k in ("basicAuth", "isDefault") else "")
    g.state.secrets[p["uid"]] = g.state.secrets.get(p["uid"], {}) | dict(body.get("secureJsonData") or {})
    ds["version"] += 1
    return _ds_reply(g, ds, "Datasource updated")


# --- dashboards and search -----------------------------------------------------------------------


def _meta(g: FakeGrafana, d: dict[str, Any]) -> dict[str, Any]:
    folder = g.state.folders.get(d["folderUid"]) if d["folderUid"] else None
    slug = _slug(d["dashboard"]["title"])
    return {
        "type": "db",
        "slug": slug,
        "url": f"/d/{d['dashboard']['uid']}/{slug}",
        "version": d["version"],
        "folderUid": d["folderUid"],
        "folderId": folder["id"] if folder else 0,
        "folderTitle": folder["title"] if folder else "General",
        "canSave": True,
        "canEdit": True,
        "canAdmin": True,
        "canStar": True,
        "canDelete": True,
        "created": NOW,
        "updated": NOW,
        "createdBy": "admin",
        "updatedBy": "admin",
        "provisioned": False,
        "hasAcl": False,
        "isFolder": False,
    }


@handles("getDashboardByUID")
def _get_dashboard(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    d = g.state.dashboards.get(p["uid"])
    if d is None:
        raise _fail(404, "Dashboard not found")
    return 200, {"dashboard": d["dashboard"], "meta": _meta(g, d)}


@handles("postDashboard")
def _post_dashboard(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    model = body.get("dashboard")
    if not isinstance(model, dict) or not str(model.get("title", "")).strip():
        raise _fail(400, "Dashboard title cannot be empty")
    folder_uid = body.get("folderUid") or ""
    if folder_uid and folder_uid not in g.state.folders:
        raise _fail(400, "folder not found")
    uid = model.get("uid") or uuid.uuid4().hex[:14]
    if not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid):
        raise _fail(400, "uid contains illegal characters or is longer than 40")
    current = g.state.dashboards.get(uid)
    if current is not None and not body.get("overwrite") and model.get("version") != current["version"]:
        raise _fail(412, "The dashboard has been changed by someone else", status="version-mismatch")
    for other_uid, other in g.state.dashboards.items():
        same_place = other["folderUid"] == folder_uid and other["dashboard"]["title"] == model["title"]
        if other_uid != uid and same_place:
            raise _fail(
                412, "A dashboard with the same name in the folder already exists", status="name-exists"
            )
    stored = copy.deepcopy(model)
    stored["uid"] = uid
    stored["id"] = current["dashboard"]["id"] if current else g.state.next_id()
    stored["version"] = current["version"] + 1 if current else 1
    g.state.dashboards[uid] = {"dashboard": stored, "version": stored["version"], "folderUid": folder_uid}
    g.state.saves[uid] = g.state.saves.get(uid, 0) + 1
    slug = _slug(model["title"])
    return 200, {
        "id": stored["id"],
        "uid": uid,
        "url": f"/d/{uid}/{slug}",
        "status": "success",
        "version": stored["version"],
        "slug": slug,
    }


@handles("deleteDashboardByUID")
def _delete_dashboard(
    g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any
) -> tuple[int, Any]:
    d = g.state.dashboards.pop(p["uid"], None)
    if d is None:
        raise _fail(404, "Dashboard not found")
    title = d["dashboard"]["title"]
    return 200, {"title": title, "message": f"Dashboard {title} deleted", "id": d["dashboard"]["id"]}


@handles("search")
def _search(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    hits = []
    want_tags = set(q.get("tag", []))
    if q.get("type", ["dash-db"])[0] == "dash-db":
        for uid, d in sorted(g.state.dashboards.items()):
            model = d["dashboard"]
            text = q.get("query", [""])[0].lower()
            if not want_tags <= set(model.get("tags", [])) or text not in model["title"].lower():
                continue
            if "dashboardUIDs" in q and uid not in q["dashboardUIDs"]:
                continue
            meta = _meta(g, d)
            hits.append(
                {
                    "id": model["id"],
                    "uid": uid,
                    "title": model["title"],
                    "uri": f"db/{meta['slug']}",
                    "url": meta["url"],
                    "slug": meta["slug"],
                    "type": "dash-db",
                    "tags": model.get("tags", []),
                    "isStarred": False,
                    "folderId": meta["folderId"],
                    "folderUid": d["folderUid"],
                    "folderTitle": meta["folderTitle"],
                    "sortMeta": 0,
                }
            )
    return 200, hits


# --- annotations ---------------------------------------------------------------------------------


@handles("postAnnotation")
def _post_annotation(
    g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any
) -> tuple[int, Any]:
    ann = {"id": g.state.next_id(), **body}
    g.state.annotations.append(ann)
    return 200, {"id": ann["id"], "message": "Annotation added"}


@handles("getAnnotations")
def _get_annotations(
    g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any
) -> tuple[int, Any]:
    tags = set(q.get("tags", []))
    return 200, [a for a in g.state.annotations if tags <= set(a.get("tags") or [])]


# --- alerting provisioning -----------------------------------------------------------------------

#: Grafana's own contact point, present in every organisation.
BUILTIN_CONTACT_POINTS = frozenset({"grafana-default-email"})
REDACTED = "[REDACTED]"
#: Settings Grafana stores encrypted and answers as "[REDACTED]", per integration type.
SECURE_SETTINGS = {
    "pagerduty": ("integrationKey",),
    "opsgenie": ("apiKey",),
    "slack": ("url", "token"),
    "webhook": ("password", "authorization_credentials"),
}
#: Settings without which Grafana refuses the integration (one of each tuple).
REQUIRED_SETTINGS = {
    "pagerduty": (("integrationKey",),),
    "opsgenie": (("apiKey",),),
    "slack": (("url", "token"),),
    "webhook": (("url",),),
    "email": (("addresses",),),
}
#: Fields Grafana sets on a stored rule; the rest is the rule's content.
_RULE_SERVER_FIELDS = ("id", "updated", "provenance")


def _cp_out(g: FakeGrafana, uid: str) -> dict[str, Any]:
    cp = copy.deepcopy(g.state.contact_points[uid])
    for key in g.state.contact_point_secrets.get(uid, {}):
        cp["settings"][key] = REDACTED
    return cp


def _store_cp(g: FakeGrafana, uid: str, body: dict[str, Any]) -> None:
    kind = body["type"]
    settings = dict(body.get("settings") or {})
    previous = g.state.contact_point_secrets.get(uid, {})
    secrets = {}
    for key in SECURE_SETTINGS.get(kind, ()):
        if key not in settings:
            continue
        value = settings.pop(key)
        secrets[key] = previous.get(key) if value == REDACTED else value
    for options in REQUIRED_SETTINGS.get(kind, ()):
        if not any(settings.get(k) or secrets.get(k) for k in options):
            raise _fail(400, f"{kind} integration: {' or '.join(options)} is required")
    g.state.contact_points[uid] = {**body, "uid": uid, "settings": settings}
    g.state.contact_point_secrets[uid] = secrets


def _tree_names(route: dict[str, Any], key: str) -> set[str]:
    found = {route[key]} if key == "receiver" and route.get(key) else set(route.get(key) or [])
    for child in route.get("routes") or []:
        found |= _tree_names(child, key)
    return found


@handles("RouteGetContactpoints")
def _get_cps(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    name = q.get("name", [None])[0]
    return 200, [
        _cp_out(g, uid) for uid, c in g.state.contact_points.items() if name is None or c.get("name") == name
    ]


@handles("RoutePostContactpoints")
def _post_cp(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    uid = body.get("uid") or uuid.uuid4().hex[:14]
    if uid in g.state.contact_points:
        raise _fail(400, "contact point with this uid already exists")
    _store_cp(g, uid, body)
    return 202, _cp_out(g, uid)


@handles("RoutePutContactpoint")
def _put_cp(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    if p["UID"] not in g.state.contact_points:
        raise _fail(404, "contact point not found")
    _store_cp(g, p["UID"], body)
    return 202, {"message": "contactpoint updated"}


@handles("RouteDeleteContactpoints")
def _delete_cp(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    cp = g.state.contact_points.get(p["UID"])
    if cp is not None:
        same_name = [c for c in g.state.contact_points.values() if c.get("name") == cp.get("name")]
        if len(same_name) == 1 and cp.get("name") in _tree_names(g.state.policy_tree, "receiver"):
            raise _fail(409, "contact point is referenced by a notification policy")
        g.state.contact_points.pop(p["UID"])
        g.state.contact_point_secrets.pop(p["UID"], None)
    return 204, None


@handles("RouteGetPolicyTree")
def _get_policies(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    return 200, g.state.policy_tree


@handles("RoutePutPolicyTree")
def _put_policies(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    if g.strict_references:
        known = BUILTIN_CONTACT_POINTS | {c.get("name") for c in g.state.contact_points.values()}
        missing = sorted(_tree_names(body, "receiver") - known)
        if missing:
            raise _fail(400, f"receiver {missing[0]!r} does not exist")
        unknown = sorted(_tree_names(body, "mute_time_intervals") - set(g.state.mute_timings))
        if unknown:
            raise _fail(400, f"mute time interval {unknown[0]!r} does not exist")
    if not body.get("receiver"):
        raise _fail(400, "root route must specify a default receiver")
    g.state.policy_tree = body
    return 202, {"message": "policies updated"}


@handles("RouteGetMuteTimings")
def _get_mutes(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    return 200, list(g.state.mute_timings.values())


@handles("RouteGetMuteTiming")
def _get_mute(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    if p["name"] not in g.state.mute_timings:
        raise _fail(404, "mute timing not found")
    return 200, g.state.mute_timings[p["name"]]


@handles("RoutePostMuteTiming")
def _post_mute(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    name = body.get("name") or ""
    if not name:
        raise _fail(400, "missing name in mute time interval")
    if name in g.state.mute_timings:
        raise _fail(409, f"a mute timing named {name!r} already exists")
    g.state.mute_timings[name] = body
    return 201, body


@handles("RoutePutMuteTiming")
def _put_mute(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    if p["name"] not in g.state.mute_timings:
        raise _fail(404, "mute timing not found")
    if body.get("name") != p["name"]:
        raise _fail(400, "a mute timing cannot be renamed")
    g.state.mute_timings[p["name"]] = body
    return 200, body


@handles("RouteDeleteMuteTiming")
def _delete_mute(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    if p["name"] in _tree_names(g.state.policy_tree, "mute_time_intervals"):
        raise _fail(409, "mute timing is used by a notification policy")
    g.state.mute_timings.pop(p["name"], None)
    return 204, None


def _rule_content(rule: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rule.items() if k not in _RULE_SERVER_FIELDS}


def _check_title(g: FakeGrafana, folder: str, title: str, uid: str, leaving: set[str]) -> None:
    for other_uid, other in g.state.alert_rules.items():
        if other_uid in leaving or other_uid == uid:
            continue
        if other.get("folderUID") == folder and other.get("title") == title:
            raise _fail(
                409,
                f"conflicting alert rule found [rule_uid: {uid!r}, title: {title!r}, namespace_uid: {folder!r}]: "
                "rule title under the same organisation and folder should be unique",
            )


def _save_rule(g: FakeGrafana, rule: dict[str, Any]) -> str:
    """Store one rule; its save count moves only when its content changes. Returns what happened."""
    uid = rule["uid"]
    current = g.state.alert_rules.get(uid)
    if current is not None and _rule_content(current) == _rule_content({**rule, "uid": uid}):
        return "unchanged"
    g.state.alert_rules[uid] = {
        **rule,
        "uid": uid,
        "id": current["id"] if current else g.state.next_id(),
        "updated": NOW,
        "provenance": "api",
    }
    g.state.rule_saves[uid] = g.state.rule_saves.get(uid, 0) + 1
    return "created" if current is None else "updated"


def _group_out(g: FakeGrafana, folder: str, name: str) -> dict[str, Any]:
    meta = g.state.rule_groups[(folder, name)]
    rules = [g.state.alert_rules[u] for u in meta["rules"]]
    return {"title": name, "folderUid": folder, "interval": meta["interval"], "rules": rules}


def _leave_group(g: FakeGrafana, uid: str) -> None:
    for key, meta in list(g.state.rule_groups.items()):
        if uid in meta["rules"]:
            meta["rules"].remove(uid)
            if not meta["rules"]:
                del g.state.rule_groups[key]


@handles("RouteGetAlertRuleGroup")
def _get_group(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    if (p["FolderUID"], p["Group"]) not in g.state.rule_groups:
        raise _fail(404, "rule group not found")
    return 200, _group_out(g, p["FolderUID"], p["Group"])


@handles("RoutePutAlertRuleGroup")
def _put_group(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    folder, name = p["FolderUID"], p["Group"]
    if folder not in g.state.folders:
        raise _fail(400, "folder does not exist")
    interval = body.get("interval") or 60
    if interval % 10:
        raise _fail(400, f"interval {interval}s is not a multiple of the base interval 10s")
    rules = [dict(r) for r in body.get("rules") or []]
    key = (folder, name)
    before = list(g.state.rule_groups.get(key, {}).get("rules", []))
    for r in rules:
        r["uid"] = r.get("uid") or uuid.uuid4().hex[:14]
        if r.get("folderUID") != folder or r.get("ruleGroup") != name:
            raise _fail(
                400, f"rule {r['uid']!r} names folder {r.get('folderUID')!r} and group {r.get('ruleGroup')!r}"
            )
        owner = g.state.alert_rules.get(r["uid"])
        if owner is not None and (owner.get("folderUID"), owner.get("ruleGroup")) != key:
            raise _fail(400, f"rule {r['uid']!r} belongs to another rule group")
    uids = [r["uid"] for r in rules]
    if len(set(uids)) != len(uids):
        raise _fail(400, "rule uids repeat within the group")
    titles = [r.get("title") for r in rules]
    if len(set(titles)) != len(titles):
        raise _fail(409, "rule title under the same organisation and folder should be unique")
    for r in rules:
        _check_title(g, folder, str(r.get("title")), r["uid"], set(before))
    for uid in before:
        if uid not in uids:
            g.state.alert_rules.pop(uid, None)
    for r in rules:
        _save_rule(g, r)
    if rules:
        g.state.rule_groups[key] = {"interval": interval, "rules": uids}
    else:
        g.state.rule_groups.pop(key, None)
        return 200, {"title": name, "folderUid": folder, "interval": interval, "rules": []}
    return 200, _group_out(g, folder, name)


@handles("RouteGetAlertRules")
def _get_rules(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    return 200, list(g.state.alert_rules.values())


@handles("RouteGetAlertRule")
def _get_rule(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    rule = g.state.alert_rules.get(p["UID"])
    if rule is None:
        raise _fail(404, "rule not found")
    return 200, rule


@handles("RoutePostAlertRule", "RoutePutAlertRule")
def _put_rule(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    uid = p.get("UID") or body.get("uid") or uuid.uuid4().hex[:14]
    if "UID" in p and uid not in g.state.alert_rules:
        raise _fail(404, "rule not found")
    if "UID" not in p and uid in g.state.alert_rules:
        raise _fail(409, f"a rule with uid {uid!r} already exists")
    folder = body.get("folderUID")
    if folder not in g.state.folders:
        raise _fail(400, "folder does not exist")
    _check_title(g, folder, str(body.get("title")), uid, set())
    key = (folder, body["ruleGroup"])
    previous = g.state.alert_rules.get(uid)
    if previous is not None and (previous.get("folderUID"), previous.get("ruleGroup")) != key:
        _leave_group(g, uid)
    _save_rule(g, {**body, "uid": uid})
    meta = g.state.rule_groups.setdefault(key, {"interval": 60, "rules": []})
    if uid not in meta["rules"]:
        meta["rules"].append(uid)
    return (200 if "UID" in p else 201), g.state.alert_rules[uid]


@handles("RouteDeleteAlertRule")
def _delete_rule(g: FakeGrafana, p: dict[str, str], q: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    if g.state.alert_rules.pop(p["UID"], None) is not None:
        _leave_group(g, p["UID"])
    return 204, None
