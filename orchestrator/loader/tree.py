"""The positioned document tree every loader phase works on.

`parse` builds it, later phases transform it, `bind` consumes it. A `PMap` is a dict and a
`PList` a list (so jsonschema and plain code read them as usual) that also remember where each
key and item was written. Positions travel with the values: when merge, extends or include
copy a value from one file into another tree, its position comes along, so an error found in
the merged tree is still reported where the value was written.

Scalars are plain Python values (str, int, float, bool, None); their position is held by the
container they sit in.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from orchestrator.errors import Position

Path = tuple  # tuple[str | int, ...]


class PMap(dict):
    """A mapping with the position of itself, of each key, and of each value.

    `tags` holds the YAML merge-control tags written on values (`!reset`, `!override`).
    """

    def __init__(self, pos: Position, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pos = pos
        self.key_pos: dict[str, Position] = {}
        self.val_pos: dict[str, Position] = {}
        self.tags: dict[str, str] = {}

    def put(self, key: str, value: Any, key_pos: Position | None = None,
            val_pos: Position | None = None) -> None:
        """Set `key`, recording where it was written (defaults to the map's own position)."""
        self[key] = value
        self.key_pos[key] = key_pos or self.pos
        self.val_pos[key] = val_pos or _own_pos(value) or self.key_pos[key]

    def copy_entry(self, key: str, source: "PMap") -> None:
        """Copy `source[key]` with its positions into self."""
        self[key] = source[key]
        self.key_pos[key] = source.key_pos.get(key, source.pos)
        self.val_pos[key] = source.val_pos.get(key, self.key_pos[key])
        if key in source.tags:
            self.tags[key] = source.tags[key]

    def remove(self, key: str) -> None:
        self.pop(key, None)
        self.key_pos.pop(key, None)
        self.val_pos.pop(key, None)
        self.tags.pop(key, None)

    def key_position(self, key: str) -> Position:
        return self.key_pos.get(key, self.pos)

    def value_position(self, key: str) -> Position:
        return self.val_pos.get(key) or self.key_pos.get(key, self.pos)

    def __deepcopy__(self, memo: dict) -> "PMap":
        out = PMap(self.pos)
        memo[id(self)] = out
        for key, value in self.items():
            dict.__setitem__(out, key, deepcopy(value, memo))
        out.key_pos = dict(self.key_pos)
        out.val_pos = dict(self.val_pos)
        out.tags = dict(self.tags)
        return out

    def __reduce__(self):  # pickling/copy without the positions is never wanted
        raise TypeError("use tree.deepcopy / tree.plain")


class PList(list):
    """A sequence with its own position and the position of each item."""

    def __init__(self, pos: Position, items: Iterable[Any] = (),
                 item_pos: Iterable[Position] | None = None):
        items = list(items)
        super().__init__(items)
        self.pos = pos
        if item_pos is None:
            self.item_pos = [_own_pos(v) or pos for v in items]
        else:
            self.item_pos = list(item_pos)

    def add(self, value: Any, pos: Position | None = None) -> None:
        self.append(value)
        self.item_pos.append(pos or _own_pos(value) or self.pos)

    def item_position(self, index: int) -> Position:
        if 0 <= index < len(self.item_pos):
            return self.item_pos[index]
        return self.pos

    def __deepcopy__(self, memo: dict) -> "PList":
        out = PList(self.pos, (deepcopy(v, memo) for v in self), self.item_pos)
        memo[id(self)] = out
        return out

    def __reduce__(self):
        raise TypeError("use tree.deepcopy / tree.plain")


def _own_pos(value: Any) -> Position | None:
    return getattr(value, "pos", None)


def deepcopy(value: Any, memo: dict | None = None) -> Any:
    """Copy a tree, positions included (faster than copy.deepcopy on big files)."""
    if isinstance(value, PMap):
        return value.__deepcopy__({} if memo is None else memo)
    if isinstance(value, PList):
        return value.__deepcopy__({} if memo is None else memo)
    if isinstance(value, dict):
        return {k: deepcopy(v, memo) for k, v in value.items()}
    if isinstance(value, list):
        return [deepcopy(v, memo) for v in value]
    return value


def plain(value: Any) -> Any:
    """The tree as plain dicts and lists (for output and hashing)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def child_position(parent: Any, key: str | int) -> Position | None:
    """Where `parent[key]` was written, or None when unknown."""
    if isinstance(parent, PMap) and isinstance(key, str):
        return parent.value_position(key) if key in parent else parent.pos
    if isinstance(parent, PList) and isinstance(key, int):
        return parent.item_position(key)
    return getattr(parent, "pos", None)


def locate(root: Any, path: Iterable[str | int], *, key: bool = False) -> Position:
    """Position of the value at `path` (or of its key with key=True), else the nearest ancestor."""
    node = root
    best: Position = getattr(root, "pos", Position("<unknown>"))
    parts = list(path)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, PMap) and isinstance(part, str) and part in node:
            best = node.key_position(part) if (key and last) else node.value_position(part)
            node = node[part]
        elif isinstance(node, PList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_position(part)
            node = node[part]
        else:
            break
    return best


def walk(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any, Any]]:
    """Yield (path, parent, value) for every node below `value`, depth first."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield path + (k,), value, v
            yield from walk(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield path + (i,), value, v
            yield from walk(v, path + (i,))


def type_name(value: Any) -> str:
    """Human name of a YAML value's type, for messages ("a number", "a list")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
