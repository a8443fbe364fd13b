"""The audit log against a real collector process on SQLite and PostgreSQL: token creation and revocation (the
real `driftline token` commands), a reference upload, a privacy deletion and the spec loaded at start each
leave one entry naming who acted; GET /v1/audit reads them for admin tokens only, in linked pages and time
ranges; no token secret and no subject value lands in the log; an action that rolls back leaves no entry."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
import urllib.request
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from collector import auth, db, migrate
from sdk.redact import Redactor
from tests.conftest import Collector, cli, http

SUBJECT = "jane.doe@example.com"


def read_all(c: Collector, query: str = "", limit: int = 2) -> list[dict[str, Any]]:
    """Every entry, following the Link headers page by page."""
    out: list[dict[str, Any]] = []
    url: str | None = f"{c.url}/v1/audit?limit={limit}{query}"
    while url:
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {c.admin}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            page = json.loads(resp.read())
            link = resp.headers.get("Link")
        out += page
        url = re.match(r"<([^>]+)>", link).group(1) if link else None  # type: ignore[union-attr]
    return out


def test_admin_actions_are_audited_without_secrets(collector: Collector, tmp_path: Path) -> None:
    c = collector
    env = {"DRIFTLINE_DATABASE_URL": c.database_url}
    created = cli("token", "create", "--scope", "read", "--name", "ci reader", env=env)
    assert created.returncode == 0, created.stderr
    new_token = created.stdout.strip()
    new_id = new_token.split("_")[1]
    revoked = cli("token", "revoke", new_id, env=env)
    assert revoked.returncode == 0, revoked.stderr
    reference = {
        "model": "credit",
        "name": "training 2026-11",
        "columns": {"income": [float(i) for i in range(40)]},
    }
    status, answer = c.post("/v1/references", reference, token=c.admin)
    assert status == 200, answer
    record = {
        "id": "r-1",
        "ts": dt.datetime.now(dt.UTC).isoformat(),
        "features": {"income": 2.0, "email": SUBJECT},
    }
    assert (
        c.post("/v1/records", {"batch_id": "b1", "model": "credit", "version": "v1", "records": [record]})[0]
        == 200
    )
    status, answer = c.post("/v1/models/credit/deletions", {"subject_key": SUBJECT}, token=c.admin)
    assert status == 200 and answer["removed"]["records"] == 1, answer

    for token in (c.ingest, c.read):
        status, answer = c.get("/v1/audit", token=token)
        assert status == 403 and "admin" in answer["detail"], answer
    assert c.get("/v1/audit", token=new_token)[0] == 401  # revoked

    entries = read_all(c)
    assert len({e["id"] for e in entries}) == len(entries)  # pages neither repeat nor skip
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    assert entries == c.get("/v1/audit?limit=1000", token=c.admin)[1]
    by_action: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_action.setdefault(e["action"], []).append(e)
    assert set(by_action) == {
        "token.create",
        "token.revoke",
        "reference.upload",
        "records.delete",
        "spec.load",
    }
    admin_id = c.admin.split("_")[1]
    assert [e["params"]["token_id"] for e in by_action["token.create"]].count(new_id) == 1
    made = next(e for e in by_action["token.create"] if e["params"]["token_id"] == new_id)
    assert made["params"] == {"token_id": new_id, "name": "ci reader", "scope": "read", "project": "default"}
    assert made["token_id"] is None and made["actor"].startswith("local")
    assert by_action["token.revoke"][0]["params"] == {"token_id": new_id}
    upload = by_action["reference.upload"][0]
    assert (upload["token_id"], upload["model"], upload["params"]["name"]) == (
        admin_id,
        "credit",
        "training 2026-11",
    )
    deletion = by_action["records.delete"][0]
    assert (deletion["token_id"], deletion["params"]["by"], deletion["params"]["removed"]["records"]) == (
        admin_id,
        "subject_key",
        1,
    )
    load = by_action["spec.load"][0]
    assert load["actor"].startswith("collector@") and load["params"]["models"] == ["credit"]

    # no secret and no subject value, in the answer or in the table
    engine = db.make_engine(c.database_url)
    try:
        with engine.connect() as conn:
            stored = "\n".join(repr(tuple(r)) for r in conn.execute(select(db.table(db.AuditEntry))))
    finally:
        engine.dispose()
    hashed = Redactor(["email"], salt="driftline:credit").hash_value(SUBJECT)
    for text in (json.dumps(entries), stored):
        for token in (c.admin, c.ingest, c.read, new_token):
            assert token.rsplit("_", 1)[1] not in text
        assert SUBJECT not in text and hashed not in text and "r-1" not in text

    # time ranges and cursors
    newest = dt.datetime.fromisoformat(entries[0]["at"])
    since = urllib.parse.quote(newest.isoformat())
    assert [e["id"] for e in read_all(c, f"&since={since}")] == [
        e["id"] for e in entries if dt.datetime.fromisoformat(e["at"]) >= newest
    ]
    assert [e["id"] for e in read_all(c, f"&until={since}")] == [
        e["id"] for e in entries if dt.datetime.fromisoformat(e["at"]) < newest
    ]
    status, answer = c.get(f"/v1/audit?since={since}&until={since}", token=c.admin)
    assert status == 422 and "until" in json.dumps(answer), answer
    status, answer = c.get("/v1/audit?cursor=bm90LWEtY3Vyc29y", token=c.admin)
    assert status == 422 and "cursor" in json.dumps(answer), answer
    status, answer = c.get("/v1/audit?action=token.revoke", token=c.admin)
    assert status == 200 and [e["action"] for e in answer] == ["token.revoke"], answer
    assert http("GET", c.url + "/v1/audit?action=drop", token=c.admin)[0] == 422


@pytest.mark.parametrize("fail", [False, True])
def test_an_entry_is_written_in_the_actions_transaction(tmp_path: Path, fail: bool) -> None:
    """A token created in a transaction that rolls back leaves neither the token nor its entry."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'tx.db'}")
    migrate(engine)
    sessions = sessionmaker(engine)
    with pytest.raises(RuntimeError) if fail else nullcontext(), sessions.begin() as s:
        auth.create_token(s, scope="admin", name="rolled back")
        if fail:
            raise RuntimeError("the action failed after its entry was added")
    with sessions() as s:
        tokens = list(s.scalars(select(db.Token)))
        entries = list(s.scalars(select(db.AuditEntry)))
    assert len(tokens) == len(entries) == (0 if fail else 1)
    engine.dispose()
