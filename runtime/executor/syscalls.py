"""The kernel seam of the executor: every ctypes call lives here (LinuxSyscalls).

Called by the container child steps (child.py), the exec path and the cgroup/namespace helpers.
Each method raises OSError with errno set, like the os module; callers map it with errdefs at
their boundary. x86_64 syscall numbers where glibc has no wrapper in the Python we ship with.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACE_FLAGS = {"mount": CLONE_NEWNS, "cgroup": CLONE_NEWCGROUP, "uts": CLONE_NEWUTS, "ipc": CLONE_NEWIPC,
                   "pid": CLONE_NEWPID, "network": CLONE_NEWNET, "user": CLONE_NEWUSER}
NAMESPACE_PROC = {"mount": "mnt", "cgroup": "cgroup", "uts": "uts", "ipc": "ipc", "pid": "pid", "network": "net",
                  "user": "user"}

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_SYNCHRONOUS, MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC = 16, 32, 64, 128
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_MOVE, MS_REC = 1024, 2048, 4096, 8192, 16384
MS_SILENT, MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED = 32768, 1 << 17, 1 << 18, 1 << 19, 1 << 20
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
SECCOMP_MODE_FILTER = 2
CLOSE_RANGE_CLOEXEC = 4

_SYS_PIVOT_ROOT = 155
_SYS_CAPSET = 126
_SYS_SETNS = 308
_SYS_CLOSE_RANGE = 436
_SYS_PIDFD_OPEN = 434
_CAP_V3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class LinuxSyscalls:
    """Thin wrappers: one method per syscall, OSError on failure."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        self._libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self._libc.syscall.restype = ctypes.c_long
        self._libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

    def _check(self, rc: int, what: str, path: str | None = None) -> int:
        if rc < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}", path)
        return rc

    @staticmethod
    def _b(value: str | None) -> bytes | None:
        return None if value is None else os.fsencode(value)

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        self._check(self._libc.mount(self._b(source), self._b(target), self._b(fstype), flags, self._b(data)),
                    f"mount {fstype or source} on {target}", target)

    def umount2(self, target: str, flags: int = 0) -> None:
        self._check(self._libc.umount2(self._b(target), flags), f"umount {target}", target)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._check(self._libc.syscall(_SYS_PIVOT_ROOT, self._b(new_root), self._b(put_old)), "pivot_root")

    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(ctypes.c_int(flags)), "unshare")

    def setns(self, fd: int, nstype: int = 0) -> None:
        self._check(self._libc.syscall(_SYS_SETNS, ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")

    def sethostname(self, name: str) -> None:
        b = name.encode()
        self._check(self._libc.sethostname(b, ctypes.c_size_t(len(b))), "sethostname")

    def setdomainname(self, name: str) -> None:
        b = name.encode()
        self._check(self._libc.setdomainname(b, ctypes.c_size_t(len(b))), "setdomainname")

    def prctl(self, option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
        return self._check(self._libc.prctl(option, a2, a3, a4, a5), f"prctl({option})")

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        header = _CapHeader(_CAP_V3, 0)
        data = (_CapData * 2)()
        for i in range(2):
            shift = 32 * i
            data[i].effective = (effective >> shift) & 0xFFFFFFFF
            data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
            data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
        self._check(self._libc.syscall(_SYS_CAPSET, ctypes.byref(header), data), "capset")

    def close_range_cloexec(self, first: int) -> None:
        self._check(self._libc.syscall(_SYS_CLOSE_RANGE, ctypes.c_uint(first), ctypes.c_uint(0xFFFFFFFF),
                                       ctypes.c_uint(CLOSE_RANGE_CLOEXEC)), "close_range")

    def load_seccomp(self, bpf: bytes) -> None:
        """Install a raw classic-BPF program (8 bytes per instruction) as the seccomp filter."""
        buf = ctypes.create_string_buffer(bpf, len(bpf))
        prog = _SockFprog(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p))
        self._check(self._libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0), "seccomp")

    def pidfd_open(self, pid: int) -> int:
        return self._check(self._libc.syscall(_SYS_PIDFD_OPEN, ctypes.c_int(pid), ctypes.c_uint(0)), "pidfd_open")


_INSTANCE: list[LinuxSyscalls] = []


def linux() -> LinuxSyscalls:
    """The process-wide LinuxSyscalls (created on first use, not at import)."""
    if not _INSTANCE:
        _INSTANCE.append(LinuxSyscalls())
    return _INSTANCE[0]
