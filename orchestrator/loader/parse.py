"""Phase 2: YAML text -> positioned tree (`tree.PMap`), one tree per YAML document.

Called by `loader.load_stack` for every discovered, included and extended file. We compose
the YAML node graph with PyYAML (its C parser when present) and construct values ourselves so
that:
- every key and value keeps `file:line:column` (the reason this is not `yaml.safe_load`);
- plain scalars are resolved with YAML 1.2 core rules, as Docker Compose (go-yaml v3) does:
  `yes`, `on` and `22:22` stay strings, where YAML 1.1 would turn them into a boolean and a
  sexagesimal number; leading-zero integers (`mode: 0440`) are octal, as in Compose;
- duplicate keys and non-string keys are errors, not silently last-one-wins;
- anchors/aliases and `<<` merge keys work, but alias expansion is bounded, so a
  "billion laughs" document fails fast instead of eating the machine;
- `!reset` and `!override` are recorded on the parent mapping for the merge phase.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from orchestrator.errors import Position, Report, format_path
from orchestrator.loader.tree import PList, PMap

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _NodeLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Composes nodes only. Untagged plain scalars arrive tagged `_PLAIN`, so we can tell them
    from quoted ones and from an explicit `!!str`, and resolve them with YAML 1.2 rules."""

    yaml_implicit_resolvers: dict = {None: [("tag:stackyard.dev,2026:plain", re.compile(r".*", re.S))]}


_STR = "tag:yaml.org,2002:str"
_PLAIN = "tag:stackyard.dev,2026:plain"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
MERGE_TAGS = {"!reset": "reset", "!override": "override"}

# Alias expansion bound: a document may construct at most this many nodes beyond
# a generous multiple of the nodes actually written.
_EXPANSION_ALLOWANCE = 400_000  # as go-yaml v3, which Docker Compose uses
_EXPANSION_FACTOR = 10
# Deeper nesting than this is refused before composing: PyYAML's composer and every later
# phase recurse per level (a few thousand levels crash the C composer outright), and no
# stack file needs more than a dozen.
MAX_DEPTH = 100

_INT_DEC = re.compile(r"[-+]?[0-9]+\Z")
_INT_OCT_LEGACY = re.compile(r"[-+]?0[0-7]+\Z")
_INT_OCT = re.compile(r"[-+]?0o[0-7]+\Z")
_INT_HEX = re.compile(r"[-+]?0x[0-9a-fA-F]+\Z")
_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INF = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}
_NINF = {"-.inf", "-.Inf", "-.INF"}
_NAN = {".nan", ".NaN", ".NAN"}


class _TooManyAliases(Exception):
    pass


def resolve_plain(text: str) -> Any:
    """YAML 1.2 core schema resolution of a plain scalar (plus Compose's octal `0440`)."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    first = text[0]
    if first.isdigit() or first in "+-.":
        if _INT_OCT_LEGACY.match(text):
            return int(text, 8)
        if _INT_DEC.match(text):
            return int(text)
        if _INT_OCT.match(text) or _INT_HEX.match(text):
            return int(text, 0)
        if _FLOAT_RE.match(text):
            return float(text)
        if text in _INF:
            return math.inf
        if text in _NINF:
            return -math.inf
        if text in _NAN:
            return math.nan
    return text


def read_text(data: bytes, file: str, report: Report) -> str | None:
    """Decode a stack file's bytes as UTF-8; reports where the first bad byte is."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        report.error(Position(file, line, column), "",
                     f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x} cannot be decoded)",
                     code="encoding")
        return None


def parse(text: str, file: str, report: Report) -> list[PMap]:
    """Parse every YAML document in `text`; problems go to `report` (nothing is raised).

    Returns one `PMap` per document. An empty file, a document that is not a mapping or
    a syntax error yields no tree for that document and an error in `report`.
    """
    if not text.strip() or all(_is_comment_or_blank(l) for l in text.splitlines()):
        report.error(Position(file, 1, 1), "", "file is empty: expected a mapping with `services`",
                     code="empty")
        return []
    too_deep = _too_deep(text, file)
    if too_deep is not None:
        report.error(too_deep, "", f"YAML nesting deeper than {MAX_DEPTH} levels is not supported", code="yaml")
        return []
    loader = _NodeLoader(text)
    documents: list[PMap] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            builder = _Builder(file, report)
            value = builder.build_root(node)
            if value is not None:
                documents.append(value)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file, 1, 1)
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{exc.context}, {problem}" if exc.problem else exc.context
        report.error(pos, "", f"YAML syntax error: {problem}", code="yaml")
        return []
    except yaml.YAMLError as exc:
        report.error(Position(file, 1, 1), "", f"YAML error: {exc}", code="yaml")
        return []
    except _TooManyAliases as exc:
        report.error(Position(file, 1, 1), "", str(exc), code="aliases")
        return []
    finally:
        loader.dispose()
    return documents


def _too_deep(text: str, file: str) -> Position | None:
    """Where nesting first exceeds MAX_DEPTH, from the event stream (which does not recurse)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_NodeLoader):
            if isinstance(event, _OPENERS):
                depth += 1
                if depth > MAX_DEPTH:
                    return Position(file, event.start_mark.line + 1, event.start_mark.column + 1)
            elif isinstance(event, _CLOSERS):
                depth -= 1
    except yaml.YAMLError:
        return None  # composing reports the syntax error with its position
    return None


_OPENERS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSERS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _is_comment_or_blank(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#") or stripped in ("---", "...")


def _pos(file: str, node: yaml.Node) -> Position:
    return Position(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Constructs one document's values from its node graph."""

    def __init__(self, file: str, report: Report):
        self.file = file
        self.report = report
        self.active: set[int] = set()

    def build_root(self, node: yaml.Node) -> PMap | None:
        distinct, expanded, depth = _sizes(node)
        if depth > MAX_DEPTH + 1:  # aliases can nest deeper than the text shows
            raise _TooManyAliases(f"YAML nesting deeper than {MAX_DEPTH} levels (through aliases) "
                                  "is not supported")
        if expanded > _EXPANSION_ALLOWANCE and expanded > _EXPANSION_FACTOR * distinct:
            raise _TooManyAliases(
                f"excessive aliasing: expanding the anchors would build {expanded} values from "
                f"{distinct} written ones (is this a \"billion laughs\" document?)")
        value = self.build(node, ())
        if value is None and isinstance(node, yaml.ScalarNode):
            self.report.error(_pos(self.file, node), "", "file is empty: expected a mapping with `services`",
                              code="empty")
            return None
        if not isinstance(value, PMap):
            self.report.error(_pos(self.file, node), "",
                              f"top-level object must be a mapping, got {_kind(value)}",
                              code="not-mapping")
            return None
        return value

    def build(self, node: yaml.Node, path: tuple) -> Any:
        if id(node) in self.active:
            self.report.error(_pos(self.file, node), format_path(path), "recursive alias: an anchor refers to itself")
            return None
        if isinstance(node, yaml.ScalarNode):
            return self.build_scalar(node, path)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return self.build_sequence(node, path)
            return self.build_mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _check_tag(self, node: yaml.Node, path: tuple, allowed: str) -> None:
        tag = node.tag
        if tag in (allowed, None, _PLAIN) or tag in MERGE_TAGS or tag == "!":
            return
        self.report.error(_pos(self.file, node), format_path(path), f"unsupported YAML tag {tag}")

    def build_scalar(self, node: yaml.ScalarNode, path: tuple) -> Any:
        tag, text = node.tag, node.value
        if tag == _PLAIN:
            return resolve_plain(text)
        if tag in MERGE_TAGS:
            return text if node.style else resolve_plain(text)
        if tag == _STR or tag == "!":
            return text
        try:
            if tag == _INT:
                value = resolve_plain(text)
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
                return int(text)
            if tag == _FLOAT:
                value = resolve_plain(text)
                return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float(text)
            if tag == _BOOL:
                value = resolve_plain(text)
                if isinstance(value, bool):
                    return value
                raise ValueError(text)
            if tag == _NULL:
                return None
        except ValueError:
            self.report.error(_pos(self.file, node), format_path(path),
                              f"{text!r} is not a valid {tag.rsplit(':', 1)[-1]}")
            return text
        self.report.error(_pos(self.file, node), format_path(path), f"unsupported YAML tag {tag}")
        return text

    def build_sequence(self, node: yaml.SequenceNode, path: tuple) -> PList:
        self._check_tag(node, path, _SEQ)
        out = PList(_pos(self.file, node))
        for index, item in enumerate(node.value):
            out.add(self.build(item, path + (index,)), _pos(self.file, item))
        return out

    def build_mapping(self, node: yaml.MappingNode, path: tuple) -> PMap:
        self._check_tag(node, path, _MAP)
        out = PMap(_pos(self.file, node))
        merged: list[PMap] = []
        for key_node, value_node in node.value:
            if _is_merge_key(key_node):
                merged.extend(self._merge_sources(value_node, path))
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            key_pos = _pos(self.file, key_node)
            if key in out:
                first = out.key_position(key)
                self.report.error(key_pos, format_path(path + (key,)),
                                  f"duplicate key {key!r} (first defined at line {first.line})",
                                  code="duplicate-key")
                continue
            value = self.build(value_node, path + (key,))
            out.put(key, value, key_pos, _pos(self.file, value_node))
            if value_node.tag in MERGE_TAGS:
                out.tags[key] = MERGE_TAGS[value_node.tag]
        # `<<` keys fill in only what the mapping does not set itself; earlier sources win.
        for source in merged:
            for key in source:
                if key not in out:
                    out.copy_entry(key, source)
        return out

    def _merge_sources(self, node: yaml.Node, path: tuple) -> list[PMap]:
        value = self.build(node, path + ("<<",))
        if isinstance(value, PMap):
            return [value]
        if isinstance(value, PList) and all(isinstance(v, PMap) for v in value):
            return list(value)
        self.report.error(_pos(self.file, node), format_path(path + ("<<",)),
                          "merge key `<<` expects a mapping or a list of mappings")
        return []

    def _key(self, node: yaml.Node, path: tuple) -> str | None:
        if isinstance(node, yaml.ScalarNode):
            value = self.build_scalar(node, path)
            if isinstance(value, str):
                return value
            where = "at top level" if not path else f"in {format_path(path)}"
            self.report.error(_pos(self.file, node), format_path(path),
                              f"non-string key {where}: {node.value} (quote it to make it a string)",
                              code="non-string-key")
            return None
        self.report.error(_pos(self.file, node), format_path(path), "a mapping key must be a string, not a collection",
                          code="non-string-key")
        return None


def _is_merge_key(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and (
        node.tag == _MERGE or (node.value == "<<" and node.tag == _PLAIN))


def _sizes(root: yaml.Node) -> tuple[int, int, int]:
    """(nodes written, values and depth that expanding every alias would build), measured
    without building anything.

    Post-order over the node graph with each node's expanded size memoised, so a document
    whose aliases multiply into billions is measured in time linear in its text.
    """
    expanded: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in expanded:
            continue
        children = _children(node)
        if children_done or not children:
            expanded[id(node)] = 1 + sum(expanded.get(id(c), 0) for c in children)
            depth[id(node)] = 1 + max((depth.get(id(c), 0) for c in children), default=0)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in expanded)
    return len(expanded), expanded[id(root)], depth[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [v for _, v in node.value]
    return []


def _kind(value: Any) -> str:
    from orchestrator.loader.tree import type_name
    return type_name(value)
