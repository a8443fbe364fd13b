"""Reading spec YAML, bounded and with line numbers, so every later error can point at its line.

The loader records the line of each mapping key; the parse refuses alias bombs, recursive aliases and
runaway nesting before anything is expanded. Every refusal is one `SpecError` line.
"""

from __future__ import annotations

from typing import Any

import yaml

from spec.errors import SpecError

#: Values a spec may hold once YAML aliases are expanded: an alias bomb (`&b [*a, *a, ...]` nested a few
#: levels) is refused here instead of being expanded into billions of values.
MAX_SPEC_NODES = 100_000


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping key, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """A mapping plus `__lines__` (each key's line) and `__line__` (its own), which `line_of` reads."""
    mapping = loader.construct_mapping(node, deep=True)
    lines = {loader.construct_object(k, deep=True): k.start_mark.line + 1 for k, _ in node.value}
    mapping["__lines__"] = lines
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def strip_lines(obj: Any) -> Any:
    """The parsed document without the line bookkeeping `_LineLoader` adds: what the wire model reads."""
    if isinstance(obj, dict):
        return {k: strip_lines(v) for k, v in obj.items() if k not in ("__lines__", "__line__")}
    if isinstance(obj, list):
        return [strip_lines(v) for v in obj]
    return obj


def line_of(doc: Any, loc: tuple[Any, ...]) -> int | None:
    """The source line of the deepest part of `loc` that exists in the parsed document."""
    line, node = None, doc
    for part in loc:
        if isinstance(node, dict):
            line = node.get("__lines__", {}).get(part, node.get("__line__", line))
            if part not in node:
                break
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, dict):
                line = node.get("__line__", line)
        else:
            break
    return line


def parse_yaml(text: str, source: str) -> Any:
    """The YAML document, bounded: at most MAX_SPEC_NODES values once aliases are expanded, no recursive
    alias, no nesting deeper than the parser's stack; every refusal is one SpecError line."""
    loader = None
    try:
        loader = _LineLoader(text)  # its reader refuses control characters right away
        node = loader.get_single_node()
        if node is None:
            return None
        _bounded(node, source)
        return loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        at = text.count("\n", 0, exc.position) + 1
        raise SpecError(
            source,
            [f"{at}: not valid YAML: character #x{exc.character:04x} is not allowed in YAML ({exc.reason})"],
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}: " if mark else " "
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(source, [f"{line}not valid YAML: {' '.join(str(problem).split())}"]) from None
    except RecursionError:
        raise SpecError(
            source, [" not a usable spec: the YAML is nested too deeply; a spec is a few levels deep"]
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _bounded(root: yaml.Node, source: str) -> None:
    """Count the values the document expands to (an alias counts its anchor's whole subtree each time),
    visiting each distinct node once, so an alias bomb is measured without being expanded."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            children = _children(node)
            sizes[key] = min(1 + sum(sizes[id(c)] for c in children), MAX_SPEC_NODES + 1)
            if sizes[key] > MAX_SPEC_NODES:
                raise SpecError(
                    source,
                    [
                        f"{node.start_mark.line + 1}: not a usable spec: its aliases expand to more than "
                        f"{MAX_SPEC_NODES:,} values (an alias bomb); write the repeated parts out, or alias less"
                    ],
                )
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise SpecError(
                source,
                [
                    f"{node.start_mark.line + 1}: not a usable spec: an alias refers to the node that contains it"
                ],
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    """A node's direct children: a sequence's items, a mapping's keys and values."""
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []
