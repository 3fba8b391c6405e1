"""The kernel seam of the executor: every ctypes call lives here (LinuxSyscalls).

Called by the container child steps (child.py), the exec path and the cgroup/namespace helpers.
Each method raises OSError with errno set, like the os module; callers map it with errdefs at
their boundary. x86_64 syscall numbers where glibc has no wrapper in the Python we ship with.
The child steps (child.py) touch the system only through this class, so a recording fake
(tests/unit/runtime/executor/recording.py) can check their order without root.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import gc
import os
import resource
import signal
import socket
import struct
import termios

from runtime.executor import copyup

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

    def close_from(self, first: int) -> None:
        """Really close every fd >= first (close_range, else one by one from /proc/self/fd)."""
        if self._libc.syscall(_SYS_CLOSE_RANGE, ctypes.c_uint(first), ctypes.c_uint(0xFFFFFFFF), ctypes.c_uint(0)) == 0:
            return
        for name in os.listdir("/proc/self/fd"):  # close_range refused (old kernel, seccomp)
            if int(name) >= first:
                try:
                    os.close(int(name))
                except OSError:
                    pass  # the listing's own fd, already gone

    def load_seccomp(self, bpf: bytes) -> None:
        """Install a raw classic-BPF program (8 bytes per instruction) as the seccomp filter."""
        buf = ctypes.create_string_buffer(bpf, len(bpf))
        prog = _SockFprog(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p))
        self._check(self._libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0), "seccomp")

    def pidfd_open(self, pid: int) -> int:
        return self._check(self._libc.syscall(_SYS_PIDFD_OPEN, ctypes.c_int(pid), ctypes.c_uint(0)), "pidfd_open")


    # -- process, fds, signals (child.py) --------------------------------------------------
    def reset_signals(self) -> None:
        """Every disposition back to SIG_DFL and an empty mask (pitfall 1)."""
        for sig in range(1, signal.NSIG):
            if sig in (signal.SIGKILL, signal.SIGSTOP):
                continue
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, [])

    def setsid(self) -> None:
        os.setsid()

    def set_controlling_tty(self, fd: int) -> None:
        fcntl.ioctl(fd, termios.TIOCSCTTY, 0)

    def dup_above(self, fd: int, lowest: int) -> int:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, lowest)

    def dup2(self, fd: int, target: int) -> None:
        os.dup2(fd, target, inheritable=True)

    def open_ns(self, path: str) -> int:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def close(self, fd: int) -> None:
        os.close(fd)

    def write(self, fd: int, data: bytes) -> None:
        os.write(fd, data)

    def write_file(self, path: str, data: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def read_text(self, path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    def lo_up(self) -> None:
        """Loopback up (SIOCSIFFLAGS, IFF_UP|IFF_RUNNING|IFF_LOOPBACK): a new netns has it down."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sH22x", b"lo", 0x1 | 0x8 | 0x40))

    def setrlimit(self, res: int, soft: int, hard: int) -> None:
        inf = resource.RLIM_INFINITY
        resource.setrlimit(res, (inf if soft >= 2**63 else soft, inf if hard >= 2**63 else hard))

    def umask(self, mask: int) -> None:
        os.umask(mask)

    def setgroups(self, gids: list[int]) -> None:
        os.setgroups(gids)

    def setgid(self, gid: int) -> None:
        os.setgid(gid)

    def setuid(self, uid: int) -> None:
        os.setuid(uid)

    def chdir(self, path: str) -> None:
        os.chdir(path)

    def execve(self, path: str, args: list[str], env: list[str]) -> None:
        os.execve(path, args, dict(e.split("=", 1) for e in env))

    def fork(self) -> int:
        return os.fork()

    def exit(self, code: int) -> None:
        os._exit(code)

    def block_signals(self, sigs: list[int]) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, sigs)

    def unblock_all_signals(self) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, [])

    def disable_gc(self) -> None:
        gc.disable()

    def sigwait(self, sigs: list[int]) -> int:
        return signal.sigwait(sigs)

    def kill(self, pid: int, sig: int) -> None:
        os.kill(pid, sig)

    def reap_one(self) -> tuple[int, int] | None:
        """(pid, exit code as waitstatus_to_exitcode) of one exited child, None if none is ready."""
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return None
        return (pid, os.waitstatus_to_exitcode(status)) if pid else None

    def open_pty_in(self, pts_dir: str) -> tuple[int, int, int]:
        """(master, slave, number) of a new pty in the devpts mounted at `pts_dir`."""
        master = os.open(os.path.join(pts_dir, "ptmx"), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        fcntl.ioctl(master, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK: unlock
        number = struct.unpack("I", fcntl.ioctl(master, 0x80045430, b"\0" * 4))[0]  # TIOCGPTN
        slave = os.open(os.path.join(pts_dir, str(number)), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        return master, slave, number

    def send_fd(self, sock_fd: int, fd: int) -> None:
        with socket.socket(fileno=os.dup(sock_fd)) as s:
            socket.send_fds(s, [b"console"], [fd])

    # -- files (child.py, inside the new mount namespace) ------------------------------------
    def lexists(self, path: str) -> bool:
        return os.path.lexists(path)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def islink(self, path: str) -> bool:
        return os.path.islink(path)

    def ismount(self, path: str) -> bool:
        return os.path.ismount(path)

    def is_executable_file(self, path: str) -> bool:
        return os.path.isfile(path) and os.access(path, os.X_OK)

    def readlink(self, path: str) -> str:
        return os.readlink(path)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def makedirs(self, path: str, mode: int = 0o755) -> None:
        os.makedirs(path, mode, exist_ok=True)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        os.mkdir(path, mode)

    def create_file(self, path: str, mode: int = 0o644) -> None:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, mode))

    def mknod(self, path: str, mode: int, major: int, minor: int) -> None:
        os.mknod(path, mode, os.makedev(major, minor))

    def chown(self, path: str, uid: int, gid: int) -> None:
        os.chown(path, uid, gid)

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(path, mode)

    def symlink(self, target: str, path: str) -> None:
        os.symlink(target, path)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def owner_and_mode(self, path: str) -> tuple[int, int, int]:
        st = os.stat(path)
        return st.st_uid, st.st_gid, st.st_mode & 0o7777

    def copy_tree(self, src: str, dst: str) -> None:
        """Copy src's content into dst as it is (volume copy-up; copyup.py: never follows a link)."""
        copyup.copy_tree(src, dst)


_INSTANCE: list[LinuxSyscalls] = []


def linux() -> LinuxSyscalls:
    """The process-wide LinuxSyscalls (created on first use, not at import)."""
    if not _INSTANCE:
        _INSTANCE.append(LinuxSyscalls())
    return _INSTANCE[0]
