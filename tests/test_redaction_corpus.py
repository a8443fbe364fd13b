"""Acceptance: a PII corpus sent through every field reaches no table, log line, response, /metrics or report.

The corpus is generated here (nothing in it is real): e-mails of varied shapes, phone numbers in
national formats of eight countries, Luhn-valid card numbers of several brands and lengths, US SSNs
in three spellings and IBANs of fifteen countries with check digits computed by ISO 7064 mod-97. Each
value goes through the SDK (features, a pii feature, slices, predictions, labels, record ids with
``hash_ids``), through direct HTTP as an older SDK would send it (a ``pii: true`` feature, nested JSON,
slices, predictions, labels, record ids, batch ids, the reference; the version, which must be refused)
and through `driftline replay` of a CSV. Then the collector evaluates, `driftline report` writes its
HTML, and every haystack is searched for each value and its digits-only and compact forms.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import random
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from sdk import Monitor
from sdk.redact import has_pii, iban_ok, luhn_ok
from tests.conftest import Collector, cli, start_collector

SALT = "corpus-test-salt-not-a-real-secret"
MODEL = "pii"
SPEC = """\
version: 1
models:
  - name: pii
    features:
      - {name: income, type: numeric}
      - {name: region, type: categorical}
      - {name: note, type: text}
      - {name: email, type: text, pii: true}
    prediction: {type: multiclass}
    slices: [region]
    drift: {window: 1h, metrics: [psi]}
"""


# ------------------------------------------------------------------------------------------ the corpus


def _luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


def _iban(rng: random.Random, country: str, length: int, letters: int = 0) -> str:
    """A random BBAN of the country's length (`letters` capitals first) with correct check digits."""
    bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(letters))
    bban += "".join(rng.choice("0123456789") for _ in range(length - 4 - letters))
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    return f"{country}{check:02d}{bban}"


def corpus() -> dict[str, list[str]]:
    """Kind -> values; every value is synthetic and every one is something `mask_text` must catch."""
    rng = random.Random(13)
    emails = [
        "jane.doe@example.com",
        "JOHN.SMITH@EXAMPLE.ORG",
        "first.last+newsletter@mail.example.co.uk",
        "obrien@example.ie",
        "x@ex.io",
        "user_name-99@sub.domain.example.net",
        "100.pct.valid@example.com",
        "a.b.c.d.e@example.travel",
        "customer.4711@example.de",
        "m%x@example.fr",
        "sales@example-shop.com",
        "z9@xn--mnchen-3ya.example",
        "jean-pierre.dupont@example.fr",
        "priya.sharma1990@example.in",
        "tanaka.h@example.co.jp",
        "dev+ci.bot@example.dev",
    ]
    phones = [
        "+1 (415) 555-2671",
        "(212) 555-0147",
        "415-555-0199",
        "415.555.0123",
        "+14155550188",
        "+44 20 7946 0958",
        "020 7946 0321",
        "+44 7700 900123",
        "+49 30 12345678",
        "030 98765432",
        "+49 (0)89 1234567",
        "+33 1 23 45 67 89",
        "01 42 68 53 00",
        "06.12.34.56.78",
        "+91 98765 43210",
        "098765 43211",
        "+81 3-1234-5678",
        "+55 11 91234-5678",
        "+34 612 345 678",
    ]
    cards_raw = [
        _luhn_complete(rng, "4", 16),  # Visa
        _luhn_complete(rng, "4", 13),  # Visa, 13 digits
        _luhn_complete(rng, "4", 19),  # Visa, 19 digits
        _luhn_complete(rng, "51", 16),  # Mastercard
        _luhn_complete(rng, "55", 16),
        _luhn_complete(rng, "2221", 16),  # Mastercard 2-series
        _luhn_complete(rng, "34", 15),  # Amex
        _luhn_complete(rng, "37", 15),
        _luhn_complete(rng, "6011", 16),  # Discover
        _luhn_complete(rng, "65", 16),
        _luhn_complete(rng, "3528", 16),  # JCB
        _luhn_complete(rng, "36", 14),  # Diners
        _luhn_complete(rng, "62", 19),  # UnionPay
        _luhn_complete(rng, "5", 16),
        _luhn_complete(rng, "4", 16),
        _luhn_complete(rng, "6", 16),
    ]
    cards = []
    for i, c in enumerate(cards_raw):
        if i % 3 == 1 and len(c) == 16:
            c = " ".join(c[j : j + 4] for j in range(0, 16, 4))
        elif i % 3 == 2 and len(c) == 16:
            c = "-".join(c[j : j + 4] for j in range(0, 16, 4))
        cards.append(c)
    ssns = []
    for i in range(15):
        area = rng.choice([a for a in range(1, 900) if a != 666])
        group, serial = rng.randint(1, 99), rng.randint(1, 9999)
        sep = ("-", " ", "")[i % 3]
        ssns.append(f"{area:03d}{sep}{group:02d}{sep}{serial:04d}")
    ibans_raw = [
        _iban(rng, "DE", 22),
        _iban(rng, "GB", 22, letters=4),
        _iban(rng, "FR", 27),
        _iban(rng, "ES", 24),
        _iban(rng, "IT", 27, letters=1),
        _iban(rng, "NL", 18, letters=4),
        _iban(rng, "BE", 16),
        _iban(rng, "CH", 21),
        _iban(rng, "AT", 20),
        _iban(rng, "PL", 28),
        _iban(rng, "SE", 24),
        _iban(rng, "NO", 15),
        _iban(rng, "PT", 25),
        _iban(rng, "IE", 22, letters=4),
        _iban(rng, "DK", 18),
    ]
    ibans = [
        " ".join(v[j : j + 4] for j in range(0, len(v), 4)) if i % 2 else v for i, v in enumerate(ibans_raw)
    ]
    return {"email": emails, "phone": phones, "card": cards, "ssn": ssns, "iban": ibans}


CORPUS = corpus()
VALUES = [v for vs in CORPUS.values() for v in vs]
KIND = {v: k for k, vs in CORPUS.items() for v in vs}


def needles(value: str) -> set[str]:
    """What must not appear: the value, its compact form and, for numbers, its digits alone."""
    out = {value, value.replace(" ", "")}
    if KIND[value] != "email":
        out.add(re.sub(r"\D", "", value))
    if KIND[value] == "email":
        out.add(value.lower())
    return {n for n in out if len(n) >= 7}


def test_the_corpus_is_what_it_claims_and_every_value_is_masked():
    assert len(VALUES) >= 80 and len(set(VALUES)) == len(VALUES)
    assert all(luhn_ok(re.sub(r"\D", "", c)) for c in CORPUS["card"])
    assert all(iban_ok(i.replace(" ", "")) for i in CORPUS["iban"])
    assert {len(re.sub(r"\D", "", c)) for c in CORPUS["card"]} >= {13, 14, 15, 16, 19}
    missed = [v for v in VALUES if not has_pii(v)]
    assert not missed, missed


# ------------------------------------------------------------------------------------------ sending


def _post(c: Collector, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
    """POST, waiting out a rate limit (429) rather than failing on it."""
    for _ in range(50):
        status, out = c.post(path, body, token=token)
        if status != 429:
            return status, out
        time.sleep(1.0)
    return status, out


def _send_sdk(c: Collector, now: float) -> None:
    """Every value as a record id (hashed ids), a feature, a pii feature, a slice, a prediction, a label."""
    mon = Monitor(
        MODEL,
        "sdk",
        c.url,
        c.ingest,
        sample_rate=1.0,
        redact=["email"],
        hash_ids=True,
        flush_interval=0.05,
    )
    plain = Monitor(
        MODEL, "sdk-plain", c.url, c.ingest, sample_rate=1.0, redact=["email"], flush_interval=0.05
    )
    try:
        for i, v in enumerate(VALUES):
            ts = now - 3600 + i
            features = {"income": float(i), "region": v, "note": f"note {v} end", "email": v}
            with mon.observe(ids=[v], features=features, slices={"region": v}, timestamp=ts) as obs:
                obs.predictions([v], scores=[0.5])
            mon.log_labels([v], [v])
            with plain.observe(
                ids=[f"user-{v}"], features=features, slices={"region": v}, timestamp=ts
            ) as obs:
                obs.predictions([f"class {v}"])
            plain.log_labels([f"user-{v}"], [f"label {v}"])
        assert mon.flush(30.0) and plain.flush(30.0)
        assert mon.dropped_total == 0 and plain.dropped_total == 0
    finally:
        mon.close(5.0)
        plain.close(5.0)


def _send_http(c: Collector, now: float, responses: list[str]) -> None:
    """What an older SDK or a hand-written client sends: nothing redacted."""
    for k in range(0, len(VALUES), 10):
        chunk = VALUES[k : k + 10]
        records = [
            {
                "id": v,
                "ts": now - 1800 + k + j,
                "features": {"income": 1.0, "region": v, "note": v, "email": v, "extra": {"nested": [v, 1]}},
                "prediction": v,
                "slices": {"region": v, "email": v},
            }
            for j, v in enumerate(chunk)
        ]
        status, out = _post(
            c, "/v1/records", {"batch_id": chunk[0], "model": MODEL, "version": "http", "records": records}
        )
        assert status == 200, out
        responses.append(json.dumps(out))
        labels = [{"id": v, "label": v} for v in chunk]
        status, out = _post(
            c, "/v1/labels", {"batch_id": f"labels {chunk[-1]}", "model": MODEL, "labels": labels}
        )
        assert status == 200, out
        responses.append(json.dumps(out))
    status, out = _post(
        c,
        "/v1/references",
        {
            "model": MODEL,
            "name": f"reference of {VALUES[0]}",
            "columns": {
                "income": [float(i) for i in range(len(VALUES))],
                "region": VALUES,
                "note": VALUES,
                "email": VALUES,
            },
        },
        token=c.admin,
    )
    assert status == 200, out
    responses.append(json.dumps(out))
    # the version labels /metrics series and names report lines: personal data there is refused outright
    record = {"id": "r-version", "ts": now, "features": {"income": 1.0}}
    refused = []
    for i, v in enumerate(VALUES):
        body = {"batch_id": f"version-{i}", "model": MODEL, "version": v, "records": [record]}
        status, out = _post(c, "/v1/records", body)
        refused.append(status)
        responses.append(json.dumps(out))
        stats = {
            "batch_id": f"stats-version-{i}",
            "model": MODEL,
            "version": v,
            "start": now - 10,
            "end": now,
            "ok": 1,
            "error": 0,
            "latency_bounds": [0.1],
            "latency_counts": [1, 0],
            "latency_sum": 0.01,
        }
        status, out = _post(c, "/v1/stats", stats)
        refused.append(status)
        responses.append(json.dumps(out))
    for v in VALUES[::8]:
        body = {"model": MODEL, "version": v, "columns": {"income": [1.0, 2.0]}}
        status, out = _post(c, "/v1/references", body, token=c.admin)
        refused.append(status)
        responses.append(json.dumps(out))
    assert set(refused) == {422}, refused


def _replay(c: Collector, spec: Path, tmp_path: Path, now: float) -> str:
    path = tmp_path / "logged.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "id", "prediction", "label", "income", "region", "note", "email"])
        for i, v in enumerate(VALUES):
            iso = dt.datetime.fromtimestamp(now - 900 + i, dt.UTC).isoformat()
            # a bare 9-digit SSN in a *numeric* column is a number, by design (README, "What is redacted")
            numeric = v if i % 5 == 0 and not re.fullmatch(r"\d{9}", v) else i
            w.writerow([iso, v, v, v, numeric, v, f"see {v}", v])
    done = cli(
        "replay",
        str(path),
        "--config",
        str(spec),
        "--model",
        MODEL,
        "--collector",
        c.url,
        "--token",
        c.ingest,
        "--admin-token",
        c.admin,
        "--label-column",
        "label",
        "--version",
        "csv",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def _dump(database_url: str) -> str:
    """Every row of every table, as text."""
    engine = create_engine(database_url)
    out: list[str] = []
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    out.append(f"{table}: " + json.dumps([str(x) for x in row]))
    finally:
        engine.dispose()
    return "\n".join(out)


def _leaks(haystacks: dict[str, str], values: Iterable[str]) -> dict[str, list[str]]:
    """Where each value (or a form of it) was found: haystack name -> values."""
    found: dict[str, list[str]] = {}
    for name, hay in haystacks.items():
        lowered = hay.lower()
        for v in values:
            if any(n.lower() in lowered for n in needles(v)):
                found.setdefault(name, []).append(v)
    return found


def test_no_corpus_value_reaches_storage_logs_responses_metrics_or_the_report(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTLINE_SALT", SALT)
    monkeypatch.setenv("DRIFTLINE_RATE_LIMIT_PER_TOKEN", "0")
    spec = tmp_path / "pii.yaml"
    spec.write_text(SPEC)
    c = start_collector(db_url, tmp_path, config=spec)
    responses: list[str] = []
    now = time.time() - 7200
    try:
        _send_sdk(c, now)
        _send_http(c, now, responses)
        replay_out = _replay(c, spec, tmp_path, now)
        c.evaluate()
        reads = [
            "/v1/models",
            "/v1/slos",
            *(
                f"/v1/models/{MODEL}/{what}"
                for what in (
                    "drift",
                    "performance",
                    "attributions",
                    "records?limit=1000",
                    "deploys",
                    "quality",
                )
            ),
            f"/v1/models/{MODEL}/slices/worst?min_support=1",
        ]
        for path in reads:
            status, out = c.get(path)
            assert status in (200, 404), (path, status, out)
            responses.append(json.dumps(out))
        # the data really arrived: hashed ids joined their labels, on every path
        status, recs = c.get(f"/v1/models/{MODEL}/records?limit=1000")
        assert status == 200
        by_version: dict[str, list[dict[str, Any]]] = {}
        for r in recs:
            by_version.setdefault(r["version"], []).append(r)
        assert {v: len(rs) for v, rs in by_version.items()} == {
            v: len(VALUES) for v in ("sdk", "sdk-plain", "http", "csv")
        }
        for rs in by_version.values():
            assert all(r["label"] is not None for r in rs), rs[:3]
            assert all(r["id"].startswith("sha256:") for r in rs), rs[:3]
        metrics = c.metrics()
        report = tmp_path / "report.html"
        done = cli(
            "report", "--model", MODEL, "--config", str(spec), "--database-url", db_url, "--out", str(report)
        )
        assert done.returncode == 0, done.stderr
        report_text = html.unescape(report.read_text()) + done.stdout + done.stderr
    finally:
        c.stop()
    haystacks = {
        "database": _dump(db_url),
        "collector log": c.log.read_text(errors="replace"),
        "API responses": "\n".join(responses),
        "/metrics": metrics,
        "report": report_text,
        "replay output": replay_out,
    }
    assert '"sha256:' in haystacks["database"] and "[EMAIL]" in haystacks["database"]
    leaks = _leaks(haystacks, VALUES)
    assert not leaks, {k: (len(v), v[:5]) for k, v in leaks.items()}


def test_the_collector_pass_hashes_like_the_sdk_is_idempotent_and_keeps_joins(tmp_path: Path) -> None:
    from collector.redaction import Redaction
    from collector.schemas import LabelBatch, RecordBatch
    from sdk.redact import Redactor
    from spec import load_spec

    spec_path = tmp_path / "pii.yaml"
    spec_path.write_text(SPEC)
    spec = load_spec(str(spec_path))
    sdk_side = Redactor(["email"], salt=SALT)
    already = sdk_side.hash_value("jane@example.com")

    def batch() -> RecordBatch:
        rec = {"ts": 1.7e9, "features": {"email": "jane@example.com", "note": "call 020 7946 0958"}}
        return RecordBatch.model_validate(
            {
                "batch_id": "b1",
                "model": MODEL,
                "version": "v1",
                "records": [
                    {
                        **rec,
                        "id": "078-05-1120",
                        "slices": {"email": "jane@example.com"},
                        "prediction": "x@y.io",
                    },
                    {**rec, "id": "req-2", "features": {"email": already}},
                ],
            }
        )

    for hash_ids in (False, True):
        red = Redaction(SALT, spec, hash_record_ids=hash_ids)
        first = batch()
        red.records(first)
        a, b = first.records
        assert a.features == {"email": already, "note": "call [PHONE]"} and b.features == {"email": already}
        assert a.slices == {"email": already} and a.prediction == "[EMAIL]"
        assert a.id == sdk_side.hash_id("078-05-1120")
        assert b.id == (sdk_side.hash_id("req-2") if hash_ids else "req-2")
        again = first.model_copy(deep=True)
        red.records(again)
        assert again == first, "a second pass changes nothing"
        labels = LabelBatch.model_validate(
            {
                "batch_id": "l1",
                "model": MODEL,
                "labels": [{"id": "078-05-1120", "label": "IBAN GB82WEST12345698765432"}],
            }
        )
        red.labels(labels)
        assert labels.labels[0].id == a.id and labels.labels[0].label == "IBAN [IBAN]"
