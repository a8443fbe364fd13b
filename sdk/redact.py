"""Client-side redaction: named PII fields are hashed or dropped, and free text is masked.

It runs on the SDK's background thread while a batch is built, so the serving thread never pays for
regular expressions; raw values therefore live only in this process's memory queue and never leave
it unredacted. The collector runs the same code again (collector/redaction.py) for data that did not
come through this SDK.

What `mask_text` replaces, in this order (README.md, "What is redacted"):

============  ========  ===================================================  ==================================
kind          mask      matches                                              checked by / left alone
============  ========  ===================================================  ==================================
e-mail        [EMAIL]   ``local@domain.tld`` (dots, ``+``, ``%``, subdomains)  ``user@localhost`` (no TLD)
IBAN          [IBAN]    country code, 2 check digits and the country's BBAN   ISO 7064 mod-97 = 1 and the exact
                        length (ISO 13616 registry), in capitals, spaced in  length for that country; unknown
                        4s or run together                                   countries, lower case
card number   [CARD]    13-19 digits starting 2-6, grouped by single spaces  Luhn checksum; 13-digit millisecond
                        or dashes                                            timestamps start with 1
US SSN        [SSN]     ``078-05-1120``, ``078 05 1120``, ``078051120``      area not 000, 666 or 9xx; group not
                                                                             00; serial not 0000
phone         [PHONE]   ``+`` and 8-15 digits (E.164, ``+44 20 7946 0958``,  bare digit runs (ids, timestamps),
                        ``+49 (0)30 1234567``); national numbers of 10-15    dates, versions, IP addresses,
                        digits with separators: ``(415) 555-2671``,          national numbers under 10 digits
                        ``020 7946 0958``, ``030 12345678``,                 without ``+``
                        ``01 23 45 67 89``, ``098765 43210``,
                        ``415.555.2671``, ``01.23.45.67.89``
============  ========  ===================================================  ==================================

Hashing (`Redactor.hash_value`, `Redactor.hash_id`) is a keyed HMAC-SHA256 of the value: equal values
stay equal (counts, joins and drift still work) while the value itself is not sent. Its output,
``sha256:`` and 16 (values) or 32 (record ids) lowercase hex digits, is recognised by `is_hashed` and
never hashed twice, so a second pass (the collector's) leaves the SDK's hashes as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

PiiMode = Literal["hash", "drop"]

EMAIL_MASK: Final = "[EMAIL]"
PHONE_MASK: Final = "[PHONE]"
CARD_MASK: Final = "[CARD]"
SSN_MASK: Final = "[SSN]"
IBAN_MASK: Final = "[IBAN]"
HASH_PREFIX: Final = "sha256:"

#: What a model version may look like: a release name, never free text (it is a label on /metrics).
VERSION_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
_VERSION = re.compile(VERSION_PATTERN)

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# 13-19 digits, optionally grouped by single spaces or dashes; issuers' first digits are 2-6, which
# keeps 13-digit millisecond timestamps (which start with 1) from being masked by a lucky Luhn sum;
# a digit run inside a word (a hex id) is not a card.
_CARD = re.compile(r"(?<![A-Za-z0-9])(?<!\d-)[2-6](?:[ -]?\d){12,18}(?![A-Za-z0-9]|-\w)")
# Area 001-899 except 666, group 01-99, serial 0001-9999; one separator style throughout.
_SSN = re.compile(r"(?<![A-Za-z0-9])(?!000|666|9)\d{3}([- ]?)(?!00)\d{2}\1(?!0000)\d{4}(?![A-Za-z0-9]|-\d)")
# A candidate phone: digits with separators, optionally a leading +; _phone() then checks it.
_PHONE = re.compile(r"(?<![\w+.])(?<!\d-)\+?\(?\d[\d ().-]{5,22}\d(?!\w|-\w)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DOTTED_PHONE = re.compile(r"\(?\d{3}\)?\.\d{3}\.\d{4}|\d{2}(?:\.\d{2}){4}")
# An IBAN starts a word with a country code and two check digits; _ibans() checks the rest.
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d{2})")
_NOT_DIGIT = re.compile(r"\D")
_DIGIT = re.compile(r"\d")
_HASHED = re.compile(r"sha256:[0-9a-f]{16}(?:[0-9a-f]{16})?")
_ID_DOMAIN: Final = b"record-id\x00"

#: IBAN length by country (ISO 13616 registry).
IBAN_LENGTHS: Final[Mapping[str, int]] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum that every payment card number satisfies."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """ISO 7064 mod-97 check of a compact IBAN (no separators): country, check digits, BBAN."""
    if len(iban) < 5 or not iban.isascii() or not iban.isalnum():
        return False
    moved = (iban[4:] + iban[:4]).upper()
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _iban_end(text: str, i: int, need: int) -> int | None:
    """Where an IBAN body of `need` more capitals/digits starting at `i` ends (single spaces may
    separate groups), if it ends at a word boundary there; else None."""
    n = len(text)
    while need:
        if i >= n:
            return None
        c = text[i]
        if c.isascii() and (c.isdigit() or c.isupper()):
            need -= 1
        elif not (c == " " and i + 1 < n and text[i + 1].isascii() and text[i + 1].isalnum()):
            return None
        i += 1
    if i < n and text[i].isascii() and text[i].isalnum():
        return None
    return i


def _ibans(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _IBAN_START.finditer(text):
        if m.start() < pos:
            continue
        length = IBAN_LENGTHS.get(m.group(1).upper())
        if length is None:
            continue
        end = _iban_end(text, m.end(), length - 4)
        if end is None:
            continue
        if iban_ok(text[m.start() : end].replace(" ", "")):
            out.append(text[pos : m.start()])
            out.append(IBAN_MASK)
            pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _card(m: re.Match[str]) -> str:
    digits = _NOT_DIGIT.sub("", m.group())
    return CARD_MASK if 13 <= len(digits) <= 19 and luhn_ok(digits) else m.group()


def _phone(m: re.Match[str]) -> str:
    text = m.group()
    digits = _NOT_DIGIT.sub("", text)
    if not 8 <= len(digits) <= 15 or (len(digits) < 10 and not text.startswith("+")):
        return text
    if text.isdigit():  # a bare digit run is an id or a timestamp far more often than a phone number
        return text
    if "." in text and not _DOTTED_PHONE.fullmatch(text):  # versions, IP addresses
        return text
    if _DATE.search(text):
        return text
    return PHONE_MASK


def mask_text(text: str) -> str:
    """``text`` with e-mail addresses, IBANs, card numbers, US SSNs and phone numbers masked (see above)."""
    if "@" in text:
        text = _EMAIL.sub(EMAIL_MASK, text)
    if _DIGIT.search(text):
        if _IBAN_START.search(text):
            text = _ibans(text)
        text = _CARD.sub(_card, text)
        text = _SSN.sub(SSN_MASK, text)
        text = _PHONE.sub(_phone, text)
    return text


def has_pii(text: str) -> bool:
    """Whether `mask_text` would change ``text``."""
    return mask_text(text) != text


def mask_value(value: Any) -> Any:
    """``value`` with every string in it masked; lists and dicts (JSON features) are walked, numbers kept."""
    t = type(value)
    if t is str:
        return mask_text(value)
    if t is list:
        if not value or set(map(type, value)) <= _NUMBERS:  # embeddings: nothing to mask, no copy
            return value
        return [mask_value(v) for v in value]
    if t is dict:
        return {k: mask_value(v) for k, v in value.items()}
    return value


_NUMBERS: Final = frozenset((int, float, bool, type(None)))


def is_hashed(value: Any) -> bool:
    """Whether ``value`` is already a hash this module produces (``sha256:`` + 16 or 32 hex digits)."""
    return type(value) is str and _HASHED.fullmatch(value) is not None


def version_problem(version: Any) -> str | None:
    """Why ``version`` cannot be a model version (a release name, never personal data), or None."""
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        return (
            "must be 1 to 64 letters, digits or . _ + - (starting with a letter or digit), "
            "like v7, 2026.01.15 or 1.4.2+build.9"
        )
    if has_pii(version):
        return (
            "looks like personal data (an e-mail, phone, card, SSN or IBAN pattern): "
            "name the release instead, like v7"
        )
    return None


class Redactor:
    """Applies field redaction (``pii="hash"`` or ``"drop"``) and text masking to one row's dict.

    Hashing is ``"sha256:" + 16 hex digits`` of HMAC-SHA256(salt, str(value)): equal values stay
    equal (counts, joins and drift still work) while the value itself is not sent. Record ids are
    hashed (``"sha256:" + 32 hex digits``, keyed apart from values) when ``hash_ids`` is set, and
    always when they contain a pattern `mask_text` masks: deterministically, so labels still join.
    """

    __slots__ = ("_fields", "_hash_ids", "_mode", "_salt")

    def __init__(
        self,
        fields: Iterable[str] = (),
        *,
        mode: PiiMode = "hash",
        salt: bytes | str = b"",
        hash_ids: bool = False,
    ) -> None:
        if mode not in ("hash", "drop"):
            raise ValueError(f'pii must be "hash" or "drop", got {mode!r}')
        self._fields = frozenset(f.lower() for f in fields)
        self._mode = mode
        self._salt = salt.encode() if isinstance(salt, str) else bytes(salt)
        self._hash_ids = bool(hash_ids)

    @property
    def fields(self) -> frozenset[str]:
        """The redacted field names, lower-cased."""
        return self._fields

    def hash_value(self, value: Any) -> str:
        """The salted hash that replaces a redacted field's value (a hash already is kept as it is)."""
        raw = value if isinstance(value, str) else str(value)
        if _HASHED.fullmatch(raw):
            return raw
        digest = hmac.new(self._salt, raw.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return HASH_PREFIX + digest[:16]

    def hash_id(self, rid: str) -> str:
        """The salted hash of a record id (128 bits: ids must not collide); a hash already is kept."""
        if _HASHED.fullmatch(rid):
            return rid
        data = _ID_DOMAIN + rid.encode("utf-8", "surrogatepass")
        return HASH_PREFIX + hmac.new(self._salt, data, hashlib.sha256).hexdigest()[:32]

    def record_id(self, rid: str) -> str:
        """The id to send or store: hashed when ``hash_ids`` is set or it holds personal data, else as is."""
        if self._hash_ids or has_pii(rid):
            return self.hash_id(rid)
        return rid

    def row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A new dict with redacted fields hashed or dropped and every other string masked."""
        out: dict[str, Any] = {}
        fields = self._fields
        for key, value in row.items():
            if fields and key.lower() in fields:
                if self._mode == "drop":
                    continue
                out[key] = None if value is None else self.hash_value(value)
            else:
                t = type(value)
                out[key] = (
                    mask_text(value) if t is str else mask_value(value) if t is list or t is dict else value
                )
        return out
