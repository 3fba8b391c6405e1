"""OciRuntimeExecutor: hand the same spec to an installed crun or runc (per-container `runtime:`).

Called by the supervisor like NativeExecutor, with the same methods. The overlay rootfs is
mounted host-side under the bundle (OCI runtimes take a mounted root.path); names in `User` are
resolved against it, named volumes are populated from it. Stdio: the caller's fds go straight to
the runtime (never a pipe we read: pitfall 6), the runtime's own errors to a JSON log file.
On a hybrid cgroup host crun refuses to run; each crun call runs in a private mount namespace
with a throwaway tmpfs over /sys/fs/cgroup/unified (RUNTIME-NOTES), which makes crun use v1.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from runtime import errdefs
from runtime.executor import annotations as ann
from runtime.executor import cgroups
from runtime.executor import child as childmod
from runtime.executor import syscalls as sc
from runtime.executor.native import ContainerControl, Started, _mkdir_hosts, exec_user_annotations
from runtime.executor.caps import CAPABILITIES
from runtime.executor.plan import _device, device_rules, host_devices, own_capabilities
from runtime.executor.seccomp import compile_bpf
from runtime.executor.user import resolve_user

DEFAULT_STATE = "/run/stackyard/oci"


def _rule(text: str) -> dict:
    kind, nums, access = text.split()
    major, minor = nums.split(":")
    rule: dict = {"allow": True, "type": kind, "access": access}
    if major != "*":
        rule["major"] = int(major)
    if minor != "*":
        rule["minor"] = int(minor)
    return rule


def bundle_spec(spec: dict, *, rootfs: str, binary: str, bpf: bytes | None, console: bool = False) -> dict:
    """The spec as an OCI runtime gets it: our annotations applied (user resolved, devices listed).
    `console`: the runtime allocates the terminal and hands its master to our console socket."""
    out = json.loads(json.dumps(spec))
    a = out.get("annotations") or {}
    proc, linux = out["process"], out.setdefault("linux", {})
    if a.get(ann.INIT) == "builtin":
        raise errdefs.Unsupported("init: true needs tini (init_path) with an OCI runtime backend")
    if ann.USER in a:
        read = lambda p: sc.linux().read_text(childmod.secure_join(sc.linux(), rootfs, p))  # noqa: E731
        uid, gid, gids = resolve_user(a[ann.USER], json.loads(a.get(ann.GROUP_ADD, "[]")), read("/etc/passwd"), read("/etc/group"))
        proc["user"] = {"uid": uid, "gid": gid, **({"additionalGids": gids} if gids else {})}
        if uid != 0 and a.get(ann.NONROOT_CAPS) == "true":
            proc["capabilities"]["effective"] = []
            proc["capabilities"]["permitted"] = []
    own = own_capabilities()  # a container cannot get more than we hold (native does the same)
    for key, names in list((proc.get("capabilities") or {}).items()):
        proc["capabilities"][key] = [n for n in names if own & (1 << CAPABILITIES[n])]
    rules = device_rules(spec)
    if rules is not None:
        linux.setdefault("resources", {})["devices"] = [{"allow": False, "access": "rwm"}] + [_rule(r) for r in rules]
    else:
        linux.setdefault("resources", {})["devices"] = [{"allow": True, "access": "rwm"}]  # privileged
    wanted = host_devices() if a.get(ann.PRIVILEGED) == "true" else []
    wanted += [_device(d["host"], d["container"]) for d in json.loads(a.get(ann.DEVICES, "[]"))]
    devices = [{"path": dev.path, "type": dev.kind, "major": dev.major, "minor": dev.minor,
                "fileMode": dev.mode, "uid": dev.uid, "gid": dev.gid} for dev in wanted]
    if devices:
        linux["devices"] = devices
    if proc.get("terminal") and not console:
        proc["terminal"] = False  # the caller's tty fd becomes stdio
    if bpf and binary.endswith("crun"):
        # crun loads precompiled BPF from this annotation: 10.7 ms vs 24 ms compiling the JSON itself.
        a[ann.CRUN_BPF] = base64.b64encode(bpf).decode()
    out["root"]["path"] = rootfs
    return out


def _hybrid_workaround() -> None:
    """preexec: private mount namespace with a tmpfs over cgroup2, so crun sees a v1-only host."""
    s = sc.linux()
    s.unshare(sc.CLONE_NEWNS)
    s.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    s.mount("tmpfs", "/sys/fs/cgroup/unified", "tmpfs", 0, "size=4k")


class OciRuntimeExecutor(ContainerControl):
    """Same methods as NativeExecutor; errors are errdefs.*."""

    def __init__(self, binary: str = "crun", *, state_dir: str = DEFAULT_STATE) -> None:
        path = shutil.which(binary)
        if path is None:
            raise errdefs.FailedPrecondition(f"OCI runtime {binary!r} is not installed")
        self.binary = path
        self.name = os.path.basename(binary)
        self.state_dir = Path(state_dir)
        self.root = self.state_dir / self.name  # the runtime's own --root
        layout, _ = cgroups.host_layout()
        self._workaround = self.name == "crun" and layout.mode == "hybrid"

    def _run(self, args: list[str], cid: str, *, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
             stderr=subprocess.DEVNULL, check: bool = True) -> int:
        log = self.state_dir / "bundles" / cid / "runtime.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        argv = [self.binary, "--root", str(self.root), "--log", str(log), "--log-format", "json", *args]
        rc = subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=stderr, close_fds=True,
                            preexec_fn=_hybrid_workaround if self._workaround else None).returncode
        if rc != 0 and check:
            self._raise_from_log(log, args[0], rc)
        return rc

    def _raise_from_log(self, log: Path, verb: str, rc: int) -> None:
        message = ""
        try:
            for line in log.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("level") in ("error", "fatal"):
                    message = entry.get("msg", "")
        except OSError:
            pass
        message = message or f"{self.name} {verb} exited with {rc}"
        if "executable file not found" in message or "No such file or directory" in message:
            raise errdefs.NotFound(message)
        if "ermission denied" in message:
            raise errdefs.PermissionDenied(message)
        raise errdefs.Internal(f"{self.name} {verb}: {message}")

    def _bundle(self, cid: str) -> Path:
        return self.state_dir / "bundles" / cid

    def start(self, spec: dict, *, stdin: int, stdout: int, stderr: int, tty_fd: int | None = None,
              on_forked=None) -> Started:
        # `on_forked` (NativeExecutor's overlap hook) is not called: the runtime forks, not us,
        # and the caller then records the state after start as usual.
        a = spec.get("annotations") or {}
        cid = a.get(ann.CONTAINER_ID) or os.path.basename(spec["linux"]["cgroupsPath"])
        bundle = self._bundle(cid)
        rootfs = bundle / "rootfs"
        rootfs.mkdir(parents=True, exist_ok=True)
        mounted = False
        listener = console_fd = None
        try:
            for m in json.loads(a.get(ann.ROOTFS_MOUNTS, "[]")):
                sc.linux().mount(m.get("source") or m["type"], str(rootfs), m["type"], 0, ",".join(m.get("options") or []))
                mounted = True
            if not mounted:
                sc.linux().mount(spec["root"]["path"], str(rootfs), None, sc.MS_BIND | sc.MS_REC)
                mounted = True
            _mkdir_hosts(spec)
            for c in json.loads(a.get(ann.VOLUME_COPYUP, "[]")):
                src = childmod.secure_join(sc.linux(), str(rootfs), c["destination"])
                if os.path.isdir(src) and os.path.isdir(c["source"]) and not os.listdir(c["source"]):
                    sc.linux().copy_tree(src, c["source"])
            bpf = compile_bpf((spec.get("linux") or {}).get("seccomp"))
            wants_console = tty_fd is None and bool((spec.get("process") or {}).get("terminal"))
            config = bundle_spec(spec, rootfs=str(rootfs), binary=self.name, bpf=bpf, console=wants_console)
            (bundle / "config.json").write_text(json.dumps(config))
            pidfile = bundle / "pid"
            if tty_fd is not None:
                stdin = stdout = stderr = tty_fd
            extra: list[str] = []
            if wants_console:
                # A terminal without a caller's pty (a TTY container): the runtime makes it in the
                # container's devpts (`tty` names /dev/pts/0) and sends us the master, which we
                # return as Started.console_fd, as NativeExecutor does.
                console_dir = tempfile.mkdtemp(prefix="sy-console-")  # socket paths must stay short
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
                listener.bind(os.path.join(console_dir, "s"))
                listener.listen(1)
                extra = ["--console-socket", os.path.join(console_dir, "s")]
            # create, then start: once `create` has exited, the container's init (waiting on the
            # exec fifo) is reparented to us, the subreaper, so its exit status is ours to reap.
            # With `run --detach` a fast container can exit while the runtime still parents it.
            try:
                self._run(["create", "--bundle", str(bundle), "--pid-file", str(pidfile), *extra, cid], cid,
                          stdin=stdin, stdout=stdout, stderr=stderr)
                if listener is not None:
                    console_fd = _receive_console(listener)
            finally:
                if listener is not None:
                    listener.close()
                    shutil.rmtree(console_dir, ignore_errors=True)
            pid = int(pidfile.read_text().strip())
            self._run(["start", cid], cid)
        except BaseException:
            if console_fd is not None:
                os.close(console_fd)
            self._run(["delete", "--force", cid], cid, check=False)
            if mounted:
                sc.linux().umount2(str(rootfs), sc.MNT_DETACH)
            shutil.rmtree(bundle, ignore_errors=True)
            raise
        return Started(pid, handle_from_pid(pid), pid, console_fd=console_fd)

    def exec(self, container_pid: int, cgroup: cgroups.CgroupHandle, process: dict, *, stdin: int, stdout: int,
             stderr: int, tty_fd: int | None = None, spec: dict | None = None, container_id: str | None = None) -> int:
        cid = container_id or ((spec or {}).get("annotations") or {}).get(ann.CONTAINER_ID)
        if not cid:
            raise errdefs.InvalidArgument("exec with an OCI runtime needs the container id (spec or container_id)")
        if cgroup.is_frozen():
            raise errdefs.Conflict("container is paused, unpause the container before exec")
        merged = dict((spec or {}).get("process") or {})
        merged.update({k: v for k, v in process.items() if v is not None})
        who = exec_user_annotations(merged, spec)
        if who:
            root = f"/proc/{container_pid}/root"
            read = lambda p: (Path(root + p).read_text() if os.path.exists(root + p) else "")  # noqa: E731
            uid, gid, gids = resolve_user(who[ann.USER], json.loads(who[ann.GROUP_ADD]), read("/etc/passwd"),
                                          read("/etc/group"))
            merged["user"] = {"uid": uid, "gid": gid, **({"additionalGids": gids} if gids else {})}
        merged["terminal"] = False
        path = self._bundle(cid) / f"exec-{os.getpid()}-{id(process)}.json"
        path.write_text(json.dumps(merged))
        pidfile = path.with_suffix(".pid")
        if tty_fd is not None:
            stdin = stdout = stderr = tty_fd
        try:
            self._run(["exec", "--detach", "--process", str(path), "--pid-file", str(pidfile), cid], cid,
                      stdin=stdin, stdout=stdout, stderr=stderr)
            return int(pidfile.read_text().strip())
        finally:
            path.unlink(missing_ok=True)
            pidfile.unlink(missing_ok=True)

    def cleanup(self, spec: dict, cgroup: cgroups.CgroupHandle | None) -> None:
        """`<runtime> delete --force`, unmount the host-side rootfs, remove the bundle."""
        cid = (spec.get("annotations") or {}).get(ann.CONTAINER_ID) or os.path.basename(spec["linux"]["cgroupsPath"])
        self._run(["delete", "--force", cid], cid, check=False)
        if cgroup is not None:
            for path in cgroup.paths.values():
                try:
                    os.rmdir(path)
                except OSError:
                    pass
        bundle = self._bundle(cid)
        rootfs = bundle / "rootfs"
        if os.path.ismount(rootfs):
            try:
                sc.linux().umount2(str(rootfs), sc.MNT_DETACH)
            except OSError as exc:
                raise errdefs.from_oserror(exc, f"unmount {rootfs}") from exc
        shutil.rmtree(bundle, ignore_errors=True)

    def adopt(self, container_id: str, cgroup_parent: str = "stackyard") -> cgroups.CgroupHandle | None:
        out = subprocess.run([self.binary, "--root", str(self.root), "state", container_id], capture_output=True,
                             text=True, stdin=subprocess.DEVNULL,
                             preexec_fn=_hybrid_workaround if self._workaround else None)
        if out.returncode != 0:
            return None
        state = json.loads(out.stdout)
        if state.get("status") not in ("running", "paused") or not state.get("pid"):
            return None
        return handle_from_pid(int(state["pid"]))


def _receive_console(listener: socket.socket, timeout: float = 10.0) -> int:
    """The pty master the runtime sent to our --console-socket during `create` (the connection
    waits in the backlog: the runtime has exited by now)."""
    listener.settimeout(timeout)
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        raise errdefs.Internal("the OCI runtime sent no terminal to the console socket") from None
    with conn:
        conn.settimeout(timeout)
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
    if not fds:
        raise errdefs.Internal("the OCI runtime's console socket message carried no terminal")
    os.set_inheritable(fds[0], False)
    return fds[0]


def handle_from_pid(pid: int) -> cgroups.CgroupHandle:
    """The cgroup dirs a running process is in (wherever the OCI runtime put it)."""
    layout, _ = cgroups.host_layout()
    with open(f"/proc/{pid}/cgroup") as f:
        own = cgroups.own_paths(f.read())
    paths = {}
    for ctrl, mount in layout.v1.items():
        if ctrl in own:
            paths[ctrl] = cgroups._join(mount, own[ctrl], "")
    if layout.unified is not None and own.get("", "/") != "/":
        paths[cgroups.UNIFIED] = cgroups._join(layout.unified, own[""], "")
    return cgroups.CgroupHandle(layout.mode, {k: v.rstrip("/") for k, v in paths.items()})

