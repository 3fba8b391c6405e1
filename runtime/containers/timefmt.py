"""Docker's timestamps: RFC 3339 with nanoseconds in UTC ("2026-11-28T04:07:31.123456789Z").

Used by the state model, the log writer/reader and the supervisor's events. Times are carried
as integer nanoseconds since the epoch internally, rendered only at the edge.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

from runtime import errdefs

# What Docker shows for a time that never happened (StartedAt of a created container).
ZERO_TIME = "0001-01-01T00:00:00Z"

_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def now_ns() -> int:
    return time.time_ns()


def format_ns(ns: int) -> str:
    """RFC3339Nano of `ns` since the epoch, UTC, trailing zeros of the fraction kept (9 digits)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{base}.{frac:09d}Z"


def parse_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time. Raises InvalidArgument."""
    match = _RFC3339.match(text)
    if match is None:
        raise errdefs.InvalidArgument(f"invalid RFC 3339 time {text!r}")
    base, frac, zone = match.groups()
    offset = "+00:00" if zone == "Z" else zone
    stamp = datetime.fromisoformat(base + offset)
    frac_ns = int((frac or "0").ljust(9, "0"))
    return int(stamp.timestamp()) * 1_000_000_000 + frac_ns


def parse_api_time(value: str | int | float | None) -> int | None:
    """A `since`/`until` of the Engine API: UNIX seconds ("1700000000.5") or RFC 3339.

    Returns nanoseconds, or None for absent/zero. Raises InvalidArgument.
    """
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, (int, float)):
        return int(value * 1_000_000_000)
    try:
        seconds, _, frac = value.partition(".")
        return int(seconds) * 1_000_000_000 + int(frac.ljust(9, "0")[:9] or 0)
    except ValueError:
        return parse_ns(value)


