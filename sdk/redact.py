"""Client-side redaction: named PII fields are hashed or dropped, and free text is masked.

It runs on the SDK's background thread while a batch is built, so the serving thread never pays for
regular expressions; raw values therefore live only in this process's memory queue and never leave
it unredacted.
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

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# 13-19 digits, optionally grouped by single spaces or dashes; issuers' first digits are 2-6, which
# keeps 13-digit millisecond timestamps (which start with 1) from being masked by a lucky Luhn sum.
_CARD = re.compile(r"(?<![\d-])[2-6](?:[ -]?\d){12,18}(?![\d])")
# A candidate phone: digits with separators, optionally a leading +; _phone() then checks it.
_PHONE = re.compile(r"(?<![\w+.-])\+?\(?\d[\d ().-]{5,22}\d(?![\w])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DOTTED_PHONE = re.compile(r"\(?\d{3}\)?\.\d{3}\.\d{4}")
_NOT_DIGIT = re.compile(r"\D")
_DIGIT = re.compile(r"\d")


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
    """``text`` with e-mail addresses, Luhn-valid card numbers and phone numbers replaced by masks."""
    if "@" in text:
        text = _EMAIL.sub(EMAIL_MASK, text)
    if _DIGIT.search(text):
        text = _CARD.sub(_card, text)
        text = _PHONE.sub(_phone, text)
    return text


class Redactor:
    """Applies field redaction (``pii="hash"`` or ``"drop"``) and text masking to one row's dict.

    Hashing is ``"sha256:" + 16 hex digits`` of HMAC-SHA256(salt, str(value)): equal values stay
    equal (counts, joins and drift still work) while the value itself is not sent.
    """

    __slots__ = ("_fields", "_mode", "_salt")

    def __init__(
        self, fields: Iterable[str] = (), *, mode: PiiMode = "hash", salt: bytes | str = b""
    ) -> None:
        if mode not in ("hash", "drop"):
            raise ValueError(f'pii must be "hash" or "drop", got {mode!r}')
        self._fields = frozenset(f.lower() for f in fields)
        self._mode = mode
        self._salt = salt.encode() if isinstance(salt, str) else bytes(salt)

    def hash_value(self, value: Any) -> str:
        """The salted hash that replaces a redacted field's value."""
        raw = value if isinstance(value, str) else str(value)
        digest = hmac.new(self._salt, raw.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return "sha256:" + digest[:16]

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
                out[key] = mask_text(value) if type(value) is str else value
        return out
