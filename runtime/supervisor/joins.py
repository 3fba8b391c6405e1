"""Namespaces joined from another container (IpcMode / PidMode `container:<x>`), resolved at start.

Called by supervised.Supervised.start before every start (first start and restarts): the donor's
init pid changes when it restarts, so the /proc/<pid>/ns/* path written at create time is only a
placeholder. The donor must be running, as Docker requires (same Conflict text). Pure: the
caller passes a lookup from container id to the donor's live init pid (None when not running).
"""

from __future__ import annotations

import copy
from typing import Callable

from runtime import errdefs
from runtime.executor import annotations as ann

# annotation → (OCI namespace type, /proc/<pid>/ns entry, Docker's word in the error)
_JOINS = ((ann.IPC_CONTAINER, "ipc", "ipc", "IPC"), (ann.PID_CONTAINER, "pid", "pid", "PID"))


def resolve_joins(spec: dict, live_pid: Callable[[str], int | None]) -> dict:
    """`spec` with each joined namespace's path pointing at the donor's current init.

    Returns `spec` itself when nothing is joined. Raises Conflict when a donor is not running.
    """
    a = spec.get("annotations") or {}
    wanted = [(a[key], ns_type, proc, word) for key, ns_type, proc, word in _JOINS if a.get(key)]
    if not wanted:
        return spec
    out = copy.deepcopy(spec)
    namespaces = out.setdefault("linux", {}).setdefault("namespaces", [])
    for donor, ns_type, proc, word in wanted:
        pid = live_pid(donor)
        if not pid:
            raise errdefs.Conflict(f"cannot join {word} of a non running container: {donor}")
        path = f"/proc/{pid}/ns/{proc}"
        for ns in namespaces:
            if ns["type"] == ns_type:
                ns["path"] = path
                break
        else:
            namespaces.append({"type": ns_type, "path": path})
    return out
