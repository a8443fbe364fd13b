"""Just enough PromQL reading to check a dashboard: which series a query selects, with which matchers,
which labels it groups or joins by, and which labels `label_replace`/`label_join` create.

Not a PromQL parser: it tokenizes, skips ranges (`[5m]`, `[$__rate_interval]`) and string contents,
tells functions and aggregations from metric names, and reads selector braces. Grafana variables
(`$model`, `${x:sqlstring}`) are left as they are inside label values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contract import DriftlineError

_AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk"}
    | {"quantile", "limitk", "limit_ratio"}
)
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_WORDS = frozenset({"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end"})
_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<duration>\d+(?:ms|s|m|h|d|w|y)\b)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+)
  | (?P<var>\$\{[^}]*\}|\$\w+)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^=<>(){},@])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a selector, e.g. `model=~"$model"`."""

    label: str
    op: str
    value: str

    @property
    def literal(self) -> bool:
        """Whether the value holds no Grafana variable, so it can be compared with real label values."""
        return "$" not in self.value


@dataclass(frozen=True)
class Selector:
    """A vector selector: a metric name (None when only `__name__` matches it) and its matchers."""

    metric: str | None
    matchers: tuple[Matcher, ...]

    @property
    def labels(self) -> frozenset[str]:
        """Labels the selector's matchers name, `__name__` excluded."""
        return frozenset(m.label for m in self.matchers if m.label != "__name__")


@dataclass(frozen=True)
class Query:
    """What a PromQL expression reads and which labels it groups, joins or creates."""

    selectors: tuple[Selector, ...]
    grouping: frozenset[str]
    created: frozenset[str]


class PromQLSyntaxError(DriftlineError, ValueError):
    """The expression could not be tokenized or its braces do not balance."""


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise PromQLSyntaxError(f"cannot read {expr[pos : pos + 20]!r} in {expr!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "space":
            out.append((kind, m.group()))
    return out


def _unquote(s: str) -> str:
    if s.startswith("`"):
        return s[1:-1]
    return re.sub(r"\\(.)", r"\1", s[1:-1])


def _matchers(tokens: list[tuple[str, str]], i: int) -> tuple[tuple[Matcher, ...], int]:
    """Read `{...}` starting at tokens[i] == '{'; returns the matchers and the index after '}'."""
    found, i = [], i + 1
    while i < len(tokens) and tokens[i][1] != "}":
        if tokens[i][1] == ",":
            i += 1
            continue
        if i + 2 >= len(tokens) or tokens[i][0] != "ident" or tokens[i + 2][0] != "string":
            raise PromQLSyntaxError(f"bad label matcher near {tokens[i][1]!r}")
        found.append(Matcher(tokens[i][1], tokens[i + 1][1], _unquote(tokens[i + 2][1])))
        i += 3
    if i >= len(tokens):
        raise PromQLSyntaxError("a selector's '{' is never closed")
    return tuple(found), i + 1


def _created_label(tokens: list[tuple[str, str]], i: int) -> str | None:
    """The destination label of label_replace(v, "dst", ...) / label_join(v, "dst", ...) at tokens[i]."""
    depth = commas = 0
    for kind, text in tokens[i + 1 :]:
        if text in "({":
            depth += 1
        elif text in ")}":
            depth -= 1
            if depth == 0:
                return None
        elif text == "," and depth == 1:
            commas += 1
        elif kind == "string" and depth == 1 and commas == 1:
            return _unquote(text)
    return None


def parse(expr: str) -> Query:
    """The selectors, grouping labels and created labels of a PromQL expression."""
    tokens = _tokens(expr)
    selectors: list[Selector] = []
    grouping: set[str] = set()
    created: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text in _GROUPING:
            i += 1
            if nxt == "(":
                i += 1
                while i < len(tokens) and tokens[i][1] != ")":
                    if tokens[i][0] == "ident":
                        grouping.add(tokens[i][1])
                    i += 1
                i += 1
            continue
        if kind == "ident" and text in ("label_replace", "label_join"):
            label = _created_label(tokens, i)
            if label:
                created.add(label)
        if kind == "ident" and (
            nxt == "(" or (text in _AGGREGATIONS and nxt in _GROUPING) or text.lower() in _WORDS
        ):
            i += 1
            continue
        if kind == "ident":
            matchers: tuple[Matcher, ...] = ()
            i += 1
            if nxt == "{":
                matchers, i = _matchers(tokens, i)
            selectors.append(Selector(text, matchers))
            continue
        if text == "{":
            matchers, i = _matchers(tokens, i)
            names = [m for m in matchers if m.label == "__name__" and m.op == "="]
            selectors.append(Selector(names[0].value if names else None, matchers))
            continue
        i += 1
    return Query(tuple(selectors), frozenset(grouping), frozenset(created))


_LABEL_VALUES = re.compile(
    r"^\s*label_values\((?:(?P<selector>.+),)?\s*(?P<label>[a-zA-Z_]\w*)\s*\)\s*$", re.S
)


def label_values(query: str) -> tuple[Selector | None, str] | None:
    """For a Grafana variable query `label_values(selector, label)`, its selector and label; else None."""
    m = _LABEL_VALUES.match(query)
    if not m:
        return None
    sel = parse(m.group("selector")).selectors if m.group("selector") else ()
    return (sel[0] if sel else None), m.group("label")


def legend_labels(legend: str) -> frozenset[str]:
    """Labels a legend format uses, e.g. `{{model}} {{version}}`."""
    return frozenset(re.findall(r"\{\{\s*([a-zA-Z_]\w*)\s*\}\}", legend))
