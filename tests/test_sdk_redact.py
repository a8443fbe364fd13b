"""Client-side redaction: PII fields hashed or dropped, e-mails, phones and cards masked in text."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import random
from typing import Any

import pytest

from sdk import MockTransport, Monitor, wire
from sdk.redact import Redactor, has_pii, is_hashed, luhn_ok, mask_text, version_problem

FAST = {"flush_interval": 0.05, "initial_backoff": 0.01, "max_backoff": 0.05}


@pytest.fixture
def make():
    """Build rate-1 monitors on a recording MockTransport and close them after the test."""
    made: list[Monitor] = []

    def build(**kw: Any) -> Monitor:
        mon = Monitor("credit", "v7", transport=MockTransport(), sample_rate=1.0, **{**FAST, **kw})
        made.append(mon)
        return mon

    yield build
    for mon in made:
        mon.close(1.0)


MASKED = [
    ("write to jane.doe+loans@example.co.uk today", "write to [EMAIL] today"),
    ("Contact: +1 (415) 555-2671, evenings", "Contact: [PHONE], evenings"),
    ("UK office +44 20 7946 0958", "UK office [PHONE]"),
    ("call 415-555-2671.", "call [PHONE]."),
    ("dotted 415.555.2671", "dotted [PHONE]"),
    ("(415) 555 2671", "[PHONE]"),
    ("e164 +14155552671", "e164 [PHONE]"),
    ("visa 4111 1111 1111 1111 exp 12/27", "visa [CARD] exp 12/27"),
    ("dashed 4111-1111-1111-1111", "dashed [CARD]"),
    ("amex 378282246310005", "amex [CARD]"),
    ("mc 5555555555554444 and a@b.io", "mc [CARD] and [EMAIL]"),
    ("discover 6011 0009 9013 9424", "discover [CARD]"),
    ("ssn 078-05-1120 on file", "ssn [SSN] on file"),
    ("ssn 078 05 1120", "ssn [SSN]"),
    ("ssn 078051120.", "ssn [SSN]."),
    ("pay DE89 3704 0044 0532 0130 00 EUR", "pay [IBAN] EUR"),
    ("GB82WEST12345698765432", "[IBAN]"),
    ("iban FR14 2004 1010 0505 0001 3M02 606", "iban [IBAN]"),
    ("NO9386011117947 ok", "[IBAN] ok"),
    ("fr +33 1 23 45 67 89", "fr [PHONE]"),
    ("fr 01 23 45 67 89", "fr [PHONE]"),
    ("fr 06.12.34.56.78", "fr [PHONE]"),
    ("de +49 (0)30 1234567", "de [PHONE]"),
    ("de 030 12345678", "de [PHONE]"),
    ("in +91 98765 43210", "in [PHONE]"),
    ("uk 020 7946 0958", "uk [PHONE]"),
    ("user-4111111111111111", "user-[CARD]"),
]

NOT_MASKED = [
    "release v2.3.1",
    "python 3.11.7",
    "build 10.0.19041.1234",
    "semver 1.2.3-20240115",
    "due 2024-01-15",
    "at 2024-01-15 10:30",
    "on 15/01/2024 at 10:30:00",
    "order 12345",
    "unix time 1732480000",
    "millis 1732480000123",
    "host 192.168.100.200",
    "almost a card 4111 1111 1111 1112",
    "ZIP 94103",
    "between 2019-2021",
    "price 1,234,567.89",
    "room 12, floor 3",
    "user@localhost has no domain",
    "ssn-shaped but invalid 000-12-3456 666-12-3456 912-34-5678 123-00-4567 123-45-0000",
    "IBAN with a wrong check digit DE88370400440532013000",
    "lower case de89370400440532013000 and an unknown country ZZ89370400440532013000",
    "uuid 78927905-5073-46db-8dda-c258ef80b075",
    "uuid ee83ff53-8ff2-422d-a0c1-54940872a675",
    "hex 45b57751573941879f631ef5aafacc3f",
]


@pytest.mark.parametrize(("text", "expected"), MASKED, ids=[m[0] for m in MASKED])
def test_pii_in_free_text_is_masked(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", NOT_MASKED)
def test_numbers_that_are_not_pii_are_left_alone(text):
    assert mask_text(text) == text


def test_the_luhn_check_accepts_real_test_cards_and_refuses_one_digit_off():
    assert luhn_ok("4111111111111111") and luhn_ok("378282246310005")
    assert not luhn_ok("4111111111111112") and not luhn_ok("378282246310006")


def test_a_redacted_field_is_replaced_by_a_salted_hmac_and_other_strings_are_masked():
    red = Redactor(["Email", "ssn"], mode="hash", salt="s3cret")
    out = red.row(
        {"email": "jane@example.com", "SSN": 123456789, "note": "mail jane@example.com", "n": 3, "x": None}
    )
    want = "sha256:" + hmac.new(b"s3cret", b"jane@example.com", hashlib.sha256).hexdigest()[:16]
    assert out["email"] == want
    assert out["SSN"].startswith("sha256:") and len(out["SSN"]) == len("sha256:") + 16
    assert out["note"] == "mail [EMAIL]"
    assert (out["n"], out["x"]) == (3, None)
    assert Redactor(["email"], salt="other").row({"email": "jane@example.com"})["email"] != want


def test_drop_mode_removes_redacted_fields():
    red = Redactor(["email"], mode="drop")
    assert red.row({"email": "jane@example.com", "income": 1.0}) == {"income": 1.0}


def test_nothing_unredacted_leaves_the_process_and_slices_are_redacted_too(make):
    mon = make(redact=["email", "ssn"], salt="pepper")
    features = {
        "email": "jane.doe@example.com",
        "ssn": "078-05-1120",
        "note": "ring +1 415 555 2671",
        "age": 41,
    }
    with mon.observe(
        ids=["a"], features=features, slices={"email": "jane.doe@example.com", "region": "EU"}
    ) as obs:
        obs.predictions([1])
    assert mon.flush(5.0)
    transport = mon._transport
    assert isinstance(transport, MockTransport)
    raw = b"".join(gzip.decompress(r.body) for r in transport.requests)
    for secret in (b"jane.doe", b"078-05-1120", b"555 2671"):
        assert secret not in raw
    [rec] = transport.bodies(wire.RECORDS_PATH)[0]["records"]
    hashed = Redactor(["email"], salt="pepper").hash_value("jane.doe@example.com")
    assert rec["features"]["email"] == rec["slices"]["email"] == hashed
    assert rec["features"]["note"] == "ring [PHONE]"
    assert rec["features"]["age"] == 41 and rec["slices"]["region"] == "EU"


def test_the_salt_comes_from_the_argument_then_the_environment_then_the_model_name(make, monkeypatch):
    def sent_hash(**kw: Any) -> str:
        mon = make(redact=["email"], **kw)
        with mon.observe(ids=["a"], features={"email": "x@y.io"}):
            pass
        assert mon.flush(5.0)
        transport = mon._transport
        assert isinstance(transport, MockTransport)
        return transport.bodies(wire.RECORDS_PATH)[0]["records"][0]["features"]["email"]

    monkeypatch.delenv("DRIFTLINE_SALT", raising=False)
    default = sent_hash()
    assert default == Redactor(["email"], salt="driftline:credit").hash_value("x@y.io")
    monkeypatch.setenv("DRIFTLINE_SALT", "from-env")
    assert sent_hash() == Redactor(["email"], salt="from-env").hash_value("x@y.io")
    assert sent_hash(salt="explicit") == Redactor(["email"], salt="explicit").hash_value("x@y.io")


def test_pii_drop_mode_on_a_monitor_sends_no_trace_of_the_field(make):
    mon = make(redact=["email"], pii="drop")
    with mon.observe(ids=["a"], features={"email": "x@y.io", "age": 3}):
        pass
    assert mon.flush(5.0)
    transport = mon._transport
    assert isinstance(transport, MockTransport)
    assert transport.bodies(wire.RECORDS_PATH)[0]["records"][0]["features"] == {"age": 3}


def test_uuid_ids_are_never_taken_for_personal_data():
    import uuid

    ids = [str(uuid.UUID(int=random.getrandbits(128), version=4)) for _ in range(20_000)]
    assert not [i for i in ids if has_pii(i) or has_pii(i.replace("-", ""))][:3]


def test_hashes_are_recognised_and_never_hashed_twice():
    red = Redactor(["email"], salt="k")
    once = red.hash_value("jane@example.com")
    assert is_hashed(once) and red.hash_value(once) == once
    rid = red.hash_id("jane@example.com")
    assert is_hashed(rid) and len(rid) == len("sha256:") + 32 and red.hash_id(rid) == rid
    assert rid[7:23] != once[7:], "ids are keyed apart from values"
    assert not is_hashed("sha256:XYZ") and not is_hashed("sha256:" + "a" * 15)


def test_record_ids_are_hashed_when_asked_or_when_they_hold_personal_data():
    plain, hashing = Redactor(salt="k"), Redactor(salt="k", hash_ids=True)
    assert plain.record_id("req-17") == "req-17"
    assert plain.record_id("jane@example.com") == hashing.record_id("jane@example.com")
    assert is_hashed(hashing.record_id("req-17"))


@pytest.mark.parametrize("version", ["v7", "2026.01.15", "1.4.2+build.9", "release_3", "A" * 64])
def test_release_names_are_valid_versions(version):
    assert version_problem(version) is None
    mon = Monitor("credit", version, transport=MockTransport(), enabled=False)
    assert mon.version == version


@pytest.mark.parametrize(
    "version",
    [
        "",
        "v 7",
        "-v7",
        "A" * 65,
        "jane@example.com",
        "078-05-1120",
        "DE89370400440532013000",
        "4111111111111111",
    ],
)
def test_a_version_that_is_free_text_or_personal_data_is_refused_at_construction(version):
    assert version_problem(version) is not None
    with pytest.raises(ValueError, match="version"):
        Monitor("credit", version, transport=MockTransport())


def test_labels_predictions_ids_and_nested_features_are_redacted_in_what_is_sent(make):
    mon = make(redact=["email"], salt="pepper", hash_ids=True)
    with mon.observe(
        ids=["jane@example.com"],
        features={"meta": {"contact": ["call +44 20 7946 0958"]}, "vec": [0.1, 0.2]},
        slices={"iban": "DE89 3704 0044 0532 0130 00"},
    ) as obs:
        obs.predictions(["card 4111 1111 1111 1111"])
    assert mon.log_labels(["jane@example.com"], ["ssn 078-05-1120"]) == 1
    assert mon.flush(5.0)
    transport = mon._transport
    assert isinstance(transport, MockTransport)
    raw = b"".join(gzip.decompress(r.body) for r in transport.requests)
    for secret in (b"jane", b"7946", b"3704", b"4111", b"078-05"):
        assert secret not in raw
    [rec] = transport.bodies(wire.RECORDS_PATH)[0]["records"]
    [lab] = transport.bodies(wire.LABELS_PATH)[0]["labels"]
    assert rec["id"] == lab["id"] == Redactor(salt="pepper").hash_id("jane@example.com")
    assert rec["prediction"] == "card [CARD]" and lab["label"] == "ssn [SSN]"
    assert rec["features"] == {"meta": {"contact": ["call [PHONE]"]}, "vec": [0.1, 0.2]}
    assert rec["slices"] == {"iban": "[IBAN]"}
