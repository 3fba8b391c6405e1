"""docker-py's `containers.create/run` keyword arguments → an Engine API container create body.

Used by `highlevel.ContainerCollection`. The conversions follow docker-py 7 (`ContainerConfig`,
`HostConfig`, `_create_container_args`) so ported code creates the same containers; the
keyword → field mapping is two tables, and an unknown keyword is a TypeError as in docker-py.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Callable, Mapping

_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _command(value: Any) -> Any:
    return shlex.split(value) if isinstance(value, str) else value


def _env(value: Any) -> Any:
    if isinstance(value, Mapping):
        return [k if v is None else f"{k}={v}" for k, v in value.items()]
    return value


def _labels(value: Any) -> Any:
    return {label: "" for label in value} if isinstance(value, (list, tuple)) else value


def _bytes(value: Any) -> Any:
    """`"128m"` → 134217728, as docker-py's `parse_bytes`; ints pass through."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*", value.lower())
        if not match:
            raise ValueError(f"invalid size {value!r}: use a number with an optional b, k, m or g suffix")
        return int(float(match.group(1)) * _UNITS[match.group(2) or "b"])
    return value


_HEALTH_KEYS = {"test": "Test", "interval": "Interval", "timeout": "Timeout", "retries": "Retries",
                "start_period": "StartPeriod"}


def _healthcheck(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    out = {_HEALTH_KEYS.get(k, k): v for k, v in value.items()}
    if isinstance(out.get("Test"), str):
        out["Test"] = ["CMD-SHELL", out["Test"]]
    return out


def _extra_hosts(value: Any) -> Any:
    if isinstance(value, Mapping):
        return [f"{host}:{ip}" for host, ip in sorted(value.items())]
    return value


def _links(value: Any) -> Any:
    if isinstance(value, Mapping):
        return [f"{name}:{alias}" for name, alias in sorted(value.items())]
    return value


def _log_config(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {"Type": value.get("type", value.get("Type")), "Config": value.get("config", value.get("Config")) or {}}
    return value


def _tmpfs(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return dict((item.split(":", 1) + [""])[:2] for item in value)
    return value


def _ulimits(value: Any) -> Any:
    return [{"Name": u.get("name", u.get("Name")), "Soft": u.get("soft", u.get("Soft")),
             "Hard": u.get("hard", u.get("Hard"))} for u in value]


def _devices(value: Any) -> Any:
    out = []
    for device in value:
        if isinstance(device, Mapping):
            out.append(dict(device))
            continue
        parts = device.split(":")
        host = parts[0]
        container = parts[1] if len(parts) > 1 else host
        out.append({"PathOnHost": host, "PathInContainer": container,
                    "CgroupPermissions": parts[2] if len(parts) > 2 else "rwm"})
    return out


def _same(value: Any) -> Any:
    return value


# docker-py keyword → (top-level field, conversion).
CREATE_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "command": ("Cmd", _command), "entrypoint": ("Entrypoint", _command),
    "environment": ("Env", _env), "labels": ("Labels", _labels), "hostname": ("Hostname", _same),
    "domainname": ("Domainname", _same), "user": ("User", lambda v: str(v)),
    "working_dir": ("WorkingDir", _same), "tty": ("Tty", _same), "stdin_open": ("OpenStdin", _same),
    "healthcheck": ("Healthcheck", _healthcheck), "stop_signal": ("StopSignal", _same),
    "stop_timeout": ("StopTimeout", _same), "mac_address": ("MacAddress", _same),
    "network_disabled": ("NetworkDisabled", _same), "runtime_config": ("Runtime", _same),
}

# docker-py keyword → (HostConfig field, conversion).
HOST_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "auto_remove": ("AutoRemove", _same), "cap_add": ("CapAdd", _same), "cap_drop": ("CapDrop", _same),
    "cgroup_parent": ("CgroupParent", _same), "cgroupns": ("CgroupnsMode", _same),
    "cpu_period": ("CpuPeriod", _same), "cpu_quota": ("CpuQuota", _same), "cpu_shares": ("CpuShares", _same),
    "cpuset_cpus": ("CpusetCpus", _same), "cpuset_mems": ("CpusetMems", _same), "nano_cpus": ("NanoCpus", _same),
    "devices": ("Devices", _devices), "device_requests": ("DeviceRequests", _same),
    "dns": ("Dns", _same), "dns_opt": ("DnsOptions", _same), "dns_search": ("DnsSearch", _same),
    "extra_hosts": ("ExtraHosts", _extra_hosts), "group_add": ("GroupAdd", lambda v: [str(g) for g in v]),
    "init": ("Init", _same), "ipc_mode": ("IpcMode", _same), "links": ("Links", _links),
    "log_config": ("LogConfig", _log_config), "mem_limit": ("Memory", _bytes),
    "mem_reservation": ("MemoryReservation", _bytes), "memswap_limit": ("MemorySwap", _bytes),
    "mem_swappiness": ("MemorySwappiness", _same), "mounts": ("Mounts", _same),
    "network_mode": ("NetworkMode", _same), "oom_kill_disable": ("OomKillDisable", _same),
    "oom_score_adj": ("OomScoreAdj", _same), "pid_mode": ("PidMode", _same), "pids_limit": ("PidsLimit", _same),
    "privileged": ("Privileged", _same), "publish_all_ports": ("PublishAllPorts", _same),
    "read_only": ("ReadonlyRootfs", _same), "restart_policy": ("RestartPolicy", _same),
    "runtime": ("Runtime", _same), "security_opt": ("SecurityOpt", _same), "shm_size": ("ShmSize", _bytes),
    "storage_opt": ("StorageOpt", _same), "sysctls": ("Sysctls", _same), "tmpfs": ("Tmpfs", _tmpfs),
    "ulimits": ("Ulimits", _ulimits), "userns_mode": ("UsernsMode", _same), "uts_mode": ("UTSMode", _same),
    "volume_driver": ("VolumeDriver", _same), "volumes_from": ("VolumesFrom", _same),
}


def _port_binding(binding: Any) -> dict:
    """docker-py's `_convert_port_binding`: 8080, "8080", ("127.0.0.1", 8080), ("127.0.0.1",), None."""
    ip, port = "", binding
    if isinstance(binding, tuple):
        if len(binding) == 2:
            ip, port = binding
        elif isinstance(binding[0], str):
            ip, port = binding[0], None
        else:
            port = binding[0]
    elif isinstance(binding, Mapping):
        ip, port = binding.get("HostIp", ""), binding["HostPort"]
    return {"HostIp": ip, "HostPort": "" if port is None else str(port)}


def _ports(ports: Mapping[Any, Any]) -> tuple[dict, dict]:
    exposed, bindings = {}, {}
    for key, value in ports.items():
        key = str(key) if "/" in str(key) else f"{key}/tcp"
        exposed[key] = {}
        bindings[key] = [_port_binding(v) for v in value] if isinstance(value, list) else [_port_binding(value)]
    return exposed, bindings


def _volumes(volumes: Any) -> tuple[list[str], dict]:
    """Binds ("src:dst:mode") and the Volumes map, from a dict or a list of bind strings."""
    if isinstance(volumes, str):
        volumes = [volumes]
    if isinstance(volumes, Mapping):
        binds = []
        for source, spec in volumes.items():
            if isinstance(spec, Mapping):
                mode = spec.get("mode") or ("ro" if spec.get("ro") else "rw")
                binds.append(f"{source}:{spec['bind']}:{mode}")
            else:
                binds.append(f"{source}:{spec}:rw")
    else:
        binds = list(volumes)
    targets = {bind.split(":")[1] if ":" in bind else bind: {} for bind in binds}
    return binds, targets


def create_body(image: str, command: Any = None, *, detach: bool = False, **kwargs: Any) -> tuple[dict, str | None]:
    """The create body and the container name for docker-py style arguments.

    Raises:
        TypeError: an argument docker-py's `containers.create` does not take (or we do not support).
    """
    name = kwargs.pop("name", None)
    kwargs.pop("platform", None)  # the engine picks the image's platform; create takes no body field
    body: dict[str, Any] = {"Image": image}
    host: dict[str, Any] = {}
    if command is not None:
        body["Cmd"] = _command(command)
    for key in [k for k in kwargs if k in CREATE_FIELDS]:
        field, convert = CREATE_FIELDS[key]
        value = kwargs.pop(key)
        if value is not None:
            body[field] = convert(value)
    for key in [k for k in kwargs if k in HOST_FIELDS]:
        field, convert = HOST_FIELDS[key]
        value = kwargs.pop(key)
        if value is not None:
            host[field] = convert(value)
    ports = kwargs.pop("ports", None)
    if ports:
        body["ExposedPorts"], host["PortBindings"] = _ports(ports)
    volumes = kwargs.pop("volumes", None)
    if volumes:
        host["Binds"], body["Volumes"] = _volumes(volumes)
    network = kwargs.pop("network", None)
    networking_config = kwargs.pop("networking_config", None)
    if network:
        if "NetworkMode" in host:
            raise TypeError('the options "network" and "network_mode" can not be used together')
        host["NetworkMode"] = network
        endpoint = (networking_config or {}).get(network) or {}
        body["NetworkingConfig"] = {"EndpointsConfig": {network: dict(endpoint)}}
    if kwargs:
        raise TypeError(f"create() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
    # As docker-py: attach stdout/stderr unless detached; stdin too when it is kept open.
    body.setdefault("OpenStdin", False)
    body.update(AttachStdout=not detach, AttachStderr=not detach,
                AttachStdin=bool(not detach and body["OpenStdin"]), StdinOnce=bool(not detach and body["OpenStdin"]))
    host.setdefault("NetworkMode", "default")
    body["HostConfig"] = host
    return body, name
