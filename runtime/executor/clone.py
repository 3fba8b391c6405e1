"""fork() whose child starts inside a cgroup2 directory (clone3 with CLONE_INTO_CGROUP).

Called by NativeExecutor._fork (runtime/executor/native.py), in the supervisor.

Why: a process that writes "0" to a cgroup.procs file takes the kernel's global
cgroup_threadgroup_rwsem for writing, and that write side waits for an RCU grace period
whenever no other migration happened just before: 10-20 ms on a 2-vCPU VM, most of a
container start (`docker run --rm` starts one container after a pause, so it always pays).
A child created directly in its cgroup2 directory takes that lock only for reading. (The v1
hierarchies are joined by writing the `tasks` file instead, which moves the single thread
without the global lock: see cgroups.CgroupHandle.join_files.)

Where clone3 or CLONE_INTO_CGROUP is missing (kernel < 5.7, a seccomp filter answering
ENOSYS or EPERM), `fork_into` says the child was not placed and the caller falls back to
os.fork() plus a cgroup.procs write in the child, exactly the previous behaviour.

Like os.fork(), call it from a single-threaded process only: the child is made the way
os.fork() makes it (PyOS_BeforeFork / PyOS_AfterFork_*), but glibc's own fork bookkeeping
is skipped (its cached thread id stays the parent's; nothing in the container child uses it
before execve).
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import struct

CLONE_INTO_CGROUP = 0x200000000
_SYS_CLONE3 = 435            # the same number on every architecture (asm-generic table)
_ARGS = struct.Struct("11Q")  # struct clone_args up to .cgroup (CLONE_ARGS_SIZE_VER2, 88 bytes)
# The kernel or a seccomp profile lacks clone3 / CLONE_INTO_CGROUP: stop trying.
_UNSUPPORTED_ERRNOS = (errno.ENOSYS, errno.EINVAL, errno.E2BIG, errno.EPERM)

_state: dict[str, object] = {}


def _syscall():
    call = _state.get("syscall")
    if call is None:
        # PyDLL: the GIL stays held across the call, as os.fork() holds it across fork().
        call = ctypes.PyDLL(None, use_errno=True).syscall
        call.restype = ctypes.c_long
        call.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_size_t]
        _state["syscall"] = call
    return call


def fork_into(cgroup_dir: str | None) -> tuple[int, bool]:
    """(pid, placed): os.fork() semantics (pid 0 in the child); `placed` is True when the child
    already runs in `cgroup_dir` (a cgroup2 directory). With `cgroup_dir` None, or where the
    kernel cannot, a plain os.fork() and placed False. Raises OSError like os.fork()."""
    if cgroup_dir is None or _state.get("unsupported"):
        return os.fork(), False
    try:
        fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return os.fork(), False  # the child's cgroup.procs write reports what is wrong
    try:
        args = ctypes.create_string_buffer(_ARGS.pack(CLONE_INTO_CGROUP, 0, 0, 0, int(signal.SIGCHLD),
                                                      0, 0, 0, 0, 0, fd), _ARGS.size)
        call = _syscall()
        ctypes.pythonapi.PyOS_BeforeFork()
        pid = call(_SYS_CLONE3, ctypes.addressof(args), _ARGS.size)
        err = ctypes.get_errno()
        if pid == 0:
            ctypes.pythonapi.PyOS_AfterFork_Child()
        else:
            ctypes.pythonapi.PyOS_AfterFork_Parent()
    finally:
        os.close(fd)  # in the child too: it is in the cgroup now
    if pid >= 0:
        return pid, True
    if err in _UNSUPPORTED_ERRNOS:
        _state["unsupported"] = True
    return os.fork(), False
