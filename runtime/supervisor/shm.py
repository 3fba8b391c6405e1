"""Shared POSIX shared memory (/dev/shm) for IpcMode shareable and `container:<x>`, as Docker does.

Called by supervised.Supervised.start before every start, and by server.Supervisor when a
container stops for good or is removed. A `shareable` container gets a tmpfs mounted on the
host at <run_root>/containers/<id>/shm (size and options from its spec's /dev/shm mount) and
bind-mounted into it as /dev/shm; a joiner binds the donor's directory (or the host's /dev/shm
when the donor runs with `ipc: host`). A donor that is neither shareable nor host is refused
with Docker 20.10's message. Deciding (`plan`, `rewrite`) is pure; mounting is a thin layer.
"""

from __future__ import annotations

import copy
import os
from typing import Callable

from runtime import errdefs
from runtime.executor import annotations as ann

NOT_SHAREABLE = "non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
_FLAGS = {"nosuid": 2, "nodev": 4, "noexec": 8}   # MS_NOSUID, MS_NODEV, MS_NOEXEC


def shm_dir(run_root: str, container_id: str) -> str:
    return os.path.join(run_root, "containers", container_id, "shm")


def _shm_mount(spec: dict) -> dict | None:
    return next((m for m in spec.get("mounts") or [] if m.get("destination") == "/dev/shm"), None)


def tmpfs_options(spec: dict) -> tuple[int, str]:
    """(mount flags, data) for the host tmpfs, from the spec's own /dev/shm tmpfs mount."""
    m = _shm_mount(spec)
    options = (m or {}).get("options") or ["nosuid", "noexec", "nodev", "mode=1777", f"size={64 << 20}"]
    flags = sum(_FLAGS.get(o, 0) for o in options)
    data = ",".join(o for o in options if "=" in o)
    return flags, data


def plan(spec: dict, run_root: str, donor_spec: Callable[[str], dict | None]) -> str | None:
    """The host directory to bind at /dev/shm, or None to keep the spec as it is (private, host,
    or a user mount on /dev/shm). Raises Conflict when joining a donor that does not share."""
    a = spec.get("annotations") or {}
    cid = a.get(ann.CONTAINER_ID) or ""
    donor = a.get(ann.IPC_CONTAINER)
    if donor:
        d = donor_spec(donor)
        mode = ((d or {}).get("annotations") or {}).get(ann.IPC_MODE)
        if mode == "host":
            return "/dev/shm"
        if mode != "shareable":
            raise errdefs.Conflict(NOT_SHAREABLE)
        return shm_dir(run_root, donor)
    if a.get(ann.IPC_MODE) == "shareable" and cid:
        m = _shm_mount(spec)
        if m is not None and m.get("type") == "tmpfs":
            return shm_dir(run_root, cid)
    return None


def rewrite(spec: dict, source: str) -> dict:
    """A copy of `spec` whose /dev/shm is a bind of `source` (replacing the tmpfs, or placed
    right after /dev/mqueue for a joiner, which has no /dev/shm of its own)."""
    out = copy.deepcopy(spec)
    mounts = out.setdefault("mounts", [])
    bind = {"destination": "/dev/shm", "type": "bind", "source": source,
            "options": ["rbind", "rprivate", "nosuid", "nodev", "noexec"]}
    for i, m in enumerate(mounts):
        if m.get("destination") == "/dev/shm":
            mounts[i] = bind
            return out
    at = next((i + 1 for i, m in enumerate(mounts) if m.get("destination") == "/dev/mqueue"), len(mounts))
    mounts.insert(at, bind)
    return out


def is_mounted(path: str) -> bool:
    """True if `path` is a mount point in our mount namespace (/proc/self/mountinfo)."""
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            target = line.split()[4].replace("\\040", " ")
            if target == real:
                return True
    return False


def ensure_mounted(sys, path: str, spec: dict) -> None:
    """Mounts the shareable container's host tmpfs at `path` unless it is there already
    (a restart, or a supervisor that re-adopted the container)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    if is_mounted(path):
        return
    flags, data = tmpfs_options(spec)
    sys.mount("shm", path, "tmpfs", flags, data)


def release(sys, path: str) -> None:
    """Unmounts and removes the host tmpfs (lazily: a running joiner keeps its own bind)."""
    try:
        if is_mounted(path):
            sys.umount2(path, 2)  # MNT_DETACH
        os.rmdir(path)
    except FileNotFoundError:
        pass
