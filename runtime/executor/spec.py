"""Container configuration (Engine API create body) → OCI runtime spec (pure: no I/O, no clock).

Called by the container manager (runtime/containers) at create time; the result is the only
contract with whatever executes the container (NativeExecutor, OciRuntimeExecutor). Follows
moby's daemon/oci_linux.go defaults. What OCI has no field for travels in annotations
(annotations.py). Every rejected input raises errdefs.InvalidArgument naming the field.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field

from runtime import errdefs
from runtime.executor import annotations as ann
from runtime.executor import caps as capmod
from runtime.executor import seccomp_profile
from runtime.executor.spec_mounts import default_mounts, user_mounts
from runtime.executor.user import resolve_user

__all__ = ["SpecContext", "build_spec", "resolve_user", "stop_signal"]  # resolve_user: the contract names it here

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM = 64 * 1024 * 1024
CPU_PERIOD = 100_000
MIN_MEMORY = 6 * 1024 * 1024
INIT_PATH_IN_CONTAINER = "/sbin/docker-init"

MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

ULIMITS = {"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
           "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
           "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC",
           "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME",
           "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK", "as": "RLIMIT_AS"}
_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}


@dataclass(frozen=True)
class SpecContext:
    container_id: str
    rootfs: str
    rootfs_mounts: list[dict]
    image_config: dict
    hostname_path: str
    hosts_path: str
    resolv_conf_path: str
    netns_path: str | None
    cgroup_parent: str = "stackyard"
    volume_sources: dict[str, str] = field(default_factory=dict)  # name (or anonymous: container path) → host dir
    user: tuple[int, int, list[int]] | None = None
    seccomp_profile: dict | None = None
    init_path: str | None = "/usr/bin/tini-static"  # None → our builtin init
    ipc_ns_path: str | None = None                  # for IpcMode container:x (the manager resolves x)
    pid_ns_path: str | None = None                  # for PidMode container:x
    machine: str = "x86_64"


def _bad(field_name: str, msg: str) -> errdefs.InvalidArgument:
    return errdefs.InvalidArgument(f"{field_name}: {msg}")


def _args(create: dict, image: dict) -> list[str]:
    # moby's merge(): an empty (or absent) Entrypoint takes the image's Cmd when Cmd is empty too,
    # and the image's Entrypoint only when absent (null); a given Entrypoint drops the image's Cmd.
    entry = create.get("Entrypoint")
    cmd = create.get("Cmd")
    if isinstance(entry, str):
        entry = [entry]
    if isinstance(cmd, str):
        cmd = [cmd]
    if not entry:
        if not cmd:
            cmd = image.get("Cmd") or []
        if entry is None:
            entry = image.get("Entrypoint") or []
    args = [str(a) for a in list(entry or []) + list(cmd or [])]
    if not args or args[0] == "":
        raise errdefs.InvalidArgument("Cmd: no command specified")
    return args


def _env(create: dict, image: dict, hostname: str, tty: bool) -> list[str]:
    out: dict[str, str] = {}
    order: list[str] = []

    def put(item: str, fld: str) -> None:
        if not isinstance(item, str) or item.startswith("="):
            raise _bad(fld, f"invalid environment variable: {item!r}")
        key, eq, _ = item.partition("=")
        if not eq:
            return  # "KEY" without value: docker CLI resolves it client-side; nothing to set here
        if key not in out:
            order.append(key)
        out[key] = item

    put("PATH=" + DEFAULT_PATH, "Env")
    put("HOSTNAME=" + hostname, "Env")
    if tty:
        put("TERM=xterm", "Env")
    for i, e in enumerate(image.get("Env") or []):
        put(e, f"image Env[{i}]")
    for i, e in enumerate(create.get("Env") or []):
        put(e, f"Env[{i}]")
    return [out[k] for k in order]


def _resources(host: dict) -> dict:
    res: dict = {}
    mem = int(host.get("Memory") or 0)
    swap = int(host.get("MemorySwap") or 0)
    if mem < 0:
        raise _bad("HostConfig.Memory", "must not be negative")
    if mem:
        if mem < MIN_MEMORY:
            raise _bad("HostConfig.Memory", "Minimum memory limit allowed is 6MB")
        res.setdefault("memory", {})["limit"] = mem
        if swap == 0:
            swap = 2 * mem  # Docker: unset swap = twice the memory limit
        if swap > 0 and swap < mem:
            raise _bad("HostConfig.MemorySwap", "Minimum memoryswap limit should be larger than memory limit, see usage")
        res["memory"]["swap"] = swap
    elif swap > 0:
        raise _bad("HostConfig.MemorySwap", "You should always set the Memory limit when using Memoryswap limit, see usage")
    if host.get("MemoryReservation"):
        res.setdefault("memory", {})["reservation"] = int(host["MemoryReservation"])
    if host.get("OomKillDisable"):
        res.setdefault("memory", {})["disableOOMKiller"] = True
    cpu: dict = {}
    nano = int(host.get("NanoCpus") or 0)
    if nano and (host.get("CpuQuota") or host.get("CpuPeriod")):
        raise _bad("HostConfig.NanoCpus", "Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set")
    if nano:
        if nano < 0:
            raise _bad("HostConfig.NanoCpus", "Range of CPUs is from 0.01 to the number of CPUs available")
        cpu["quota"] = nano * CPU_PERIOD // 1_000_000_000
        cpu["period"] = CPU_PERIOD
    if host.get("CpuQuota"):
        cpu["quota"] = int(host["CpuQuota"])
        cpu["period"] = int(host.get("CpuPeriod") or CPU_PERIOD)
    elif host.get("CpuPeriod"):
        cpu["period"] = int(host["CpuPeriod"])
    if host.get("CpuShares"):
        cpu["shares"] = int(host["CpuShares"])
    if host.get("CpusetCpus"):
        cpu["cpus"] = str(host["CpusetCpus"])
    if host.get("CpusetMems"):
        cpu["mems"] = str(host["CpusetMems"])
    if cpu:
        res["cpu"] = cpu
    pids = host.get("PidsLimit")
    if pids is not None and int(pids) > 0:
        res["pids"] = {"limit": int(pids)}
    weight = host.get("BlkioWeight")
    if weight:
        if not 10 <= int(weight) <= 1000:
            raise _bad("HostConfig.BlkioWeight", "Range of blkio weight is from 10 to 1000")
        res["blockIO"] = {"weight": int(weight)}
    return res


def _rlimits(host: dict) -> list[dict]:
    out = []
    for i, u in enumerate(host.get("Ulimits") or []):
        name = str(u.get("Name", "")).lower()
        if name not in ULIMITS:
            raise _bad(f"HostConfig.Ulimits[{i}]", f"invalid ulimit type: {u.get('Name')!r}")
        soft, hard = int(u.get("Soft", 0)), int(u.get("Hard", 0))
        if soft > hard and hard >= 0:
            raise _bad(f"HostConfig.Ulimits[{i}]", f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
        to_u64 = lambda v: v if v >= 0 else 2**64 - 1  # noqa: E731 - -1 means unlimited
        out.append({"type": ULIMITS[name], "soft": to_u64(soft), "hard": to_u64(hard)})
    return out


def _sysctls(host: dict, *, host_net: bool, host_ipc: bool) -> dict:
    out = {}
    for key, value in (host.get("Sysctls") or {}).items():
        ok = ((key in _IPC_SYSCTLS or key.startswith("fs.mqueue.")) and not host_ipc) or \
             (key.startswith("net.") and not host_net)
        if not ok:
            raise _bad(f"HostConfig.Sysctls[{key!r}]", f"sysctl {key!r} is not allowed (not namespaced, or the namespace is the host's)")
        out[key] = str(value)
    return out


def _namespaces(host: dict, ctx: SpecContext) -> tuple[list[dict], bool, bool, bool]:
    ns = [{"type": "mount"}]
    pid_mode = host.get("PidMode") or ""
    if pid_mode == "host":
        pass
    elif pid_mode.startswith("container:"):
        if not ctx.pid_ns_path:
            raise _bad("HostConfig.PidMode", "container:<x> needs the manager to resolve the namespace path")
        ns.append({"type": "pid", "path": ctx.pid_ns_path})
    elif pid_mode in ("", "private"):
        ns.append({"type": "pid"})
    else:
        raise _bad("HostConfig.PidMode", f"invalid PID mode {pid_mode!r}")
    net_mode = host.get("NetworkMode") or ""
    host_net = ctx.netns_path == "host" or net_mode == "host"
    if not host_net:
        ns.append({"type": "network", "path": ctx.netns_path} if ctx.netns_path else {"type": "network"})
    ipc_mode = host.get("IpcMode") or ""
    host_ipc = ipc_mode == "host"
    has_own_ipc = True
    if host_ipc:
        has_own_ipc = False
    elif ipc_mode.startswith("container:") or ipc_mode.startswith("service:"):
        if not ctx.ipc_ns_path:
            raise _bad("HostConfig.IpcMode", f"{ipc_mode}: needs the manager to resolve the namespace path")
        ns.append({"type": "ipc", "path": ctx.ipc_ns_path})
        has_own_ipc = False
    elif ipc_mode in ("", "private", "shareable", "none"):
        ns.append({"type": "ipc"})
    else:
        raise _bad("HostConfig.IpcMode", f"invalid IPC mode {ipc_mode!r}")
    if (host.get("UTSMode") or "") != "host":
        ns.append({"type": "uts"})
    if (host.get("CgroupnsMode") or "private") != "host":
        ns.append({"type": "cgroup"})
    return ns, host_net, host_ipc, has_own_ipc


def _security_opts(host: dict) -> tuple[bool, str | dict | None]:
    """(no_new_privileges, seccomp) where seccomp is None (default), "unconfined", a path or a profile."""
    nnp, seccomp = False, None
    for i, opt in enumerate(host.get("SecurityOpt") or []):
        key, sep, value = opt.partition("=") if "=" in opt else opt.partition(":")
        if key == "no-new-privileges":
            nnp = value.lower() in ("", "true")
        elif key == "seccomp":
            if value == "unconfined":
                seccomp = "unconfined"
            elif value.lstrip().startswith("{"):
                try:
                    seccomp = json.loads(value)
                except ValueError as exc:
                    raise _bad(f"HostConfig.SecurityOpt[{i}]", f"invalid seccomp profile: {exc}") from None
            else:
                seccomp = value
        elif key in ("apparmor", "label", "systempaths"):
            continue  # no AppArmor/SELinux here; systempaths handled with Privileged rules below
        else:
            raise _bad(f"HostConfig.SecurityOpt[{i}]", f"invalid --security-opt: {opt!r}")
    return nnp, seccomp


def _user(create: dict, image: dict, host: dict, ctx: SpecContext, annotations: dict) -> dict:
    """process.user; names are left to the executor (annotations) unless ctx.user resolved them."""
    if ctx.user is not None:
        user = {"uid": ctx.user[0], "gid": ctx.user[1]}
        if ctx.user[2]:
            user["additionalGids"] = list(ctx.user[2])
        return user
    # Names (and the groups of any user, root included) need the image's /etc/passwd and
    # /etc/group: the executor resolves them once the rootfs is mounted.
    user_field = create.get("User") or image.get("User") or ""  # moby: an empty User takes the image's
    annotations[ann.USER] = user_field
    annotations[ann.GROUP_ADD] = json.dumps([str(g) for g in host.get("GroupAdd") or []])
    uid, _, gid = user_field.partition(":")
    return {"uid": int(uid) if uid.isdigit() else 0, "gid": int(gid) if gid.isdigit() else 0}


def _process(create: dict, image: dict, host: dict, ctx: SpecContext, caps: list[str], nnp: bool,
             hostname: str, annotations: dict) -> dict:
    tty = bool(create.get("Tty"))
    args = _args(create, image)
    cwd = create.get("WorkingDir") or image.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise _bad("WorkingDir", f"the working directory '{cwd}' is invalid, it needs to be an absolute path")
    user = _user(create, image, host, ctx, annotations)
    capabilities = {"bounding": caps, "effective": caps, "permitted": caps}
    if user["uid"] != 0:
        # Docker (moby #42836): a non-root user gets no effective/permitted capabilities.
        capabilities = {"bounding": caps, "effective": [], "permitted": []}
    if host.get("Init"):
        annotations[ann.INIT] = "tini" if ctx.init_path else "builtin"
        if ctx.init_path:
            args = [INIT_PATH_IN_CONTAINER, "--", *args]
    process = {"terminal": tty, "user": user, "args": args, "env": _env(create, image, hostname, tty),
               "cwd": posixpath.normpath(cwd), "capabilities": capabilities, "noNewPrivileges": nnp}
    rlimits = _rlimits(host)
    if rlimits:
        process["rlimits"] = rlimits
    if host.get("OomScoreAdj"):
        process["oomScoreAdj"] = int(host["OomScoreAdj"])
    return process


def _mounts(host: dict, image: dict, ctx: SpecContext, *, privileged: bool, has_own_ipc: bool, host_ipc: bool,
            annotations: dict) -> list[dict]:
    shm = int(host.get("ShmSize") or DEFAULT_SHM)
    if shm < 0:
        raise _bad("HostConfig.ShmSize", "SHM size can not be less than 0")
    mounts = default_mounts(shm_size=shm, privileged=privileged, has_ipc=has_own_ipc, host_ipc=host_ipc)
    extra, mkdir, copyup = user_mounts(host, image.get("Volumes") or {}, ctx.volume_sources)
    taken = {m["destination"] for m in extra}
    mounts = [m for m in mounts if m["destination"] not in taken] + extra
    for dest, src in (("/etc/resolv.conf", ctx.resolv_conf_path), ("/etc/hostname", ctx.hostname_path),
                      ("/etc/hosts", ctx.hosts_path)):
        if src and dest not in taken:
            # moby NetworkMounts(): writable unless the root filesystem is read-only.
            opts = ["rbind", "rprivate"] + (["ro"] if host.get("ReadonlyRootfs") else [])
            mounts.append({"destination": dest, "type": "bind", "source": src, "options": opts})
    if host.get("Init") and ctx.init_path:
        mounts.append({"destination": INIT_PATH_IN_CONTAINER, "type": "bind", "source": ctx.init_path,
                       "options": ["bind", "ro"]})
    if mkdir:
        annotations[ann.MKDIR_HOST] = json.dumps(mkdir)
    if copyup:
        annotations[ann.VOLUME_COPYUP] = json.dumps(copyup)
    return mounts


def _devices(host: dict) -> list[dict]:
    """Requested devices; the executor stats them on the host when it starts the container."""
    devices = []
    for i, d in enumerate(host.get("Devices") or []):
        src = d.get("PathOnHost") or ""
        if not src.startswith("/"):
            raise _bad(f"HostConfig.Devices[{i}]", f"device path must be absolute: {src!r}")
        perms = d.get("CgroupPermissions") or "rwm"
        if set(perms) - set("rwm"):
            raise _bad(f"HostConfig.Devices[{i}]", f"invalid cgroup permissions {perms!r}")
        devices.append({"host": src, "container": d.get("PathInContainer") or src, "permissions": perms})
    return devices


def _seccomp(seccomp_opt, ctx: SpecContext, caps: list[str]) -> dict | None:
    if seccomp_opt == "unconfined":
        return None
    if isinstance(seccomp_opt, dict):
        profile = seccomp_opt
    elif isinstance(seccomp_opt, str):
        if ctx.seccomp_profile is None:
            raise _bad("HostConfig.SecurityOpt", f"seccomp profile file {seccomp_opt!r} must be read by the caller (SpecContext.seccomp_profile)")
        profile = ctx.seccomp_profile
    else:
        profile = ctx.seccomp_profile or seccomp_profile.docker_default_profile()
    return seccomp_profile.to_oci(profile, caps, machine=ctx.machine)


def build_spec(create: dict, ctx: SpecContext) -> dict:
    """The OCI runtime spec for `create` (Engine API body). Raises errdefs.InvalidArgument."""
    if not isinstance(create, dict):
        raise errdefs.InvalidArgument("container config must be an object")
    host = create.get("HostConfig") or {}
    image = ctx.image_config or {}
    privileged = bool(host.get("Privileged"))
    hostname = create.get("Hostname") or ctx.container_id[:12]
    namespaces, host_net, host_ipc, has_own_ipc = _namespaces(host, ctx)
    try:
        caps = capmod.tweak(host.get("CapAdd") or [], host.get("CapDrop") or [], privileged=privileged)
    except ValueError as exc:
        raise errdefs.InvalidArgument(str(exc)) from None
    nnp, seccomp_opt = _security_opts(host)
    annotations = {ann.CONTAINER_ID: ctx.container_id, ann.CGROUP_PARENT: ctx.cgroup_parent,
                   ann.STOP_SIGNAL: create.get("StopSignal") or image.get("StopSignal") or "SIGTERM",
                   ann.ROOTFS_MOUNTS: json.dumps(ctx.rootfs_mounts or []), ann.NONROOT_CAPS: "true"}
    if host.get("IpcMode") in ("shareable", "host"):
        annotations[ann.IPC_MODE] = host["IpcMode"]  # joiners check it (supervisor/shm.py)
    if host.get("Runtime"):
        from runtime.executor.runtimes import check_runtime
        annotations[ann.RUNTIME] = check_runtime(host["Runtime"])
    process = _process(create, image, host, ctx, caps, nnp, hostname, annotations)
    mounts = _mounts(host, image, ctx, privileged=privileged, has_own_ipc=has_own_ipc, host_ipc=host_ipc,
                     annotations=annotations)
    devices = _devices(host)
    if devices:
        annotations[ann.DEVICES] = json.dumps(devices)
    linux: dict = {"namespaces": namespaces, "resources": _resources(host),
                   "cgroupsPath": f"{ctx.cgroup_parent}/{ctx.container_id}"}
    sysctls = _sysctls(host, host_net=host_net, host_ipc=host_ipc)
    if sysctls:
        linux["sysctl"] = sysctls
    if privileged:
        annotations[ann.PRIVILEGED] = "true"  # no masks, no seccomp, every device
    else:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
        seccomp = _seccomp(seccomp_opt, ctx, caps)
        if seccomp is not None:
            linux["seccomp"] = seccomp
    spec = {"ociVersion": "1.0.2", "process": process,
            "root": {"path": ctx.rootfs, "readonly": bool(host.get("ReadonlyRootfs"))},
            "hostname": hostname, "mounts": mounts, "linux": linux, "annotations": annotations}
    if create.get("Domainname"):
        spec["domainname"] = create["Domainname"]
    return spec


def stop_signal(spec: dict) -> str:
    """The stop signal recorded in the spec (annotations), "SIGTERM" by default."""
    return (spec.get("annotations") or {}).get(ann.STOP_SIGNAL) or "SIGTERM"
