"""WWW-Authenticate challenges and token scopes: pure parsing and formatting.

Called by `auth`. A registry answers 401 with `Bearer realm="…",service="…",scope="…"` (token
auth, registry-spec auth/token.md) or `Basic realm="…"` (htpasswd); scopes are
`repository:<name>:<actions>` (auth/scope.md), `pull` to read and `pull,push` to write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class Challenge:
    scheme: str                                   # lower case: "bearer" or "basic"
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scopes(self) -> list[str]:
        return self.params["scope"].split() if self.params.get("scope") else []


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """The value of a quoted-string starting at text[pos] == '"', and the position after it."""
    out, pos = [], pos + 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
        elif char == '"':
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1
    return "".join(out), pos  # unterminated: take what is there


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge in a WWW-Authenticate header value (RFC 7235), schemes in lower case."""
    challenges: list[Challenge] = []
    pos, text = 0, header or ""
    current: Challenge | None = None
    while pos < len(text):
        while pos < len(text) and text[pos] in " ,\t":
            pos += 1
        match = _TOKEN.match(text, pos)
        if not match:
            pos += 1
            continue
        word, pos = match.group(0), match.end()
        rest = pos
        while rest < len(text) and text[rest] in " \t":
            rest += 1
        if rest < len(text) and text[rest] == "=" and current is not None:
            rest += 1
            while rest < len(text) and text[rest] in " \t":
                rest += 1
            if rest < len(text) and text[rest] == '"':
                value, pos = _quoted(text, rest)
            else:
                value_match = _TOKEN.match(text, rest)
                value = value_match.group(0) if value_match else ""
                pos = value_match.end() if value_match else rest
            current.params[word.lower()] = value
        else:
            current = Challenge(word.lower(), {})
            challenges.append(current)
    return challenges


def repository_scope(repository: str, actions: tuple[str, ...] | list[str]) -> str:
    """`repository:library/busybox:pull,push` (actions de-duplicated, in a stable order)."""
    order = ["pull", "push", "delete", "*"]
    unique = sorted(set(actions), key=lambda a: (order.index(a) if a in order else len(order), a))
    return f"repository:{repository}:{','.join(unique)}"


def merge_scopes(*groups: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """One scope per resource with the union of actions, sorted: a stable token cache key."""
    merged: dict[tuple[str, str], set[str]] = {}
    for group in groups:
        for scope in group:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if not name:  # "registry:catalog" style without actions
                name, actions = rest, ""
            merged.setdefault((kind, name), set()).update(a for a in actions.split(",") if a)
    out = []
    for (kind, name), actions in merged.items():
        if kind == "repository":
            out.append(repository_scope(name, tuple(actions)))
        else:
            out.append(f"{kind}:{name}:{','.join(sorted(actions))}" if actions else f"{kind}:{name}")
    return tuple(sorted(out))
