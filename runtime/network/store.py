"""Persistence of the network manager's state: one JSON document, replaced atomically.

Called by `manager` after every change. Write to a temporary file, then rename over the old
one: a crash leaves either the old or the new document, never half of one. Networks are
fsync'ed (rare, and losing one would orphan a bridge); endpoint changes are not, to keep
wiring fast — after a power loss `restore()` reconciles the kernel with what is on disk.
"""

from __future__ import annotations

import json
import os

from runtime import errdefs

VERSION = 1


def empty() -> dict:
    return {"version": VERSION, "networks": {}, "sandboxes": {}, "ip_forward_by_us": False,
            "sequence": 0}


def load(path: str) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return empty()
    except (OSError, ValueError) as exc:
        raise errdefs.Internal(f"network state {path}: unreadable ({exc})") from exc
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise errdefs.Internal(f"network state {path}: unknown format version {data.get('version')!r}")
    base = empty()
    base.update(data)
    return base


def save(path: str, state: dict, *, durable: bool) -> None:
    tmp = f"{path}.tmp"
    data = json.dumps(state, separators=(",", ":"))  # one write: json.dump writes in pieces
    with open(tmp, "w") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
