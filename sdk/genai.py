"""LLM calls: ``with llm_call(mon, request_model="gpt-4o", prompt=text) as call`` records one generative-model
call with the OpenTelemetry GenAI semantic conventions' names and units.

Every call (100% of traffic, like `Monitor.observe`) counts as one prediction, ok or error, with its latency;
its ``gen_ai.usage.input_tokens`` / ``output_tokens`` count as tokens (cost, `spec.prices`); its time to first
token (``gen_ai.server.time_to_first_token``: from entering the block to `LLMCall.first_token`) and time per
output token after the first (``gen_ai.server.time_per_output_token``: the rest of the call over output tokens
less one) go to fixed histograms (`wire.GENAI_TTFT_BOUNDS`, `wire.GENAI_TPOT_BOUNDS`); its finish reason is
counted. A sampled call is also a record whose features are the request and response models, the usage and
text descriptors of the prompt and response (`descriptors`: length, a language guess, PII hits found by the
SDK's redaction, a refusal) so the existing drift applies to them; the prediction is the finish reason. The
text itself is never sent. Nothing here raises into serving code: a bad value is dropped and counted.

Standard library only.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .monitor import _OFF
from .redact import has_pii
from .wire import FINISH_REASON_PATTERN, GENAI_TPOT_BOUNDS, GENAI_TTFT_BOUNDS, MAX_FINISH_REASONS

if TYPE_CHECKING:
    from .monitor import Monitor, Observation

_REASON = re.compile(FINISH_REASON_PATTERN)
def _words(text: str) -> list[str]:
    return text.split()


#: Frequent short words of the languages `language` tells apart by words (Latin script).
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(_words("the and is are of to in that it for you with this what how can not")),
    "es": frozenset(_words("el la los las de que y en es por para con una un no como qué")),
    "fr": frozenset(_words("le la les des et est que une un pour dans ce pas qui vous avec")),
    "de": frozenset(_words("der die das und ist nicht ein eine ich sie mit für auf wie was")),
    "pt": frozenset(_words("o a os as de que e em é um uma para com não como você")),
    "it": frozenset(_words("il lo la gli le di che e è un una per con non come sono")),
}
#: Each stopword's languages, for one pass over the words.
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {
    w: tuple(c for c, stop in _STOPWORDS.items() if w in stop) for stop in _STOPWORDS.values() for w in stop
}
_PUNCTUATION = ".,;:!?¿¡\"'()[]"
#: Unicode ranges of scripts whose language follows from the script alone.
_SCRIPTS = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)
_REFUSAL = re.compile(
    r"\b(?:i can(?:no|')t (?:help|assist|comply|provide)|i(?: am|'m) (?:sorry|unable|not able)|"
    r"i (?:won't|will not) (?:help|provide)|as an ai\b)"
)
#: A refusal shows in a response's first characters; language needs no more than these either.
REFUSAL_CHARS = 300
LANGUAGE_CHARS = 1000
#: Text longer than this is described by its first this many characters (length is always exact).
MAX_DESCRIBED_CHARS = 4096


def language(text: str) -> str:
    """A cheap guess of the text's language: an ISO 639-1 code, ``other`` or ``unknown`` (too little text)."""
    head = text[:LANGUAGE_CHARS]
    if not head.isascii():
        for code, script in _SCRIPTS:
            if script.search(head):
                return code
    words = head.lower().split()
    if len(words) < 3:
        return "unknown"
    scores = dict.fromkeys(_STOPWORDS, 0)
    get = _LANGUAGES_OF.get
    for w in words:
        for code in get(w.strip(_PUNCTUATION), ()):
            scores[code] += 1
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] >= 2 else "other"


def is_refusal(text: str) -> bool:
    """Whether a response reads as the model declining (``I can't help with that``, ``As an AI``...)."""
    return _REFUSAL.search(text[:REFUSAL_CHARS].lower().replace("\u2019", "'")) is not None


def descriptors(prefix: str, text: Any) -> dict[str, Any]:
    """Monitored features of one text: ``<prefix>_chars``, ``_language``, ``_pii`` (the SDK's redaction finds
    an e-mail, card, IBAN, SSN or phone number in it) and, for responses, ``_refusal``. Empty for no text."""
    if not isinstance(text, str):
        return {}
    head = text[:MAX_DESCRIBED_CHARS]
    out: dict[str, Any] = {
        f"{prefix}_chars": len(text),
        f"{prefix}_language": language(head),
        f"{prefix}_pii": has_pii(head),
    }
    if prefix == "response":
        out["response_refusal"] = is_refusal(head)
    return out


def count_genai(buf: Any, ttft: float | None, tpot: float | None, reason: str | None) -> bool:
    """Add one call's time to first token, time per output token and finish reason to the next stats batch;
    False (nothing counted for a bad reason) when the reason is malformed or one too many distinct ones."""
    with buf.lock:
        g = buf.genai
        for key, value, bounds in (("ttft", ttft, GENAI_TTFT_BOUNDS), ("tpot", tpot, GENAI_TPOT_BOUNDS)):
            if value is not None:
                h = g.get(key)
                if h is None:
                    h = g[key] = [[0] * (len(bounds) + 1), 0.0]
                h[0][bisect_left(bounds, value)] += 1
                h[1] += value
        if reason is None:
            return True
        reasons = g.setdefault("finish_reasons", {})
        if reason not in reasons and (len(reasons) >= MAX_FINISH_REASONS or not _REASON.match(reason)):
            buf.usage_dropped += 1
            return False
        reasons[reason] = reasons.get(reason, 0) + 1
        return True


class LLMCall:
    """One LLM call inside ``with llm_call(...) as call``: mark `first_token`, report the `response`."""

    __slots__ = ("_end", "_extra", "_first", "_in", "_mon", "_obs", "_out", "_prompt", "_reason", "_request",
                 "_response", "_response_model", "_t0")

    def __init__(
        self, mon: Monitor, obs: Observation, request_model: str | None, prompt: Any, extra: Any = None
    ) -> None:
        self._mon, self._obs, self._extra = mon, obs, extra
        self._request, self._prompt = request_model, prompt
        self._first: float | None = None
        self._response: Any = None
        self._response_model: str | None = None
        self._in: Any = None
        self._out: Any = None
        self._reason: Any = None
        self._t0 = 0.0

    @property
    def id(self) -> str | None:
        """This call's record id (the one passed in, or a generated one), for eval verdicts and labels."""
        ids = self._obs.ids
        return str(ids[0]) if ids else None

    def __enter__(self) -> LLMCall:
        self._obs.__enter__()
        self._t0 = self._mon._timer()
        return self

    def first_token(self) -> None:
        """Mark now as the first output token's arrival (streaming); later calls keep the first mark."""
        if self._first is None:
            self._first = self._mon._timer()

    def response(
        self,
        text: str | None = None,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        finish_reason: str | None = None,
        response_model: str | None = None,
    ) -> None:
        """What the model answered: its text (described, never sent), ``gen_ai.usage.*`` token counts,
        ``gen_ai.response.finish_reasons`` (one reason) and ``gen_ai.response.model``."""
        self._response, self._in, self._out = text, input_tokens, output_tokens
        self._reason, self._response_model = finish_reason, response_model

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        mon = self._mon
        if self._obs is _OFF:  # a disabled or closed monitor does nothing at all
            return
        try:
            end = mon._timer()
            reason = self._reason if isinstance(self._reason, str) else None
            out = self._out if type(self._out) is int else None
            ttft = self._first - self._t0 if self._first is not None else None
            tpot = (end - self._first) / (out - 1) if self._first is not None and out and out >= 2 else None
            mon._add_usage(None, self._in, self._out)
            if not count_genai(mon._buffers, ttft, tpot, reason):
                mon._log.warning("finish-reason", "driftline: finish reason %r dropped (counted in usage_dropped)",
                                 str(reason)[:80])
            obs = self._obs
            if obs._picked is not None and exc_type is None:
                row = obs._rows[0]
                if self._extra:
                    row.update(self._extra)
                row.update(descriptors("prompt", self._prompt))
                row.update(descriptors("response", self._response))
                for key, value in (
                    ("gen_ai.request.model", self._request),
                    ("gen_ai.response.model", self._response_model),
                    ("gen_ai.usage.input_tokens", self._in),
                    ("gen_ai.usage.output_tokens", self._out),
                ):
                    if value is not None:
                        row[key] = value
                obs.predictions([reason])
        except Exception:
            mon._internal_error("llm_call")
        self._obs.__exit__(exc_type, exc, tb)


def llm_call(
    mon: Monitor,
    *,
    request_model: str | None = None,
    prompt: str | None = None,
    id: Any = None,
    features: Mapping[str, Any] | None = None,
) -> LLMCall:
    """Record one LLM call of ``mon``'s model as a with-block (module docstring). ``id``: the record id
    (default: generated, or from the request as `Monitor.observe` does), the join key for eval verdicts.
    ``features``: more features of a sampled call's record, such as the prompt's embedding (a list of
    numbers: a feature of type embedding gets the existing multivariate drift) or the retrieval's hit count."""
    obs = mon.observe(ids=None if id is None else [id])
    return LLMCall(mon, obs, request_model, prompt, dict(features) if features else None)
