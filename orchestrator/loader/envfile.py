"""Reads `.env`-style files (the project's `.env`, `--env-file`, a service's `env_file`).

Called by `loader.load_stack` to build the interpolation environment, and later by whatever
needs a service's `env_file` contents (config hash, `up`). Syntax as Docker Compose reads it:
`KEY=VALUE`, `export KEY=VALUE`, `KEY: VALUE`, `#` comments, single quotes (literal), double
quotes (escapes, may span lines), unquoted values with ` #` inline comments, and `${VAR}`
references to earlier keys or the lookup environment.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping

from orchestrator.errors import Position, Report

_KEY = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.\-]*)\s*(=|:\s|:$)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}

Substitute = Callable[[str, Callable[[str], str | None]], str]


def parse_env_file(text: str, file: str, report: Report, *,
                   lookup: Mapping[str, str] | None = None,
                   substitute: Substitute | None = None) -> dict[str, str]:
    """Parse env-file text into a dict; malformed lines are reported with their position.

    `substitute(value, lookup)` expands `${VAR}` in unquoted and double-quoted values; keys
    defined earlier in the same file are visible to later ones.
    """
    result: dict[str, str] = {}
    lookup = lookup or {}

    def resolve(name: str) -> str | None:
        if name in result:
            return result[name]
        return lookup.get(name)

    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        number = index + 1
        index += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _KEY.match(line)
        if not match or (match.group(2) is None and line[match.end():].strip()):
            report.error(Position(file, number, 1), "",
                         f"invalid line in env file: {stripped[:60]!r} (expected KEY=VALUE)")
            continue
        key = match.group(1)
        if match.group(2) is None:
            # A bare KEY takes its value from the environment, if any.
            if key in lookup:
                result[key] = lookup[key]
            continue
        rest = line[match.end():].lstrip()
        if rest.startswith("'"):
            value, index = _quoted(rest, "'", lines, index, file, number, report)
        elif rest.startswith('"'):
            raw, index = _quoted(rest, '"', lines, index, file, number, report)
            value = _unescape(raw)
            if substitute:
                value = substitute(value, resolve)
        else:
            value = re.split(r"\s#", rest, maxsplit=1)[0].strip()
            if substitute:
                value = substitute(value, resolve)
        result[key] = value
    return result


def _quoted(rest: str, quote: str, lines: list[str], index: int, file: str, number: int,
            report: Report) -> tuple[str, int]:
    """Value between quotes, possibly spanning lines; returns it and the next line index."""
    body = rest[1:]
    collected = []
    while True:
        end = _closing(body, quote)
        if end >= 0:
            collected.append(body[:end])
            return "\n".join(collected), index
        collected.append(body)
        if index >= len(lines):
            report.error(Position(file, number, 1), "", f"unterminated {quote} quote in env file")
            return "\n".join(collected), index
        body = lines[index]
        index += 1


def _closing(text: str, quote: str) -> int:
    i = 0
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), raw)
