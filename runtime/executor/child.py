"""What the forked container child does, step by step, until execve (runs after NativeExecutor forks).

INIT_STEPS is the order; each step's comment says why it sits where it is. Every failure is
reported to the parent on the CLOEXEC error pipe as {"category", "message"} and the child exits
127; success is the pipe closing on execve. Nothing here returns to the caller's Python code.
Every system call goes through `st.sys` (syscalls.LinuxSyscalls), so the order is testable with
a recording fake. Everything needed is imported at module level: after pivot_root, imports fail.
"""

from __future__ import annotations

import errno
import json
import os.path
import signal

from runtime.executor import syscalls as sc
from runtime.executor.plan import Plan
from runtime.executor.user import home_of, resolve_user

S_IFCHR, S_IFBLK = 0o020000, 0o060000


class ChildError(Exception):
    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category


class State:
    def __init__(self, plan: Plan, sys: sc.LinuxSyscalls, stdio: tuple[int, int, int], tty_fd: int | None,
                 tty_path: str | None, console_sock: int | None = None) -> None:
        self.plan, self.sys, self.stdio, self.tty_fd, self.tty_path = plan, sys, stdio, tty_fd, tty_path
        self.console_sock = console_sock  # set: allocate the TTY in the container's devpts, send the master


def reset_signals(st: State) -> None:
    # Pitfall 1: Python ignores SIGPIPE/SIGXFSZ and a shell may ignore SIGINT; ignored dispositions
    # survive execve. First, so nothing later runs with the supervisor's handlers.
    st.sys.reset_signals()


def setup_stdio(st: State) -> None:
    # Early: the container's own stdio is where its output belongs. setsid so a TTY can become
    # the controlling terminal; sources are first duplicated above 10 so dup2 never clobbers one.
    st.sys.setsid()
    if st.tty_fd is not None:
        st.sys.set_controlling_tty(st.tty_fd)
        src = (st.tty_fd, st.tty_fd, st.tty_fd)
    else:
        src = st.stdio
    high = [st.sys.dup_above(fd, 10) for fd in src]
    for target, fd in enumerate(high):
        st.sys.dup2(fd, target)


def join_cgroup(st: State) -> None:
    # Before the cgroup namespace is unshared, so the namespace root is the container's cgroup.
    # v1 `tasks` files and, unless clone3 already placed us, cgroup2's cgroup.procs.
    for path in st.plan.procs_files:
        st.sys.write_file(path, "0")


def enter_namespaces(st: State) -> None:
    # Joined namespaces (network from the network manager, ipc of another container) first, then
    # new ones; the PID namespace was handled by the parent around the fork. All paths are opened
    # before any setns: once the mount namespace changes, /proc paths mean other things.
    fds = [(st.sys.open_ns(path), flag) for path, flag in st.plan.setns]
    for fd, flag in fds:
        st.sys.setns(fd, flag)
        st.sys.close(fd)
    if st.plan.unshare_flags:
        st.sys.unshare(st.plan.unshare_flags)


def secure_join(sys: sc.LinuxSyscalls, root: str, path: str) -> str:
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
        if sys.islink(root + candidate):
            hops += 1
            if hops > 40:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
            target = sys.readlink(root + candidate)
            if target.startswith("/"):
                current = ""
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        current = candidate
    return root + (current or "/")


def mount_rootfs(st: State) -> None:
    # The overlay is mounted inside the container's mount namespace: it vanishes with the
    # container, and the host never sees it. rslave root first so the host never sees our
    # mounts while host mounts still propagate in (runc's default).
    p, s = st.plan, st.sys
    s.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)
    if p.rootfs_mounts:
        for m in p.rootfs_mounts:
            s.mount(m.get("source") or m["type"], p.root, m["type"], 0, ",".join(m.get("options") or []))
    else:
        s.mount(p.root, p.root, None, sc.MS_BIND | sc.MS_REC)


def populate_volumes(st: State) -> None:
    # Docker's copy-up, after the rootfs is there and before the volume hides the image path: a
    # volume first mounted over a non-empty image path gets its content (and the directory's
    # owner and mode). Only while the volume is still empty.
    s = st.sys
    for c in st.plan.copyup:
        src = secure_join(s, st.plan.root, c["destination"])
        vol = c["source"]
        if not s.isdir(src) or not s.isdir(vol) or s.listdir(vol):
            continue
        s.copy_tree(src, vol)
        uid, gid, mode = s.owner_and_mode(src)
        s.chown(vol, uid, gid)
        s.chmod(vol, mode)


def _make_mountpoint(s: sc.LinuxSyscalls, target: str, is_file: bool) -> None:
    if s.lexists(target):
        return
    s.makedirs(os.path.dirname(target))
    if is_file:
        s.create_file(target)
    else:
        s.mkdir(target)


def _mount_cgroupfs(st: State, target: str, flags: int) -> None:
    p, s = st.plan, st.sys
    if p.cgroup_mounts == [("", "cgroup2", "")]:
        s.mount("cgroup2", target, "cgroup2", flags)
        return
    # v1/hybrid: a tmpfs with one cgroup mount per hierarchy; the cgroup namespace makes each
    # show the container's own cgroup as its root. The tmpfs turns read-only last.
    s.mount("tmpfs", target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")
    for sub, fstype, opts in p.cgroup_mounts:
        d = os.path.join(target, sub)
        s.makedirs(d)
        s.mount("cgroup", d, fstype, flags, opts or None)
    if flags & sc.MS_RDONLY:
        s.mount(None, target, None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")


def do_mounts(st: State) -> None:
    # In spec order (parents before children); bind + flags need a second, remount call.
    p, s = st.plan, st.sys
    for m in p.mounts:
        target = secure_join(s, p.root, m.destination)
        _make_mountpoint(s, target, m.is_file)
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
_DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
              ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore"), ("ptmx", "pts/ptmx"))


def make_devices(st: State) -> None:
    # After /dev (a tmpfs) is mounted and before pivot_root, while the TTY's host path is reachable.
    s = st.sys
    dev = secure_join(s, st.plan.root, "/dev")
    if not s.ismount(dev):
        return  # the spec has no /dev tmpfs: the image's /dev stays as it is
    s.umask(0)
    for name, major, minor in _STD_DEVICES:
        path = os.path.join(dev, name)
        if not s.lexists(path):
            s.mknod(path, 0o666 | S_IFCHR, major, minor)
    for d in st.plan.devices:
        path = secure_join(s, st.plan.root, d.path)
        s.makedirs(os.path.dirname(path))
        if s.lexists(path):
            s.unlink(path)
        s.mknod(path, d.mode | (S_IFCHR if d.kind == "c" else S_IFBLK), d.major, d.minor)
        s.chown(path, d.uid, d.gid)
    for name, target in _DEV_LINKS:
        path = os.path.join(dev, name)
        if not s.lexists(path):
            s.symlink(target, path)
    if st.console_sock is not None:
        # Docker's `run -t`: the TTY lives in the container's own devpts (`tty` names /dev/pts/0);
        # the master goes back to the supervisor, the slave becomes stdio and controlling terminal.
        master, slave, number = s.open_pty_in(os.path.join(dev, "pts"))
        s.send_fd(st.console_sock, master)
        s.close(master)
        s.set_controlling_tty(slave)
        for target in (0, 1, 2):
            s.dup2(slave, target)
        st.tty_path = os.path.join(dev, "pts", str(number))
    if st.tty_path:
        console = os.path.join(dev, "console")
        _make_mountpoint(s, console, True)
        s.mount(st.tty_path, console, None, sc.MS_BIND)


def pivot(st: State) -> None:
    # After every mount under the new root; pivot_root(".", ".") stacks the old root under the
    # new one, and detaching it leaves no host path reachable.
    st.sys.chdir(st.plan.root)
    st.sys.pivot_root(".", ".")
    st.sys.umount2(".", sc.MNT_DETACH)
    st.sys.chdir("/")


def write_sysctls(st: State) -> None:
    # After /proc is the container's, before /proc/sys becomes read-only.
    for key, value in st.plan.sysctl.items():
        st.sys.write_file("/proc/sys/" + key.replace(".", "/"), value)


def mask_paths(st: State) -> None:
    # After pivot_root (paths are the container's): Docker's masked paths get an empty
    # read-only tmpfs (directories) or /dev/null (files); read-only paths a read-only bind.
    s = st.sys
    for path in st.plan.masked:
        if not s.exists(path):
            continue
        if s.isdir(path):
            s.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
        else:
            s.mount("/dev/null", path, None, sc.MS_BIND)
    for path in st.plan.readonly:
        if not s.exists(path):
            continue
        s.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
        s.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)


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
        st.sys.lo_up()


def set_limits(st: State) -> None:
    # While still root: raising a hard limit needs CAP_SYS_RESOURCE.
    for res, soft, hard in st.plan.rlimits:
        st.sys.setrlimit(res, soft, hard)
    st.sys.umask(st.plan.umask)  # not the supervisor's: OCI's default 0022 unless the spec says otherwise
    if st.plan.oom_score_adj is not None:
        st.sys.write_file("/proc/self/oom_score_adj", str(st.plan.oom_score_adj))


def resolve_identity(st: State) -> None:
    # After pivot_root: names resolve against the image's own /etc/passwd and /etc/group.
    p, s = st.plan, st.sys
    passwd = s.read_text("/etc/passwd")
    if p.user_field is not None:
        try:
            p.uid, p.gid, p.gids = resolve_user(p.user_field, p.group_add, passwd, s.read_text("/etc/group"))
        except Exception as exc:  # errdefs.InvalidArgument: keep the category across the pipe
            raise ChildError("InvalidArgument", str(exc)) from None
        if p.uid != 0 and p.nonroot_drops_caps:
            p.effective = p.permitted = 0
    if not any(e.startswith("HOME=") for e in p.env):
        p.env.append("HOME=" + home_of(p.uid, passwd))
    # Docker creates a missing working directory (as root, before switching user).
    if not s.isdir(p.cwd):
        s.makedirs(p.cwd)


def seccomp_early(st: State) -> None:
    # Without no_new_privs the filter must go in while we still hold CAP_SYS_ADMIN (runc's order).
    if st.plan.seccomp_bpf and not st.plan.no_new_privs:
        st.sys.load_seccomp(st.plan.seccomp_bpf)


def drop_privileges(st: State) -> None:
    # Bounding set first (needs CAP_SETPCAP), then ids with KEEPCAPS so permitted survives
    # setuid, then capset to the final sets, then chdir as the user (Docker checks access so).
    p, s = st.plan, st.sys
    for cap in range(p.last_cap + 1):
        if not p.bounding & (1 << cap):
            s.prctl(sc.PR_CAPBSET_DROP, cap)
    s.prctl(sc.PR_SET_KEEPCAPS, 1)
    s.setgroups(p.gids)
    s.setgid(p.gid)
    s.setuid(p.uid)
    s.prctl(sc.PR_SET_KEEPCAPS, 0)
    s.capset(p.effective, p.permitted, p.inheritable)
    for cap in p.ambient:
        s.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap)
    try:
        s.chdir(p.cwd)
    except OSError as exc:
        raise ChildError("PermissionDenied", f'chdir to cwd ("{p.cwd}") set in config.json failed: '
                                             f'{(exc.strerror or str(exc)).lower()}') from None


def seccomp_late(st: State) -> None:
    # With no_new_privs, as late as possible: fewer of our own syscalls pass through the filter.
    if st.plan.no_new_privs:
        st.sys.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        if st.plan.seccomp_bpf:
            st.sys.load_seccomp(st.plan.seccomp_bpf)


def close_fds(st: State) -> None:
    # Pitfall 2, last: nothing of the supervisor's (other containers' pipes, sockets) leaks in.
    st.sys.close_range_cloexec(3)


INIT_STEPS = [reset_signals, setup_stdio, join_cgroup, enter_namespaces, mount_rootfs, populate_volumes,
              do_mounts, make_devices, pivot, write_sysctls, mask_paths, readonly_root, set_identity,
              set_limits, resolve_identity, seccomp_early, drop_privileges, seccomp_late, close_fds]

# exec: the namespaces exist already; no mounts, no hostname.
EXEC_STEPS = [reset_signals, setup_stdio, join_cgroup, enter_namespaces, set_limits, resolve_identity,
              seccomp_early, drop_privileges, seccomp_late, close_fds]


def lookup(sys: sc.LinuxSyscalls, arg0: str, env: list[str]) -> str:
    """The path execve gets, with runc/Docker's error texts."""
    if "/" in arg0:
        if not sys.exists(arg0):
            raise ChildError("NotFound", f'exec: "{arg0}": stat {arg0}: no such file or directory')
        return arg0
    path = next((e[5:] for e in env if e.startswith("PATH=")), "")
    for d in path.split(":"):
        candidate = os.path.join(d or ".", arg0)
        if sys.is_executable_file(candidate):
            return candidate
    raise ChildError("NotFound", f'exec: "{arg0}": executable file not found in $PATH')


def builtin_init(st: State, err_w: int) -> None:
    """Our minimal init (init: true without tini): fork the command, forward signals, reap, exit like it.

    The init stays a Python process for the container's whole life, inside the container's PID
    namespace, so it must hold nothing of the supervisor's and expose nothing of the host:
    - signals are blocked *before* the fork (a stop signal from the supervisor in the window
      would otherwise kill PID 1 before it forwards anything) and unblocked in the command only;
    - it really closes every fd >= 3 (close_fds only marked them CLOEXEC, and the init never
      execs): other containers' log pipes, the control socket, the host PID-namespace fd. It
      keeps 0, 1, 2 (the container's stdio, as tini does) and needs nothing else;
    - PR_SET_DUMPABLE 0: /proc/1/exe (the host's python), /proc/1/fd, /proc/1/mem stay closed
      to the container (pitfall 5, the CVE-2019-5736 class).
    """
    s = st.sys
    forwarded = [x for x in range(1, 32) if x not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD)]
    s.block_signals(forwarded + [signal.SIGCHLD])
    child = s.fork()
    if child == 0:
        s.unblock_all_signals()  # the command starts with an empty mask, as without an init
        return
    s.prctl(sc.PR_SET_DUMPABLE, 0)
    s.close_from(3)  # err_w included: the command reports its exec failure itself
    s.disable_gc()   # finalizers of the supervisor's objects must never act on fd numbers now closed
    while True:
        sig = s.sigwait(forwarded + [signal.SIGCHLD])
        if sig != signal.SIGCHLD:
            try:
                s.kill(child, sig)
            except ProcessLookupError:
                pass
            continue
        while (reaped := s.reap_one()) is not None:
            pid, code = reaped
            if pid == child:
                s.exit(code if code >= 0 else 128 - code)


def run(st: State, steps: list, err_w: int) -> None:
    """Run `steps` then execve; never returns. Reports the first failure on `err_w`."""
    step_name = "start"
    try:
        for step in steps:
            step_name = step.__name__
            step(st)
        if st.plan.init == "builtin":
            builtin_init(st, err_w)
        exe = lookup(st.sys, st.plan.args[0], st.plan.env)
        step_name = "exec"
        try:
            st.sys.execve(exe, st.plan.args, st.plan.env)
        except OSError as exc:
            raise ChildError("PermissionDenied" if exc.errno == errno.EACCES else "InvalidArgument",
                             f'exec: "{st.plan.args[0]}": {(exc.strerror or str(exc)).lower()}') from None
    except ChildError as exc:
        payload = {"category": exc.category, "message": str(exc)}
    except OSError as exc:
        payload = {"category": "Internal", "message": f"container init: {step_name}: {exc}", "errno": exc.errno}
    except BaseException as exc:  # noqa: BLE001 - anything at all must reach the parent, then _exit
        payload = {"category": "Internal", "message": f"container init: {step_name}: {exc!r}"}
    try:
        st.sys.write(err_w, json.dumps(payload).encode())
    finally:
        st.sys.exit(127)
