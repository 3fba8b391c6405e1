"""Phase 3: `${VAR}` interpolation of every string value, then casting of typed fields.

Called by `loader.load_stack` once per parsed file, before include/extends/merge: each file
is interpolated with the environment of the project it belongs to (an included file with its
own `env_file`s), and values copied later by extends or merge are already final.

Syntax (Compose spec): `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}`
(unset), `${VAR:?message}` / `${VAR?message}` (error), `${VAR:+alt}` / `${VAR+alt}`
(replacement when set), defaults may nest `${A:-${B:-x}}`, `$$` is a literal `$`. A `$` that
starts nothing of the above is kept as written. Keys are never interpolated.

A field the Compose model types as a number or a boolean gets a string from interpolation
(`cpus: "${CPUS}"`); `TYPED_FIELDS` casts such values after substitution, so the schema phase
sees the type the user meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from orchestrator.errors import Position, Report, format_path
from orchestrator.loader.tree import PList, PMap

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
Lookup = Callable[[str], "str | None"]


class TemplateError(ValueError):
    """An invalid template or a required variable without value."""


@dataclass
class Unset:
    """A variable used without default while unset (reported as a warning)."""

    name: str


def substitute(text: str, lookup: Lookup, unset: list[str] | None = None) -> str:
    """Expand one template string.

    Raises:
        TemplateError: invalid syntax, or `${VAR:?msg}` with VAR unset/empty.
    """
    if "$" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _matching_brace(text, i + 1)
            if end < 0:
                raise TemplateError(f"invalid template: {text!r} (missing closing brace)")
            out.append(_braced(text[i + 2:end], text, lookup, unset))
            i = end + 1
        else:
            match = _NAME.match(text, i + 1)
            if not match:
                out.append("$")
                i += 1
                continue
            out.append(_value(match.group(0), lookup, unset))
            i = match.end()
    return "".join(out)


def _matching_brace(text: str, open_index: int) -> int:
    depth = 0
    i = open_index
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _value(name: str, lookup: Lookup, unset: list[str] | None) -> str:
    value = lookup(name)
    if value is None:
        if unset is not None:
            unset.append(name)
        return ""
    return value


def _braced(body: str, whole: str, lookup: Lookup, unset: list[str] | None) -> str:
    match = _NAME.match(body)
    if not match:
        raise TemplateError(f"invalid template: {whole!r}")
    name, rest = match.group(0), body[match.end():]
    if not rest:
        return _value(name, lookup, unset)
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op):]
            break
    else:
        raise TemplateError(f"invalid template: {whole!r}")
    value = lookup(name)
    set_ = value is not None
    non_empty = bool(value)
    present = non_empty if op.startswith(":") else set_
    kind = op[-1]
    if kind == "-":
        return value if present else substitute(arg, lookup, unset)  # type: ignore[return-value]
    if kind == "+":
        return substitute(arg, lookup, unset) if present else ""
    if not present:
        message = substitute(arg, lookup, unset) if arg else ""
        detail = f": {message}" if message else ""
        raise TemplateError(f"required variable {name} is missing a value{detail}")
    return value  # type: ignore[return-value]


# ---- typed fields -----------------------------------------------------------------------

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


def to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected a boolean, got {text!r}")


def to_int(text: str) -> int:
    try:
        return int(text.strip(), 10)
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def to_float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


# Path patterns ("*" matches any key or index) -> cast. Only values that interpolation
# changed are cast: a literal "true" stays what the user wrote.
_S = ("services", "*")
TYPED_FIELDS: dict[tuple, Callable[[str], Any]] = {
    _S + ("configs", "*", "mode"): to_int,
    _S + ("secrets", "*", "mode"): to_int,
    _S + ("cpu_count",): to_int,
    _S + ("cpu_percent",): to_float,
    _S + ("cpu_period",): to_int,
    _S + ("cpu_quota",): to_int,
    _S + ("cpu_rt_period",): to_int,
    _S + ("cpu_rt_runtime",): to_int,
    _S + ("cpus",): to_float,
    _S + ("cpu_shares",): to_int,
    _S + ("init",): to_bool,
    _S + ("deploy", "replicas"): to_int,
    _S + ("deploy", "update_config", "parallelism"): to_int,
    _S + ("deploy", "update_config", "max_failure_ratio"): to_float,
    _S + ("deploy", "rollback_config", "parallelism"): to_int,
    _S + ("deploy", "rollback_config", "max_failure_ratio"): to_float,
    _S + ("deploy", "restart_policy", "max_attempts"): to_int,
    _S + ("deploy", "placement", "max_replicas_per_node"): to_int,
    _S + ("healthcheck", "retries"): to_int,
    _S + ("healthcheck", "disable"): to_bool,
    _S + ("mem_swappiness",): to_int,
    _S + ("oom_kill_disable",): to_bool,
    _S + ("oom_score_adj",): to_int,
    _S + ("pids_limit",): to_int,
    _S + ("ports", "*", "target"): to_int,
    _S + ("privileged",): to_bool,
    _S + ("read_only",): to_bool,
    _S + ("scale",): to_int,
    _S + ("stdin_open",): to_bool,
    _S + ("tty",): to_bool,
    _S + ("ulimits", "*"): to_int,
    _S + ("ulimits", "*", "hard"): to_int,
    _S + ("ulimits", "*", "soft"): to_int,
    _S + ("volumes", "*", "read_only"): to_bool,
    _S + ("volumes", "*", "volume", "nocopy"): to_bool,
    _S + ("volumes", "*", "bind", "create_host_path"): to_bool,
    _S + ("depends_on", "*", "required"): to_bool,
    _S + ("depends_on", "*", "restart"): to_bool,
    _S + ("use_api_socket",): to_bool,
    _S + ("develop", "watch", "*", "initial_sync"): to_bool,
    _S + ("networks", "*", "priority"): to_int,
    _S + ("networks", "*", "gw_priority"): to_int,
    _S + ("gpus", "*", "count"): to_int,
    ("models", "*", "context_size"): to_int,
    ("networks", "*", "external"): to_bool,
    ("networks", "*", "internal"): to_bool,
    ("networks", "*", "attachable"): to_bool,
    ("networks", "*", "enable_ipv4"): to_bool,
    ("networks", "*", "enable_ipv6"): to_bool,
    ("volumes", "*", "external"): to_bool,
    ("secrets", "*", "external"): to_bool,
    ("configs", "*", "external"): to_bool,
}


def _cast_for(path: tuple) -> Callable[[str], Any] | None:
    for pattern, cast in _PATTERNS_BY_LEN.get(len(path), ()):
        if all(p == "*" or p == q for p, q in zip(pattern, path)):
            return cast
    return None


_PATTERNS_BY_LEN: dict[int, list[tuple[tuple, Callable[[str], Any]]]] = {}
for _pattern, _cast in TYPED_FIELDS.items():
    _PATTERNS_BY_LEN.setdefault(len(_pattern), []).append((_pattern, _cast))


# ---- the phase ---------------------------------------------------------------------------

def interpolate(document: PMap, env: Mapping[str, str], report: Report, *,
                hermetic: bool = False) -> PMap:
    """Interpolate every string value of `document` in place and return it.

    Unset variables without default are warnings naming the variable and where it is used;
    `${VAR:?}` failures and invalid templates are errors (warnings with `hermetic`, and the
    value is left as written).
    """
    lookup = env.get
    warned: set[tuple[str, Position]] = set()

    def visit(container: Any, path: tuple) -> None:
        if isinstance(container, PMap):
            items = [(k, v, container.value_position(k)) for k, v in container.items()]
        else:
            items = [(i, v, container.item_position(i)) for i, v in enumerate(container)]
        for key, value, pos in items:
            child_path = path + (key,)
            if isinstance(value, (PMap, PList)):
                visit(value, child_path)
            elif isinstance(value, str) and "$" in value:
                new = _interpolate_value(value, child_path, pos)
                if new is not value:
                    container[key] = new

    def _interpolate_value(value: str, path: tuple, pos: Position) -> Any:
        unset: list[str] = []
        dotted = format_path(path)
        try:
            result = substitute(value, lookup, unset)
        except TemplateError as exc:
            if hermetic:
                report.warning(pos, dotted, str(exc), code="interpolation")
            else:
                report.error(pos, dotted, str(exc), code="interpolation")
            return value
        for name in unset:
            if (name, pos) not in warned:
                warned.add((name, pos))
                report.warning(pos, dotted,
                               f'variable "{name}" is not set, using an empty string',
                               hint=f"set {name} in the environment or .env, or write ${{{name}:-default}}",
                               code="unset-variable")
        if result == value:
            return value
        cast = _cast_for(_generic(path))
        if cast is None:
            return result
        try:
            return cast(result)
        except ValueError as exc:
            report.error(pos, dotted, f"after interpolation: {exc}", code="interpolation")
            return result

    visit(document, ())
    return document


def _generic(path: tuple) -> tuple:
    """Indexes match "*" patterns like keys do; keep the path as is for matching."""
    return tuple(p if isinstance(p, str) else str(p) for p in path)
