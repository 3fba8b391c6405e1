"""Turn an OCI spec into the ready-to-run facts the forked child needs (parent side, before fork).

Called by NativeExecutor.start/exec. Parsing mount options, statting devices and compiling
seccomp happen here, in the supervisor, so the child only does syscalls. `mount_flags` is pure.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field

from runtime import errdefs
from runtime.executor import annotations as ann
from runtime.executor import caps as capmod
from runtime.executor import syscalls as sc

_FLAGS = {
    "ro": (sc.MS_RDONLY, True), "rw": (sc.MS_RDONLY, False), "nosuid": (sc.MS_NOSUID, True),
    "suid": (sc.MS_NOSUID, False), "nodev": (sc.MS_NODEV, True), "dev": (sc.MS_NODEV, False),
    "noexec": (sc.MS_NOEXEC, True), "exec": (sc.MS_NOEXEC, False), "sync": (sc.MS_SYNCHRONOUS, True),
    "async": (sc.MS_SYNCHRONOUS, False), "noatime": (sc.MS_NOATIME, True), "atime": (sc.MS_NOATIME, False),
    "nodiratime": (sc.MS_NODIRATIME, True), "diratime": (sc.MS_NODIRATIME, False),
    "relatime": (sc.MS_RELATIME, True), "norelatime": (sc.MS_RELATIME, False),
    "strictatime": (sc.MS_STRICTATIME, True), "nostrictatime": (sc.MS_STRICTATIME, False),
    "bind": (sc.MS_BIND, True), "rbind": (sc.MS_BIND | sc.MS_REC, True), "remount": (sc.MS_REMOUNT, True),
}
_PROPAGATION = {"private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC, "shared": sc.MS_SHARED,
                "rshared": sc.MS_SHARED | sc.MS_REC, "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
                "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC}
RLIMITS = {"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
           "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
           "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
           "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15}


def mount_flags(options: list[str]) -> tuple[int, int, str]:
    """(mount flags, propagation flags, data string) for OCI mount options (pure)."""
    flags, prop, data = 0, 0, []
    for o in options or []:
        if o in _FLAGS:
            bit, on = _FLAGS[o]
            flags = flags | bit if on else flags & ~bit
        elif o in _PROPAGATION:
            prop = _PROPAGATION[o]
        elif o in ("newinstance",) or "=" in o:
            data.append(o)
        else:
            data.append(o)
    return flags, prop, ",".join(data)


@dataclass
class Mount:
    destination: str
    type: str
    source: str
    flags: int
    propagation: int
    data: str
    is_file: bool = False


@dataclass
class Device:
    path: str
    kind: str  # "c" | "b"
    major: int
    minor: int
    mode: int
    uid: int = 0
    gid: int = 0


@dataclass
class Plan:
    """Everything the child does, precomputed."""
    root: str
    root_readonly: bool
    rootfs_mounts: list[dict]
    mounts: list[Mount]
    setns: list[tuple[str, int]]  # (path, CLONE_* flag)
    unshare_flags: int
    new_netns: bool
    hostname: str | None
    domainname: str | None
    masked: list[str]
    readonly: list[str]
    sysctl: dict[str, str]
    devices: list[Device]
    copyup: list[dict]
    args: list[str]
    env: list[str]
    cwd: str
    uid: int
    gid: int
    gids: list[int]
    user_field: str | None
    group_add: list[str]
    bounding: int
    effective: int
    permitted: int
    inheritable: int
    ambient: list[int]
    nonroot_drops_caps: bool
    no_new_privs: bool
    rlimits: list[tuple[int, int, int]]
    oom_score_adj: int | None
    seccomp_bpf: bytes | None
    init: str | None
    terminal: bool
    procs_files: list[str] = field(default_factory=list)  # the child writes 0 to each: cgroups.CgroupHandle.join_files
    cgroup_mounts: list[tuple[str, str, str]] = field(default_factory=list)  # (subdir, fstype, options)
    last_cap: int = 40
    umask: int = 0o022


def _device(host: str, container: str) -> Device:
    try:
        st = os.stat(host)
    except OSError as exc:
        raise errdefs.InvalidArgument(f"error gathering device information while adding custom device {host!r}: {exc.strerror}") from exc
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise errdefs.InvalidArgument(f"error gathering device information while adding custom device {host!r}: not a device node")
    return Device(container, kind, os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def host_devices(root: str = "/dev") -> list[Device]:
    """Every device node under the host's /dev (what a privileged container gets, as Docker's
    HostDevices: recursive, without /dev/pts, /dev/shm and /dev/mqueue, symlinks skipped)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == root:
            dirnames[:] = [d for d in dirnames if d not in ("pts", "shm", "mqueue")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
                out.append(Device(path, kind, os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode),
                                  st.st_uid, st.st_gid))
    return out


def check_bind_sources(spec: dict) -> None:
    """Docker's create-time check, before anything is forked or mounted. Raises errdefs.InvalidArgument."""
    for m in spec.get("mounts") or []:
        if m.get("type") == "bind" and not os.path.lexists(m.get("source") or ""):
            raise errdefs.InvalidArgument(f'invalid mount config for type "bind": bind source path does not exist: {m.get("source")}')


def device_rules(spec: dict) -> list[str] | None:
    """The devices-cgroup allow list (None = allow all, for privileged containers)."""
    from runtime.executor.cgroups import DEFAULT_DEVICE_RULES
    if (spec.get("annotations") or {}).get(ann.PRIVILEGED) == "true":
        return None
    rules = list(DEFAULT_DEVICE_RULES)
    for d in json.loads(spec.get("annotations", {}).get(ann.DEVICES, "[]")):
        dev = _device(d["host"], d["container"])
        rules.append(f"{dev.kind} {dev.major}:{dev.minor} {d['permissions']}")
    return rules


def cgroup_mounts(mode: str, v1_controllers: list[str]) -> list[tuple[str, str, str]]:
    """What goes under the container's /sys/fs/cgroup (pure): v2 one cgroup2, else one per controller."""
    if mode == "v2":
        return [("", "cgroup2", "")]
    out = [(c, "cgroup", c) for c in v1_controllers]
    if mode == "hybrid":
        out.append(("unified", "cgroup2", ""))
    return out


_OWN_CAPS: list[int] = []


def own_capabilities() -> int:
    """The capabilities we hold: a container cannot get more (Docker's "all" means all the daemon has)."""
    if not _OWN_CAPS:
        with open("/proc/self/status") as f:
            line = next(x for x in f if x.startswith("CapPrm:"))
        _OWN_CAPS.append(int(line.split()[1], 16))
    return _OWN_CAPS[0]


def make_plan(spec: dict, *, seccomp_bpf: bytes | None, procs_files: list[str]) -> Plan:
    """Precompute the child's work from `spec`. Raises errdefs.InvalidArgument on what it cannot do."""
    from runtime.executor.cgroups import host_layout
    a = spec.get("annotations") or {}
    proc, linux = spec["process"], spec.get("linux") or {}
    setns, unshare, new_netns = [], 0, False
    for ns in linux.get("namespaces") or []:
        flag = sc.NAMESPACE_FLAGS.get(ns["type"])
        if flag is None:
            raise errdefs.InvalidArgument(f"linux.namespaces: unsupported namespace {ns['type']!r}")
        if ns["type"] == "pid":
            continue  # the parent enters the PID namespace around the fork
        if ns.get("path"):
            setns.append((ns["path"], flag))
        else:
            unshare |= flag
            new_netns = new_netns or ns["type"] == "network"
    mounts = []
    for m in spec.get("mounts") or []:
        flags, prop, data = mount_flags(m.get("options") or [])
        is_file = False
        if m.get("type") == "bind":
            flags |= sc.MS_BIND
            is_file = not os.path.isdir(m["source"])
        mounts.append(Mount(m["destination"], m.get("type") or "bind", m.get("source") or "", flags, prop, data, is_file))
    caps = proc.get("capabilities") or {}
    devices = [_device(d["host"], d["container"]) for d in json.loads(a.get(ann.DEVICES, "[]"))]
    if a.get(ann.PRIVILEGED) == "true":
        devices = host_devices() + devices
    layout, _ = host_layout()
    user = proc.get("user") or {}
    rlimits = []
    for r in proc.get("rlimits") or []:
        if r["type"] not in RLIMITS:
            raise errdefs.InvalidArgument(f"process.rlimits: unknown {r['type']!r}")
        rlimits.append((RLIMITS[r["type"]], r["soft"], r["hard"]))
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last_cap = int(f.read())
    except OSError:
        last_cap = 40
    own = own_capabilities()
    return Plan(
        root=spec["root"]["path"], root_readonly=bool(spec["root"].get("readonly")),
        rootfs_mounts=json.loads(a.get(ann.ROOTFS_MOUNTS, "[]")), mounts=mounts, setns=setns,
        unshare_flags=unshare, new_netns=new_netns, hostname=spec.get("hostname") if unshare & sc.CLONE_NEWUTS else None,
        domainname=spec.get("domainname") if unshare & sc.CLONE_NEWUTS else None,
        masked=list(linux.get("maskedPaths") or []), readonly=list(linux.get("readonlyPaths") or []),
        sysctl=dict(linux.get("sysctl") or {}), devices=devices, copyup=json.loads(a.get(ann.VOLUME_COPYUP, "[]")),
        args=list(proc["args"]), env=list(proc.get("env") or []), cwd=proc.get("cwd") or "/",
        uid=int(user.get("uid", 0)), gid=int(user.get("gid", 0)), gids=list(user.get("additionalGids") or []),
        user_field=a.get(ann.USER), group_add=json.loads(a.get(ann.GROUP_ADD, "[]")),
        bounding=capmod.mask(caps.get("bounding") or []) & own,
        effective=capmod.mask(caps.get("effective") or []) & own,
        permitted=capmod.mask(caps.get("permitted") or []) & own,
        inheritable=capmod.mask(caps.get("inheritable") or []) & own,
        ambient=[capmod.CAPABILITIES[c] for c in caps.get("ambient") or []],
        nonroot_drops_caps=a.get(ann.NONROOT_CAPS) == "true", no_new_privs=bool(proc.get("noNewPrivileges")),
        rlimits=rlimits, oom_score_adj=proc.get("oomScoreAdj"), seccomp_bpf=seccomp_bpf, init=a.get(ann.INIT),
        terminal=bool(proc.get("terminal")), procs_files=procs_files,
        cgroup_mounts=cgroup_mounts(layout.mode, sorted(layout.v1)), last_cap=last_cap,
        umask=int(user.get("umask", 0o022)))
