"""Durations and byte sizes as Compose writes them: parsing and canonical formatting.

Called by `loader.normalize` (canonical form) and by `bind` when it builds the typed model.
Pure functions; they raise `ValueError` with a human message, which the caller turns into a
positioned diagnostic.

Durations follow Go's `time.ParseDuration` / `Duration.String` (what Docker Compose uses), so
`stackyard config` prints `1m30s` where `docker compose config` does. Byte sizes follow
`go-units.RAMInBytes`: binary units (k = 1024).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

NANOSECOND = 1
MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_DURATION_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]+)")

_BYTES = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?(i)?(b)?$", re.IGNORECASE)
_BYTE_UNITS = {None: 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def parse_duration(value: str | int | float) -> int:
    """A duration in nanoseconds: Go syntax (`1h2m3s`, `1.5s`, `500ms`, `10us`, `-2s`, `0`).

    A YAML number (not a string) counts as seconds, as Compose's `stop_grace_period: 10`
    is commonly written. Raises ValueError with the reason.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: expected a string like 10s")
    if isinstance(value, (int, float)):
        return int(Decimal(str(value)) * SECOND)
    if not isinstance(value, str):
        raise ValueError(f"invalid duration: expected a string like 10s, not {type(value).__name__}")
    text = value.strip()
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(f"invalid duration {value!r}")
    total = Decimal(0)
    pos = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match or match.group(1) in ("", "."):
            if re.fullmatch(r"[0-9.]+", text[pos:]):
                raise ValueError(f"invalid duration {value!r}: missing unit (e.g. {text[pos:]}s)")
            raise ValueError(f"invalid duration {value!r}")
        number, unit = match.groups()
        if unit not in _DURATION_UNITS:
            raise ValueError(f"invalid duration {value!r}: unknown unit {unit!r} "
                             "(use ns, us, ms, s, m or h)")
        total += Decimal(number) * _DURATION_UNITS[unit]
        pos = match.end()
    return sign * int(total)


def format_duration(nanoseconds: int) -> str:
    """Go's `Duration.String()`: `0s`, `500ms`, `1.5s`, `1m30s`, `1h0m0s`, `10µs`."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    value = abs(nanoseconds)
    if value < MICROSECOND:
        return f"{sign}{value}ns"
    if value < MILLISECOND:
        return f"{sign}{_fraction(value, MICROSECOND)}\u00b5s"
    if value < SECOND:
        return f"{sign}{_fraction(value, MILLISECOND)}ms"
    hours, rest = divmod(value, HOUR)
    minutes, rest = divmod(rest, MINUTE)
    text = f"{_fraction(rest, SECOND)}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def normalize_duration(value: str | int | float) -> str:
    """Parse then format: `90s` -> `1m30s`. Raises ValueError."""
    return format_duration(parse_duration(value))


def parse_bytes(value: str | int | float) -> int:
    """A byte size as an int: `1024`, `"512m"`, `"1gb"`, `"1.5g"`, `"2GiB"` (k = 1024).

    Integers are bytes as written (`memswap_limit: -1` means unlimited). Raises ValueError.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid size {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"invalid size: expected a number or a string like 512m, not {type(value).__name__}")
    text = value.strip()
    if text == "-1":
        return -1
    match = _BYTES.match(text)
    if not match:
        raise ValueError(f"invalid size: {value!r} (expected a number with an optional unit "
                         "b, k, m, g or t, e.g. 512m)")
    number, unit, _, _ = match.groups()
    try:
        amount = Decimal(number)
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"invalid size: {value!r}") from None
    return int(amount * _BYTE_UNITS[unit.lower() if unit else None])


def _fraction(value: int, unit: int) -> str:
    """`value / unit` with the fraction's trailing zeros dropped (1500, 1000 -> "1.5")."""
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{rest:0{digits}d}".rstrip("0")
