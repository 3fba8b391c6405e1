"""`--since`/`--until` values as the docker CLI reads them, turned into the engine's form.

Called by the `logs` command. The Engine API takes Unix seconds (`1700000000.123456789`); the
docker CLI, and so Compose, also accept a Go duration meaning that long ago (`10m`, `1h30m`,
`1.5h`, `250ms`) and RFC 3339 times with or without a zone, down to a bare date (local time
when no zone is given), and convert them on the client. So do we: the engine (dockerd or ours)
only ever sees seconds.
"""

from __future__ import annotations

import re
from datetime import datetime

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIX = re.compile(r"\d+(?:\.\d{1,9})?")


def go_duration(text: str) -> float | None:
    """Seconds of a Go duration (`1h30m`, `1.5h`, `90s`, `0`), None when `text` is not one."""
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if not match:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    return total if text else None


def engine_timestamp(text: str, *, now: float) -> str:
    """The Unix-seconds string the engine reads for a `--since`/`--until` value.

    Raises:
        ValueError: the value is none of the accepted forms (the message says which they are).
    """
    value = text.strip()
    if _UNIX.fullmatch(value):
        return value
    seconds = go_duration(value)
    if seconds is not None:
        return f"{now - seconds:.9f}"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"invalid time {text!r}: use a duration like 10m or 1h30m, an RFC 3339 time like "
                         "2026-11-28T10:00:00Z (or 2026-11-28), or Unix seconds") from None
    # A time without a zone is local time, as for the docker CLI; timestamp() reads it so.
    return f"{moment.timestamp():.9f}"
