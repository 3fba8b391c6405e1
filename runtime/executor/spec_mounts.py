"""The mounts of an OCI spec from Engine API HostConfig (Binds, Mounts, Tmpfs, volumes) (pure).

Called by spec.build_spec. Docker's order: the default mounts, then user mounts, then
/etc/resolv.conf, /etc/hostname and /etc/hosts unless a user mount covers them.
"""

from __future__ import annotations

import posixpath

from runtime import errdefs

PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def default_mounts(*, shm_size: int, privileged: bool, has_ipc: bool, host_ipc: bool = False) -> list[dict]:
    """Docker's default mounts (moby oci/defaults.go), /dev/shm sized by ShmSize."""
    sys_opts = ["nosuid", "noexec", "nodev", "rw" if privileged else "ro"]
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro" if not privileged else "rw", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    ]
    if has_ipc:
        mounts.append({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                       "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]})
    elif host_ipc:
        # ipc: host shares the host's POSIX shared memory too (Docker binds /dev/shm).
        mounts.append({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]})
    return mounts


def _check_target(target: str, field: str) -> str:
    if not target or not target.startswith("/"):
        raise errdefs.InvalidArgument(f"{field}: invalid mount config: mount path must be absolute: {target!r}")
    if target == "/":
        raise errdefs.InvalidArgument(f"{field}: invalid specification: destination can't be '/'")
    return posixpath.normpath(target)


def _volume_source(name: str, volume_sources: dict[str, str], field: str) -> str:
    if name not in volume_sources:
        raise errdefs.NotFound(f"{field}: volume {name!r} not found (the volume manager must create it first)")
    return volume_sources[name]


def _bind(source: str, target: str, *, ro: bool, propagation: str | None) -> dict:
    opts = ["rbind", "ro" if ro else "rw", propagation or "rprivate"]
    return {"destination": target, "type": "bind", "source": source, "options": opts}


def parse_bind(spec: str, volume_sources: dict[str, str], field: str):
    """One `Binds` entry "src:dst[:opts]" → (mount, is_volume, volume_name_or_None, nocopy)."""
    parts = spec.split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
        raise errdefs.InvalidArgument(f"{field}: invalid volume specification: {spec!r}")
    src, dst = parts[0], _check_target(parts[1], field)
    opts = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    ro, propagation, nocopy = False, None, False
    for o in opts:
        if o in ("ro", "rw"):
            ro = o == "ro"
        elif o in PROPAGATIONS:
            propagation = o
        elif o == "nocopy":
            nocopy = True
        elif o in ("z", "Z", "consistent", "cached", "delegated"):
            continue  # SELinux relabel and macOS consistency hints: no meaning here
        else:
            raise errdefs.InvalidArgument(f"{field}: invalid mode: {o!r} in {spec!r}")
    if src.startswith("/"):
        return _bind(posixpath.normpath(src), dst, ro=ro, propagation=propagation), False, None, nocopy
    host = _volume_source(src, volume_sources, field)
    return _bind(host, dst, ro=ro, propagation=propagation), True, src, nocopy


def tmpfs_mount(target: str, options: str, field: str) -> dict:
    opts = ["nosuid", "nodev", "noexec"]
    for o in (options or "").split(","):
        o = o.strip()
        if not o:
            continue
        if o in ("exec", "suid", "dev"):
            opts = [x for x in opts if x != "no" + o]
        elif o in ("ro", "rw", "noexec", "nosuid", "nodev", "sync", "async", "noatime", "relatime",
                   "strictatime", "nodiratime") or o.split("=")[0] in ("size", "mode", "uid", "gid", "nr_inodes"):
            if o not in opts:
                opts.append(o)
        else:
            raise errdefs.InvalidArgument(f"{field}: invalid tmpfs option {o!r}")
    return {"destination": _check_target(target, field), "type": "tmpfs", "source": "tmpfs", "options": opts}


def user_mounts(host: dict, image_volumes: dict, volume_sources: dict[str, str]):
    """(mounts, mkdir_host, copyup) from Binds, Mounts, Tmpfs and the image's anonymous Volumes."""
    mounts: list[dict] = []
    mkdir: list[str] = []
    copyup: list[dict] = []
    for i, b in enumerate(host.get("Binds") or []):
        field = f"HostConfig.Binds[{i}]"
        if not isinstance(b, str):
            raise errdefs.InvalidArgument(f"{field}: must be a string")
        m, is_volume, _name, nocopy = parse_bind(b, volume_sources, field)
        mounts.append(m)
        if is_volume and not nocopy:
            copyup.append({"source": m["source"], "destination": m["destination"]})
        elif not is_volume:
            mkdir.append(m["source"])  # Binds create a missing host path (Docker's legacy rule)
    for i, m in enumerate(host.get("Mounts") or []):
        field = f"HostConfig.Mounts[{i}]"
        kind = m.get("Type")
        target = _check_target(m.get("Target") or m.get("Destination") or "", field)
        ro = bool(m.get("ReadOnly"))
        if kind == "bind":
            src = m.get("Source") or ""
            if not src.startswith("/"):
                raise errdefs.InvalidArgument(f"{field}: invalid mount config for type \"bind\": invalid mount path: {src!r} mount path must be absolute")
            opts = m.get("BindOptions") or {}
            prop = opts.get("Propagation") or None
            if prop is not None and prop not in PROPAGATIONS:
                raise errdefs.InvalidArgument(f"{field}: invalid propagation mode {prop!r}")
            mounts.append(_bind(posixpath.normpath(src), target, ro=ro, propagation=prop))
            if opts.get("CreateMountpoint"):
                mkdir.append(posixpath.normpath(src))
        elif kind == "volume":
            name = m.get("Source") or target  # anonymous volume: keyed by its container path
            src = _volume_source(name, volume_sources, field)
            mounts.append(_bind(src, target, ro=ro, propagation=None))
            if not (m.get("VolumeOptions") or {}).get("NoCopy"):
                copyup.append({"source": src, "destination": target})
        elif kind == "tmpfs":
            t = m.get("TmpfsOptions") or {}
            opt = []
            if t.get("SizeBytes"):
                opt.append(f"size={int(t['SizeBytes'])}")
            if t.get("Mode"):
                opt.append(f"mode={int(t['Mode']):o}")
            if ro:
                opt.append("ro")
            mounts.append(tmpfs_mount(target, ",".join(opt), field))
        else:
            raise errdefs.InvalidArgument(f"{field}: mount type {kind!r} is not supported")
    for target, opts in (host.get("Tmpfs") or {}).items():
        mounts.append(tmpfs_mount(target, opts, f"HostConfig.Tmpfs[{target!r}]"))
    seen = {m["destination"] for m in mounts}
    for i, (dest, m) in enumerate(sorted(x for x in (image_volumes or {}).items())):
        dest = posixpath.normpath(dest)
        if dest in seen:
            continue
        src = _volume_source(dest, volume_sources, f"Config.Volumes[{dest!r}]")
        mounts.append(_bind(src, dest, ro=False, propagation=None))
        copyup.append({"source": src, "destination": dest})
    dests = [m["destination"] for m in mounts]
    dups = {d for d in dests if dests.count(d) > 1}
    if dups:
        raise errdefs.InvalidArgument(f"HostConfig: duplicate mount point: {sorted(dups)[0]}")
    # Parents before children, so a mount inside another one lands on top (Docker sorts too).
    mounts.sort(key=lambda m: m["destination"].count("/"))
    return mounts, mkdir, copyup
