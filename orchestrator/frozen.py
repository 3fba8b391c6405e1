"""Immutable, hashable JSON-like values: `FrozenMap` and `freeze`.

Kept apart from `orchestrator.model` (which re-exports them) so that `observe` and the
converged-`up` check can build observed snapshots without importing the whole model.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping, TypeVar, Union

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V]):
    """An immutable, hashable mapping (insertion order kept, equality ignores order)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()):
        object.__setattr__(self, "_data", dict(items))
        object.__setattr__(self, "_hash", None)

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(frozenset(self._data.items())))
        return self._hash

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


# A JSON-like value with every container frozen (dict -> FrozenMap, list -> tuple).
Frozen = Union[None, bool, int, float, str, tuple, FrozenMap]

EMPTY: FrozenMap = FrozenMap()


def freeze(value: Any) -> Frozen:
    """Deep-convert a JSON-like value (dicts, lists, scalars) into its frozen form."""
    if isinstance(value, Mapping):
        return FrozenMap((k, freeze(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value
