"""NativeExecutor: run an OCI spec with Python + ctypes, no external binary.

Called by the supervisor (runtime/supervisor), a small single-threaded subreaper process: `start`
forks from it, so the container is its child and the supervisor waits on the pid. Parent-side
work (cgroups, seccomp compile, device lookup, plan) happens before the fork; the child runs
child.INIT_STEPS and execs. Exec failures come back on a CLOEXEC error pipe.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from dataclasses import dataclass

from runtime import errdefs
from runtime.executor import annotations as ann
from runtime.executor import cgroups
from runtime.executor import child as childmod
from runtime.executor import clone
from runtime.executor import syscalls as sc
from runtime.executor.plan import Plan, check_bind_sources, device_rules, make_plan
from runtime.executor.seccomp import compile_bpf


@dataclass
class Started:
    pid: int                          # host pid of the container's first process (the caller waits on it)
    cgroup: cgroups.CgroupHandle
    init_pid: int                     # same as pid: the PID-namespace init
    console_fd: int | None = None     # pty master when the spec wants a terminal and no tty_fd was given


def _raise_child_error(data: bytes) -> None:
    try:
        payload = json.loads(data)
        cls = getattr(errdefs, payload.get("category", "Internal"), errdefs.Internal)
        message = payload.get("message") or "container init failed"
        if payload.get("errno"):
            # A failed syscall in a step: categorise by errno, as errdefs.from_oserror does.
            cls = type(errdefs.from_oserror(OSError(payload["errno"], message), "container init"))
    except ValueError:
        cls, message = errdefs.Internal, f"container init failed: {data[:200]!r}"
    if not (isinstance(cls, type) and issubclass(cls, errdefs.StackyardError)):
        cls = errdefs.Internal
    raise cls(message)


def _mkdir_hosts(spec: dict) -> None:
    for path in json.loads((spec.get("annotations") or {}).get(ann.MKDIR_HOST, "[]")):
        if os.path.lexists(path):
            continue  # a file bind source is fine as it is
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise errdefs.from_oserror(exc, f"bind source {path}") from exc


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            b = os.read(fd, 65536)
        except InterruptedError:
            continue
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def _pid_ns_path(spec: dict) -> tuple[bool, str | None]:
    """(own new PID namespace?, path of one to join)."""
    for ns in (spec.get("linux") or {}).get("namespaces") or []:
        if ns["type"] == "pid":
            return (not ns.get("path"), ns.get("path"))
    return False, None


class ContainerControl:
    """What both executors do the same way once a container runs: everything goes through its
    cgroup or its /proc entry, whichever runtime started it."""

    def open_pty(self, container_pid: int) -> tuple[int, int]:
        """(master, slave) of a new pty in the container's own devpts instance, for `exec -t`:
        inside, `tty` names /dev/pts/N. Both fds are CLOEXEC; the caller closes them."""
        import fcntl
        import struct
        root = f"/proc/{container_pid}/root/dev/pts"
        try:
            master = os.open(f"{root}/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            raise errdefs.from_oserror(exc, f"pty of container process {container_pid}") from exc
        try:
            fcntl.ioctl(master, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK: unlock
            number = struct.unpack("I", fcntl.ioctl(master, 0x80045430, b"\0" * 4))[0]
            slave = os.open(f"{root}/{number}", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            os.close(master)
            raise errdefs.from_oserror(exc, f"pty of container process {container_pid}") from exc
        return master, slave

    def kill(self, cgroup: cgroups.CgroupHandle, sig: int, *, all_processes: bool = False,
             pid: int | None = None) -> None:
        """Signal the container: its init (`pid`, or the first process in the cgroup) or every process."""
        try:
            if sig == signal.SIGKILL and cgroup.is_frozen():
                cgroup.freeze(False)  # a v1-frozen task cannot die; Docker's kill works on paused containers
            if all_processes:
                cgroup.kill(sig)
                return
            target = pid if pid is not None else next(iter(cgroup.pids()), None)
            if target is None:
                raise errdefs.Conflict("container is not running")
            os.kill(target, sig)
        except ProcessLookupError:
            raise errdefs.Conflict("container is not running") from None
        except OSError as exc:
            raise errdefs.from_oserror(exc, "kill container") from exc

    def pause(self, cgroup: cgroups.CgroupHandle) -> None:
        cgroup.freeze(True)

    def resume(self, cgroup: cgroups.CgroupHandle) -> None:
        cgroup.freeze(False)

    def stats(self, cgroup: cgroups.CgroupHandle) -> dict:
        """Docker-shaped stats: cpu_stats, memory_stats, pids_stats, networks (from the netns)."""
        out = cgroup.stats()
        pids = cgroup.pids()
        if pids:
            out["networks"] = _net_dev(pids[0])
        return out

    def top(self, cgroup: cgroups.CgroupHandle) -> list[int]:
        return cgroup.pids()

    def oom_killed(self, cgroup: cgroups.CgroupHandle) -> bool:
        return cgroup.oom_killed()


class NativeExecutor(ContainerControl):
    """The default executor. Methods raise errdefs.* only."""

    def __init__(self) -> None:
        self._sys = sc.linux()
        self._own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self._console: int | None = None

    # -- forking -------------------------------------------------------------------------------
    def _fork(self, plan: Plan, steps: list, *, pid_new: bool, pid_path: str | None, stdio, tty_fd,
              dumpable_off: bool = False, cgroup_dir: str | None = None, on_forked=None) -> int:
        tty_path = None
        if tty_fd is not None and plan.terminal and steps is childmod.INIT_STEPS:
            try:
                tty_path = os.ttyname(tty_fd)  # what /dev/console binds to (a host pty path)
            except OSError:
                tty_path = None  # a pty we cannot name from here: no /dev/console
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        console = None
        if plan.terminal and tty_fd is None and steps is childmod.INIT_STEPS:
            console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        state = childmod.State(plan, self._sys, stdio, tty_fd, tty_path,
                               console[1].fileno() if console else None)
        joined = False
        # Joining a PID namespace that already has processes (exec, PidMode container:x): the
        # child is visible there as a host Python until execve, so it must be undumpable from
        # its very first instruction (the flag is inherited across fork).
        dumpable_off = dumpable_off or bool(pid_path)
        try:
            if dumpable_off:
                # Pitfall 5 (CVE-2019-5736 class): never visible in the container while dumpable.
                self._sys.prctl(sc.PR_SET_DUMPABLE, 0)
            if pid_path:
                fd = os.open(pid_path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    self._sys.setns(fd, sc.CLONE_NEWPID)
                finally:
                    os.close(fd)
                joined = True
            elif pid_new:
                # unshare(CLONE_NEWPID) affects only our next child; we step back right after fork.
                self._sys.unshare(sc.CLONE_NEWPID)
                joined = True
            # The child starts in its cgroup2 dir when the kernel can (clone.py says why).
            pid, placed = clone.fork_into(cgroup_dir)
            if pid == 0:
                if placed:
                    plan.procs_files = [p for p in plan.procs_files if os.path.dirname(p) != cgroup_dir]
                os.close(err_r)
                if console:
                    console[0].close()
                childmod.run(state, steps, err_w)  # never returns
        except OSError as exc:
            os.close(err_r)
            os.close(err_w)
            if console:
                console[0].close()
                console[1].close()
            raise errdefs.from_oserror(exc, "fork container") from exc
        finally:
            if joined:
                self._sys.setns(self._own_pidns, sc.CLONE_NEWPID)
            if dumpable_off:
                self._sys.prctl(sc.PR_SET_DUMPABLE, 1)
        os.close(err_w)
        if on_forked is not None:
            on_forked(pid)  # the caller's own work while the child sets itself up (must not raise)
        master = None
        try:
            if console:
                console[1].close()
                # EOF (no fd) when the child failed before allocating it: the error pipe says why.
                _msg, fds, _flags, _addr = socket.recv_fds(console[0], 16, 1)
                master = fds[0] if fds else None
                if master is not None:
                    os.set_inheritable(master, False)
            data = _read_all(err_r)
        finally:
            os.close(err_r)
            if console:
                console[0].close()
        if data:
            if master is not None:
                os.close(master)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            _raise_child_error(data)
        self._console = master
        return pid

    def start(self, spec: dict, *, stdin: int, stdout: int, stderr: int, tty_fd: int | None = None,
              on_forked=None) -> Started:
        """Create and start the container of `spec`; returns once its process has exec'd.

        `on_forked(pid)`, when given, is called once the child exists and before waiting for its
        exec (the supervisor fsyncs the container's next state meanwhile); it must not raise.

        A terminal (`process.terminal`) uses `tty_fd` when given (a pty the caller opened);
        without it the pty is allocated in the container's own devpts and its master is
        returned as `Started.console_fd` (the caller owns it).

        Raises errdefs.NotFound / InvalidArgument / PermissionDenied for exec errors (Docker's
        texts), FailedPrecondition for missing kernel features, Internal for setup failures.
        """
        linux = spec.get("linux") or {}
        bpf = compile_bpf(linux.get("seccomp"))
        _mkdir_hosts(spec)
        check_bind_sources(spec)
        rules = device_rules(spec)
        cg = cgroups.create(linux.get("cgroupsPath") or _default_cgroups_path(spec), linux.get("resources") or {},
                            device_rules=rules)
        try:
            plan = make_plan(spec, seccomp_bpf=bpf, procs_files=cg.join_files())
            pid_new, pid_path = _pid_ns_path(spec)
            pid = self._fork(plan, childmod.INIT_STEPS, pid_new=pid_new, pid_path=pid_path,
                             stdio=(stdin, stdout, stderr), tty_fd=tty_fd, cgroup_dir=cg.unified_dir(),
                             on_forked=on_forked)
        except BaseException:
            cg.remove()
            raise
        return Started(pid, cg, pid, console_fd=self._console)

    def exec(self, container_pid: int, cgroup: cgroups.CgroupHandle, process: dict, *, stdin: int, stdout: int,
             stderr: int, tty_fd: int | None = None, spec: dict | None = None) -> int:
        """Start `process` (OCI process shape) in the container's namespaces and cgroup; returns its pid.

        `process["user"]` may be {"uid","gid","additionalGids"} or {"username": "name[:group]"}
        (resolved against the container's /etc/passwd). Capabilities, no_new_privs, rlimits and
        seccomp default to the container's `spec` when given (Docker's exec inherits them).
        """
        if cgroup.is_frozen():
            # A process joining a frozen cgroup would never reach execve (and we would wait forever).
            raise errdefs.Conflict("container is paused, unpause the container before exec")
        merged = dict((spec or {}).get("process") or {})
        merged.update({k: v for k, v in process.items() if v is not None})
        annotations = exec_user_annotations(merged, spec)
        if ann.USER in annotations:
            merged["user"] = {"uid": 0, "gid": 0}
        annotations[ann.NONROOT_CAPS] = "true"
        sub = {"process": merged, "root": {"path": "/"}, "annotations": annotations,
               "linux": {"namespaces": [], "seccomp": ((spec or {}).get("linux") or {}).get("seccomp")}}
        bpf = compile_bpf(sub["linux"]["seccomp"])
        plan = make_plan(sub, seccomp_bpf=bpf, procs_files=cgroup.join_files())
        # Mount namespace last: it changes what /proc means for the paths after it.
        order = ["ipc", "uts", "net", "cgroup", "mnt"]
        own = {n: os.stat(f"/proc/self/ns/{n}").st_ino for n in order + ["pid"]}
        plan.setns = []
        flags = {"ipc": sc.CLONE_NEWIPC, "uts": sc.CLONE_NEWUTS, "net": sc.CLONE_NEWNET,
                 "cgroup": sc.CLONE_NEWCGROUP, "mnt": sc.CLONE_NEWNS}
        try:
            for n in order:
                path = f"/proc/{container_pid}/ns/{n}"
                if os.stat(path).st_ino != own[n]:
                    plan.setns.append((path, flags[n]))
            pid_path = f"/proc/{container_pid}/ns/pid"
            pid_join = os.stat(pid_path).st_ino != own["pid"]
        except FileNotFoundError:
            raise errdefs.Conflict(f"container process {container_pid} is not running") from None
        plan.unshare_flags = 0
        plan.hostname = plan.domainname = None
        plan.new_netns = False
        return self._fork(plan, childmod.EXEC_STEPS, pid_new=False, pid_path=pid_path if pid_join else None,
                          stdio=(stdin, stdout, stderr), tty_fd=tty_fd, dumpable_off=True,
                          cgroup_dir=cgroup.unified_dir())

    def cleanup(self, spec: dict, cgroup: cgroups.CgroupHandle | None) -> None:
        """Remove the container's cgroups (after its processes are gone: kills stragglers first)."""
        if cgroup is None:
            return
        if cgroup.is_frozen():
            cgroup.freeze(False)
        if cgroup.pids():
            cgroup.kill(signal.SIGKILL)
            for _ in range(500):
                if not cgroup.pids():
                    break
                import time
                time.sleep(0.002)
        cgroup.remove()

    def adopt(self, container_id: str, cgroup_parent: str = "stackyard") -> cgroups.CgroupHandle | None:
        """The cgroup of a container after a supervisor restart: None if there is none; an empty
        handle (top() == []) if the container ended meanwhile, so the caller can clean it up."""
        return cgroups.find_by_id(container_id, cgroup_parent)


def exec_user_annotations(process: dict, spec: dict | None) -> dict:
    """How an exec'd process's user is resolved: an explicit {"username"}, else the container's own
    User (Docker's exec default) when the spec left it to be resolved inside the rootfs."""
    user = process.get("user") or {}
    a = (spec or {}).get("annotations") or {}
    if "username" in user:
        return {ann.USER: user["username"], ann.GROUP_ADD: "[]"}
    if ann.USER in a and (not user or user == ((spec or {}).get("process") or {}).get("user")):
        return {ann.USER: a[ann.USER], ann.GROUP_ADD: a.get(ann.GROUP_ADD, "[]")}
    return {}


def _default_cgroups_path(spec: dict) -> str:
    a = spec.get("annotations") or {}
    return f"{a.get(ann.CGROUP_PARENT, 'stackyard')}/{a.get(ann.CONTAINER_ID, 'unnamed')}"


def _net_dev(pid: int) -> dict:
    """Per-interface byte/packet counters seen from the container's network namespace."""
    out = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return out
    for line in lines:
        name, _, rest = line.partition(":")
        v = [int(x) for x in rest.split()]
        if name.strip() == "lo":
            continue
        out[name.strip()] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                             "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    return out
