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
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "w") as fh:
            json.dump(data, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise errdefs.from_oserror(exc, f"file {path}") from exc


def read_json(path: str) -> dict:
    """Raises NotFound when absent, Internal when the file is not JSON."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError as exc:
        raise errdefs.NotFound(f"file {path} not found") from exc
    except ValueError as exc:
        raise errdefs.Internal(f"file {path} is not valid JSON: {exc}") from exc
