"""What the forked container child does, step by step, until execve (runs after NativeExecutor forks).

INIT_STEPS is the order; each step's comment says why it sits where it is. Every failure is
reported to the parent on the CLOEXEC error pipe as {"category", "message"} and the child exits
127; success is the pipe closing on execve. Nothing here returns to the caller's Python code.
Everything the child needs is imported at module level: after pivot_root, imports fail.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import resource
import shutil
import signal
import socket
import struct
import termios

from runtime.executor import syscalls as sc
from runtime.executor.plan import Plan
from runtime.executor.user import home_of, resolve_user


class ChildError(Exception):
    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category


class State:
    def __init__(self, plan: Plan, sys: sc.LinuxSyscalls, stdio: tuple[int, int, int], tty_fd: int | None,
                 tty_path: str | None) -> None:
        self.plan, self.sys, self.stdio, self.tty_fd, self.tty_path = plan, sys, stdio, tty_fd, tty_path


def reset_signals(st: State) -> None:
    # Pitfall 1: Python ignores SIGPIPE/SIGXFSZ and a shell may ignore SIGINT; ignored dispositions
    # survive execve. First, so nothing later runs with the supervisor's handlers.
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def setup_stdio(st: State) -> None:
    # Before anything can fail loudly: the container's own stderr is where a shell would look.
    os.setsid()
    if st.tty_fd is not None:
        fcntl.ioctl(st.tty_fd, termios.TIOCSCTTY, 0)
        src = (st.tty_fd, st.tty_fd, st.tty_fd)
    else:
        src = st.stdio
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in src]  # so dup2 never clobbers a source
    for target, fd in enumerate(high):
        os.dup2(fd, target, inheritable=True)


def join_cgroup(st: State) -> None:
    # Before the cgroup namespace is unshared, so the namespace root is the container's cgroup.
    for path in st.plan.procs_files:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def enter_namespaces(st: State) -> None:
    # Joined namespaces (network from the network manager, ipc of another container) first, then
    # new ones; the PID namespace was handled by the parent around the fork.
    # All opened before any setns: after the mount namespace changes, /proc paths mean other things.
    fds = [(os.open(path, os.O_RDONLY | os.O_CLOEXEC), flag) for path, flag in st.plan.setns]
    for fd, flag in fds:
        st.sys.setns(fd, flag)
        os.close(fd)
    if st.plan.unshare_flags:
        st.sys.unshare(st.plan.unshare_flags)


def _secure_join(root: str, path: str) -> str:
    """root + path with symlinks resolved inside root (an image symlink must not escape it)."""
    parts = [p for p in path.split("/") if p and p != "."]
    current = ""
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = os.path.dirname(current)
            continue
        candidate = current + "/" + part
        full = root + candidate
        if os.path.islink(full):
            hops += 1
            if hops > 40:
                raise OSError(errno.ELOOP, "too many symlinks", path)
            target = os.readlink(full)
            if target.startswith("/"):
                current = ""
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        current = candidate
    return root + (current or "/")


def mount_rootfs(st: State) -> None:
    # The overlay is mounted inside the container's mount namespace: it vanishes with the
    # container, and the host never sees it. rslave root first so host mounts don't see ours.
    p, s = st.plan, st.sys
    s.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)
    if p.rootfs_mounts:
        for m in p.rootfs_mounts:
            s.mount(m.get("source") or m["type"], p.root, m["type"], 0, ",".join(m.get("options") or []))
    else:
        s.mount(p.root, p.root, None, sc.MS_BIND | sc.MS_REC)


def _copy_tree(src: str, dst: str) -> None:
    for entry in os.scandir(src):
        s, d = entry.path, os.path.join(dst, entry.name)
        st = entry.stat(follow_symlinks=False)
        if entry.is_symlink():
            os.symlink(os.readlink(s), d)
        elif entry.is_dir(follow_symlinks=False):
            os.mkdir(d, st.st_mode & 0o7777)
            _copy_tree(s, d)
        else:
            shutil.copy2(s, d, follow_symlinks=False)
        os.lchown(d, st.st_uid, st.st_gid)
        if not entry.is_symlink():
            os.chmod(d, st.st_mode & 0o7777)


def populate_volumes(st: State) -> None:
    # Docker's copy-up: a volume first mounted over a non-empty image path gets its content
    # (and the directory's owner and mode). Only when the volume is still empty.
    for c in st.plan.copyup:
        src = _secure_join(st.plan.root, c["destination"])
        vol = c["source"]
        if not os.path.isdir(src) or not os.path.isdir(vol) or os.listdir(vol):
            continue
        _copy_tree(src, vol)
        info = os.stat(src)
        os.chown(vol, info.st_uid, info.st_gid)
        os.chmod(vol, info.st_mode & 0o7777)


def _make_mountpoint(target: str, is_file: bool) -> None:
    if os.path.lexists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if is_file:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    else:
        os.mkdir(target, 0o755)


def _mount_cgroupfs(st: State, target: str, flags: int) -> None:
    p, s = st.plan, st.sys
    if p.cgroup_mounts == [("", "cgroup2", "")]:
        s.mount("cgroup2", target, "cgroup2", flags)
        return
    s.mount("tmpfs", target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")
    for sub, fstype, opts in p.cgroup_mounts:
        d = os.path.join(target, sub)
        os.makedirs(d, exist_ok=True)
        s.mount("cgroup", d, fstype, flags, opts or None)
    if flags & sc.MS_RDONLY:
        s.mount(None, target, None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")


def do_mounts(st: State) -> None:
    # In spec order (parents before children); bind + flags need a second, remount call.
    p, s = st.plan, st.sys
    for m in p.mounts:
        target = _secure_join(p.root, m.destination)
        _make_mountpoint(target, m.is_file)
        if m.type == "bind":
            s.mount(m.source, target, None, m.flags & (sc.MS_BIND | sc.MS_REC))
            extra = m.flags & ~(sc.MS_BIND | sc.MS_REC)
            if extra:
                s.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | extra)
        elif m.type == "cgroup":
            _mount_cgroupfs(st, target, m.flags)
        elif m.type == "sysfs":
            try:
                s.mount(m.source, target, "sysfs", m.flags, m.data or None)
            except OSError as exc:
                if exc.errno != errno.EPERM:
                    raise
                # No own network namespace: the kernel refuses a new sysfs; bind the host's, read-only.
                s.mount("/sys", target, None, sc.MS_BIND | sc.MS_REC)
                s.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | (m.flags & ~sc.MS_RDONLY))
        else:
            s.mount(m.source, target, m.type, m.flags, m.data or None)
        if m.propagation:
            s.mount(None, target, None, m.propagation)


_STD_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))


def make_devices(st: State) -> None:
    # After /dev (a tmpfs) is mounted and before pivot_root, while the host's /dev/pts is reachable.
    dev = _secure_join(st.plan.root, "/dev")
    if not os.path.ismount(dev):
        return
    old = os.umask(0)
    try:
        for name, major, minor in _STD_DEVICES:
            path = os.path.join(dev, name)
            if not os.path.exists(path):
                os.mknod(path, 0o666 | 0o020000, os.makedev(major, minor))
        for d in st.plan.devices:
            path = _secure_join(st.plan.root, d.path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.lexists(path):
                os.unlink(path)
            os.mknod(path, d.mode | (0o020000 if d.kind == "c" else 0o060000), os.makedev(d.major, d.minor))
            os.chown(path, d.uid, d.gid)
    finally:
        os.umask(old)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore"), ("ptmx", "pts/ptmx")):
        path = os.path.join(dev, name)
        if not os.path.lexists(path):
            os.symlink(target, path)
    if st.tty_path:
        console = os.path.join(dev, "console")
        _make_mountpoint(console, True)
        st.sys.mount(st.tty_path, console, None, sc.MS_BIND)


def pivot(st: State) -> None:
    # pivot_root(".", ".") stacks the old root under the new one; detaching it leaves no host path.
    os.chdir(st.plan.root)
    st.sys.pivot_root(".", ".")
    st.sys.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def write_sysctls(st: State) -> None:
    # Before /proc/sys becomes read-only.
    for key, value in st.plan.sysctl.items():
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)


def mask_paths(st: State) -> None:
    # Docker's masked paths: directories get an empty read-only tmpfs, files /dev/null.
    for path in st.plan.masked:
        try:
            if os.path.isdir(path):
                st.sys.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
            else:
                st.sys.mount("/dev/null", path, None, sc.MS_BIND)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
    for path in st.plan.readonly:
        try:
            st.sys.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                continue
            raise
        st.sys.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)


def readonly_root(st: State) -> None:
    # Last mount change: every mountpoint had to be created first.
    if st.plan.root_readonly:
        st.sys.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)


def set_identity(st: State) -> None:
    p = st.plan
    if p.hostname is not None:
        st.sys.sethostname(p.hostname)
    if p.domainname:
        st.sys.setdomainname(p.domainname)
    if p.new_netns:
        # Loopback up (SIOCSIFFLAGS, IFF_UP|IFF_RUNNING|IFF_LOOPBACK): a fresh netns has it down.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifr = struct.pack("16sH22x", b"lo", 0x1 | 0x8 | 0x40)
            fcntl.ioctl(s.fileno(), 0x8914, ifr)


def set_limits(st: State) -> None:
    for res, soft, hard in st.plan.rlimits:
        cap = resource.RLIM_INFINITY
        resource.setrlimit(res, (cap if soft >= 2**63 else soft, cap if hard >= 2**63 else hard))
    os.umask(st.plan.umask)  # not the supervisor's: OCI's default 0022 unless the spec says otherwise
    if st.plan.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(st.plan.oom_score_adj))


def _read_text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def resolve_identity(st: State) -> None:
    # After pivot_root: names resolve against the image's own /etc/passwd and /etc/group.
    p = st.plan
    passwd = _read_text("/etc/passwd")
    if p.user_field is not None:
        try:
            p.uid, p.gid, p.gids = resolve_user(p.user_field, p.group_add, passwd, _read_text("/etc/group"))
        except Exception as exc:  # errdefs.InvalidArgument: keep the category across the pipe
            raise ChildError("InvalidArgument", str(exc)) from None
        if p.uid != 0 and p.nonroot_drops_caps:
            p.effective = p.permitted = 0
    if not any(e.startswith("HOME=") for e in p.env):
        p.env.append("HOME=" + home_of(p.uid, passwd))
    # Docker creates a missing working directory (as root, before switching user).
    if not os.path.isdir(p.cwd):
        os.makedirs(p.cwd, 0o755, exist_ok=True)


def seccomp_early(st: State) -> None:
    # Without no_new_privs the filter must go in while we still hold CAP_SYS_ADMIN (runc's order).
    if st.plan.seccomp_bpf and not st.plan.no_new_privs:
        st.sys.load_seccomp(st.plan.seccomp_bpf)


def drop_privileges(st: State) -> None:
    # Bounding set first (needs CAP_SETPCAP), then ids with KEEPCAPS so permitted survives setuid,
    # then capset to the final sets.
    p, s = st.plan, st.sys
    for cap in range(p.last_cap + 1):
        if not p.bounding & (1 << cap):
            s.prctl(sc.PR_CAPBSET_DROP, cap)
    s.prctl(sc.PR_SET_KEEPCAPS, 1)
    os.setgroups(p.gids)
    os.setgid(p.gid)
    os.setuid(p.uid)
    s.prctl(sc.PR_SET_KEEPCAPS, 0)
    s.capset(p.effective, p.permitted, p.inheritable)
    for cap in p.ambient:
        s.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap)
    try:
        os.chdir(p.cwd)
    except OSError as exc:
        raise ChildError("PermissionDenied", f'chdir to cwd ("{p.cwd}") set in config.json failed: {exc.strerror.lower()}') from None


def seccomp_late(st: State) -> None:
    # With no_new_privs, as late as possible: fewer of our own syscalls pass through the filter.
    if st.plan.no_new_privs:
        st.sys.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        if st.plan.seccomp_bpf:
            st.sys.load_seccomp(st.plan.seccomp_bpf)


def close_fds(st: State) -> None:
    # Pitfall 2: nothing of the supervisor's (other containers' pipes, sockets) leaks in.
    st.sys.close_range_cloexec(3)


# Shared with the OCI backend, which populates volumes host-side before handing off.
secure_join = _secure_join
copy_tree = _copy_tree

INIT_STEPS = [reset_signals, setup_stdio, join_cgroup, enter_namespaces, mount_rootfs, populate_volumes,
              do_mounts, make_devices, pivot, write_sysctls, mask_paths, readonly_root, set_identity,
              set_limits, resolve_identity, seccomp_early, drop_privileges, seccomp_late, close_fds]

EXEC_STEPS = [reset_signals, setup_stdio, join_cgroup, enter_namespaces, set_limits, resolve_identity,
              seccomp_early, drop_privileges, seccomp_late, close_fds]


def lookup(arg0: str, env: list[str]) -> str:
    """The path execve gets, with runc/Docker's error texts."""
    if "/" in arg0:
        if not os.path.exists(arg0):
            raise ChildError("NotFound", f'exec: "{arg0}": stat {arg0}: no such file or directory')
        return arg0
    path = next((e[5:] for e in env if e.startswith("PATH=")), "")
    for d in path.split(":"):
        candidate = os.path.join(d or ".", arg0)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise ChildError("NotFound", f'exec: "{arg0}": executable file not found in $PATH')


def builtin_init(st: State, err_w: int) -> None:
    """Our minimal init (init: true without tini): fork the command, forward signals, reap, exit like it."""
    child = os.fork()
    if child == 0:
        return
    os.close(err_w)
    forwarded = [s for s in range(1, 32) if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD)]
    signal.pthread_sigmask(signal.SIG_BLOCK, forwarded + [signal.SIGCHLD])
    status = 0
    while True:
        sig = signal.sigwait(forwarded + [signal.SIGCHLD])
        if sig != signal.SIGCHLD:
            try:
                os.kill(child, sig)
            except ProcessLookupError:
                pass
            continue
        while True:
            try:
                pid, wstatus = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if pid == 0:
                break
            if pid == child:
                status = os.waitstatus_to_exitcode(wstatus)
                os._exit(status if status >= 0 else 128 - status)


def run(st: State, steps: list, err_w: int) -> None:
    """Run `steps` then execve; never returns. Reports the first failure on `err_w`."""
    step_name = "start"
    try:
        for step in steps:
            step_name = step.__name__
            step(st)
        if st.plan.init == "builtin":
            builtin_init(st, err_w)
        exe = lookup(st.plan.args[0], st.plan.env)
        step_name = "exec"
        try:
            os.execve(exe, st.plan.args, dict(e.split("=", 1) for e in st.plan.env))
        except OSError as exc:
            raise ChildError("PermissionDenied" if exc.errno == errno.EACCES else "InvalidArgument",
                             f'exec: "{st.plan.args[0]}": {exc.strerror.lower()}') from None
    except ChildError as exc:
        payload = {"category": exc.category, "message": str(exc)}
    except OSError as exc:
        payload = {"category": "Internal", "message": f"container init: {step_name}: {exc}", "errno": exc.errno}
    except BaseException as exc:  # noqa: BLE001 - anything at all must reach the parent, then _exit
        payload = {"category": "Internal", "message": f"container init: {step_name}: {exc!r}"}
    try:
        os.write(err_w, json.dumps(payload).encode())
    finally:
        os._exit(127)
