"""Small JSON records written atomically: tmp file + fsync + rename.

Who calls it: the container store (runtime/containers/store.py), the volume store
(runtime/volumes/store.py) and the supervisor. A crash leaves the old record or the new one,
never half of one; errors are errdefs categories naming the file.
"""

from __future__ import annotations

import contextlib
import json
import os

from runtime import errdefs


def write_json_atomic(path: str, data: dict) -> None:
    """Raises Internal/PermissionDenied (mapped from the OSError) naming the file."""
    commit_json(prepare_json(path, data), path)


def prepare_json(path: str, data: dict, tag: str = "") -> str:
    """The first half of write_json_atomic: `data` written and fsynced under a temporary name
    next to `path`, which is returned; nothing is visible until `commit_json`. Lets a caller
    do the slow part while it waits for something else (the supervisor, while a container's
    child sets itself up). `tag` keeps two pending records of one process apart."""
    tmp = f"{path}.tmp.{os.getpid()}{tag}"
    try:
        with open(tmp, "w") as fh:
            json.dump(data, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        discard_json(tmp)
        raise errdefs.from_oserror(exc, f"file {path}") from exc
    return tmp


def commit_json(tmp: str, path: str) -> None:
    """The second half: the prepared record replaces `path` atomically."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        discard_json(tmp)
        raise errdefs.from_oserror(exc, f"file {path}") from exc


def discard_json(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def read_json(path: str) -> dict:
    """Raises NotFound when absent, Internal when the file is not JSON."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError as exc:
        raise errdefs.NotFound(f"file {path} not found") from exc
    except ValueError as exc:
        raise errdefs.Internal(f"file {path} is not valid JSON: {exc}") from exc
