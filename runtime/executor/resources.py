"""Live resource updates (`docker update`): new limits written into a running container's cgroup.

Called by the supervisor (op "update") with the container's CgroupHandle, whichever executor
started it: the native executor's cgroups and crun/runc's (found through the init's
/proc/<pid>/cgroup, oci_runtime.handle_from_pid) are plain cgroup dirs, so writing the files is
the same for both. Deciding what to write is pure (`plan_writes`, from cgroups.v1_files /
v2_files); `apply` writes in that order and, if a write fails, puts back what it had already
changed, so a refused update leaves the container as it was.
"""

from __future__ import annotations

import errno
import os

from runtime import errdefs
from runtime.executor.cgroups import UNIFIED, CgroupHandle, _read, _write, v1_files, v2_files

# Docker's warnings when the host lacks a knob (daemon/daemon_unix.go).
NO_SWAP = "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."
NO_BLKIO_WEIGHT = "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
OPTIONAL = {"memory.memsw.limit_in_bytes": NO_SWAP, "memory.swap.max": NO_SWAP,
            "blkio.weight": NO_BLKIO_WEIGHT, "io.weight": NO_BLKIO_WEIGHT}
ALTERNATIVES = {"blkio.weight": "blkio.bfq.weight", "io.weight": "io.bfq.weight"}


def _order_memory(files: list[tuple[str, str]], limit_file: str, swap_file: str,
                  current_limit: int | None) -> list[tuple[str, str]]:
    """runc's order for v1: the kernel keeps memory ≤ memory+swap at every step, so when the new
    swap limit is above the current memory limit (or unlimited) swap goes first (pure)."""
    values = dict(files)
    if limit_file not in values or swap_file not in values or current_limit is None:
        return files
    swap = int(values[swap_file])
    if swap == -1 or current_limit < swap:
        first = [(swap_file, values[swap_file]), (limit_file, values[limit_file])]
        return first + [(f, v) for f, v in files if f not in (limit_file, swap_file)]
    return files


def plan_writes(handle: CgroupHandle, resources: dict, *, exists=os.path.exists,
                read=_read) -> tuple[list[tuple[str, str]], list[str]]:
    """[(path, value)] in write order and the warnings for knobs this host lacks.

    Raises FailedPrecondition when a controller the update needs is missing."""
    writes: list[tuple[str, str]] = []
    warnings: list[str] = []
    if handle.mode == "v2":
        groups = {UNIFIED: v2_files(resources)}
    else:
        groups = v1_files(resources, device_rules=None)
        if "memory" in groups and "memory" in handle.paths:
            limit_path = os.path.join(handle.paths["memory"], "memory.limit_in_bytes")
            current = int(read(limit_path).strip()) if exists(limit_path) else None
            groups["memory"] = _order_memory(groups["memory"], "memory.limit_in_bytes",
                                             "memory.memsw.limit_in_bytes", current)
    for ctrl, files in groups.items():
        base = handle.paths.get(ctrl)
        for name, value in files:
            target = os.path.join(base, name) if base else None
            if target is not None and not exists(target) and name in ALTERNATIVES:
                target = os.path.join(base, ALTERNATIVES[name])
            if target is None or not exists(target):
                if name in OPTIONAL:
                    if OPTIONAL[name] not in warnings:
                        warnings.append(OPTIONAL[name])
                    continue
                raise errdefs.FailedPrecondition(f"cgroup: {name} is not available for this container "
                                                 f"({base or ctrl + ' controller not mounted'})")
            writes.append((target, value))
    return writes, warnings


def _memory_usage(path: str) -> tuple[str, str]:
    """(current, peak) usage next to a memory limit file, for the EBUSY message."""
    folder = os.path.dirname(path)
    for current, peak in (("memory.usage_in_bytes", "memory.max_usage_in_bytes"), ("memory.current", "memory.peak")):
        try:
            return _read(os.path.join(folder, current)).strip(), _read(os.path.join(folder, peak)).strip()
        except OSError:
            continue
    return "?", "?"


def _error(exc: OSError, path: str, value: str) -> errdefs.StackyardError:
    name = os.path.basename(path)
    if exc.errno == errno.EBUSY and name.startswith("memory."):
        # The kernel could not reclaim down to the new limit (v1): Docker's words from runc.
        usage, peak = _memory_usage(path)
        return errdefs.Conflict(f"unable to set memory limit to {value} (current usage: {usage}, peak usage: {peak})")
    return errdefs.from_oserror(exc, f"cgroup {path}: cannot write {value!r}")


def apply(handle: CgroupHandle, resources: dict) -> list[str]:
    """Writes `resources` (OCI shape; -1 = unlimited) into the container's cgroup; returns warnings.

    Raises Conflict (memory limit below current usage), FailedPrecondition (controller missing),
    or the errdefs of the failed write — after restoring every file it had changed."""
    writes, warnings = plan_writes(handle, resources)
    done: list[tuple[str, str]] = []
    for path, value in writes:
        try:
            old = _read(path).strip()
            _write(path, value)
        except OSError as exc:
            for done_path, old_value in reversed(done):
                try:
                    _write(done_path, old_value)
                except OSError:
                    pass  # best effort: the original error is the one to report
            raise _error(exc, path, value) from exc
        done.append((path, old))
    return warnings

