"""The collector's own redaction pass, for data that did not come through a current SDK.

A direct POST, an older SDK or a misconfigured one can send raw personal data. Before anything is
stored, every batch goes through the same rules the SDK applies (`sdk.redact`):

- values of the spec's ``pii: true`` features (in ``features`` and in ``slices``) become the salted
  HMAC the SDK sends, ``sha256:`` + 16 hex digits; a value already in that form is kept, so data the
  SDK hashed is not hashed twice and equal values from either path stay equal;
- every other string (features, nested JSON features, slice values, predictions, labels, reference
  columns and names) is masked (`sdk.redact.mask_text`: e-mails, IBANs, cards, US SSNs, phones);
- record ids (in records and labels) and batch ids that contain personal data are replaced by their
  salted hash (``sha256:`` + 32 hex digits), deterministically, so labels sent with the same raw id
  still join; with ``hash_record_ids`` every record id is hashed.

Masking a record id would break the join to its labels, which is why ids are hashed, not masked.

The key is ``DRIFTLINE_SALT`` (or the file named by ``DRIFTLINE_SALT_FILE``), the same variable the
SDK reads; unset, it is ``driftline:<model>``, the SDK's default, so hashes from both sides agree out
of the box, but anyone who knows the model name can test guesses of low-entropy values against them:
set one secret salt for the SDKs and the collector in production (a warning says so at start).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdk.redact import Redactor, mask_text, mask_value, version_problem

if TYPE_CHECKING:
    from collector.context import AppContext
    from collector.schemas import LabelBatch, RecordBatch, ReferenceIn
    from collector.settings import Settings
    from spec import ResolvedSpec

log = logging.getLogger("driftline.collector")


def checked_version(version: str) -> str:
    """A pydantic validator: the version as is, or a ValueError saying why it cannot be one."""
    problem = version_problem(version)
    if problem is not None:
        raise ValueError(problem)
    return version


def configured_salt(settings: Settings) -> str | None:
    """The configured HMAC key: ``salt_file``'s content (stripped), else ``salt``; None when neither."""
    path = getattr(settings, "salt_file", None)
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"DRIFTLINE_SALT_FILE {path!r} cannot be read ({exc.strerror or exc})") from None
        if not text:
            raise ValueError(f"DRIFTLINE_SALT_FILE {path!r} is empty: put the secret salt in it")
        return text
    salt = getattr(settings, "salt", None)
    return salt or None


class Redaction:
    """Redacts batches in place, with one `Redactor` per model (its pii fields and salt)."""

    def __init__(self, salt: str | None, spec: ResolvedSpec | None, *, hash_record_ids: bool = False) -> None:
        self._salt = salt
        self._spec = spec
        self._hash_ids = hash_record_ids
        self._redactors: dict[str, Redactor] = {}
        if salt is None and (hash_record_ids or (spec and any(m.pii_features for m in spec.models))):
            log.warning(
                "DRIFTLINE_SALT is not set: pii: true values and record ids are hashed with the public "
                "default salt driftline:<model>, so guesses can be tested against them; set one secret "
                "DRIFTLINE_SALT for the SDKs and the collector"
            )

    @classmethod
    def from_settings(cls, settings: Settings, spec: ResolvedSpec | None) -> Redaction:
        """Redaction as the collector's settings and the spec configure it."""
        return cls(
            configured_salt(settings), spec, hash_record_ids=bool(getattr(settings, "hash_record_ids", False))
        )

    def redactor(self, model: str) -> Redactor:
        """The model's redactor: its spec's pii: true features, the configured (or default) salt."""
        red = self._redactors.get(model)
        if red is None:
            declared = self._spec.model(model) if self._spec else None
            fields = declared.pii_features if declared is not None else ()
            salt = self._salt if self._salt is not None else f"driftline:{model}"
            red = self._redactors[model] = Redactor(fields, mode="hash", salt=salt, hash_ids=self._hash_ids)
        return red

    def records(self, batch: RecordBatch) -> None:
        """Hash pii fields and personal ids, mask every other string, in the batch's own objects."""
        red = self.redactor(batch.model)
        batch.batch_id = _batch_id(red, batch.batch_id)
        fields = red.fields
        for rec in batch.records:
            rec.id = red.record_id(rec.id)
            _redact(red, fields, rec.features)
            if rec.slices:
                _redact(red, fields, rec.slices)
            if type(rec.prediction) is str:
                rec.prediction = mask_text(rec.prediction)

    def labels(self, batch: LabelBatch) -> None:
        """Ids hashed as `records` hashes them (so they join), label text masked."""
        red = self.redactor(batch.model)
        batch.batch_id = _batch_id(red, batch.batch_id)
        for lab in batch.labels:
            lab.id = red.record_id(lab.id)
            if type(lab.label) is str:
                lab.label = mask_text(lab.label)

    def reference(self, body: ReferenceIn) -> None:
        """pii columns hashed, every string in the columns, labels and name masked."""
        red = self.redactor(body.model)
        fields = red.fields
        for name, values in body.columns.items():
            if fields and name.lower() in fields:
                body.columns[name] = [None if v is None else red.hash_value(v) for v in values]
            else:
                body.columns[name] = [mask_value(v) for v in values]
        if body.labels is not None:
            body.labels = [mask_value(v) for v in body.labels]
        body.name = mask_text(body.name)


def _batch_id(red: Redactor, batch_id: str) -> str:
    """A batch id that holds personal data becomes its hash; retries still map to the same id."""
    return red.hash_id(batch_id) if batch_id != mask_text(batch_id) else batch_id


def _redact(red: Redactor, fields: frozenset[str], row: dict[str, Any]) -> None:
    """`Redactor.row` in place (values only; keys stay, so nothing is re-allocated per record)."""
    for key, value in row.items():
        if fields and key.lower() in fields:
            if value is not None:
                row[key] = red.hash_value(value)
        else:
            t = type(value)
            if t is str:
                row[key] = mask_text(value)
            elif t is list or t is dict:
                row[key] = mask_value(value)


def of(ctx: AppContext) -> Redaction:
    """The context's redaction pass, built on first use (the settings and spec are fixed for its life)."""
    found: Redaction | None = ctx.__dict__.get("_redaction")
    if found is None:
        found = ctx.__dict__["_redaction"] = Redaction.from_settings(ctx.settings, ctx.spec)
    return found


def records(ctx: AppContext, batch: RecordBatch) -> None:
    """Redact a record batch before it is stored (see the module docstring)."""
    of(ctx).records(batch)


def labels(ctx: AppContext, batch: LabelBatch) -> None:
    """Redact a label batch before it is stored."""
    of(ctx).labels(batch)


def reference(ctx: AppContext, body: ReferenceIn) -> None:
    """Redact a reference upload before it is fitted and stored."""
    of(ctx).reference(body)
