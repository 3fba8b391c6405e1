"""Desired state -> Engine API request bodies (container create, network create, volume create).

Pure functions, called by the executor for every container, network and volume it creates.
The body shapes are the Engine API v1.41 ones (`ContainerConfig` + `HostConfig` +
`NetworkingConfig`, `NetworkCreateRequest`, `VolumeCreateOptions`). Nothing here talks to the
engine or reads files: the caller passes the resolved environment (env_file contents and host
variables already read).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Mapping

from orchestrator import labels as L
from orchestrator.model import MountType, Network, Service, Stack, Volume

NANO = 1_000_000_000


class SpecError(ValueError):
    """The service asks for something the engine request cannot express (yet)."""


@dataclass(frozen=True)
class ContainerSpec:
    """A create request plus the networks to connect after create (the API takes one)."""

    name: str
    body: dict
    extra_networks: tuple[tuple[str, dict], ...]


def image_name(stack_name: str, service: Service) -> str:
    """The image reference a service's containers run: its `image`, else for a service with a
    `build` section the one the build is tagged with, `<stack>-<service>` (docker compose v2's
    name; v1 used `<stack>_<service>`). "" when it has neither."""
    if service.image:
        return service.image
    if service.build is not None:
        return f"{stack_name}-{service.name}".lower()
    return ""


def stack_labels(stack: Stack) -> dict[str, str]:
    return {
        L.PROJECT: stack.name,
        L.WORKING_DIR: stack.project_dir,
        L.CONFIG_FILES: ",".join(stack.config_files),
    }


def container_spec(stack: Stack, service: Service, number: int, *, config_hash: str,
                   config: str, environment: Mapping[str, str]) -> ContainerSpec:
    """The create request for replica `number` of `service`.

    Raises:
        SpecError: the service cannot be expressed as an Engine API request.
    """
    image = image_name(stack.name, service)
    if not image:
        raise SpecError(f'service "{service.name}" has neither an image nor a build section')
    name = service.container_name or L.container_name(stack.name, service.name, number)
    labels = {**dict(service.labels), **stack_labels(stack),
              L.SERVICE: service.name, L.CONTAINER_NUMBER: str(number), L.ONEOFF: "False",
              L.CONFIG_HASH: config_hash, L.CONFIG_DOC: config}
    if service.depends_on:
        labels[L.DEPENDS_ON] = ",".join(f"{d}:{dep.condition.value}:{str(dep.restart).lower()}"
                                        for d, dep in service.depends_on.items())
    body: dict = {
        "Image": image,
        "Labels": labels,
        "Env": [f"{k}={v}" for k, v in environment.items()],
        "Hostname": service.hostname or None,
        "Domainname": service.domainname or None,
        "User": service.user or None,
        "WorkingDir": service.working_dir or None,
        "Tty": service.tty,
        "OpenStdin": service.stdin_open,
        "StopSignal": service.stop_signal or None,
        "StopTimeout": int(service.stop_grace_period) if service.stop_grace_period is not None else None,
        "ExposedPorts": _exposed_ports(service),
        "Healthcheck": _healthcheck(service),
        "HostConfig": _host_config(stack, service),
    }
    if service.command is not None:
        body["Cmd"] = list(service.command)
    if service.entrypoint is not None:
        body["Entrypoint"] = list(service.entrypoint)
    networks = _endpoints(stack, service, name)
    if networks:
        first, rest = networks[0], networks[1:]
        body["HostConfig"]["NetworkMode"] = first[0]
        body["NetworkingConfig"] = {"EndpointsConfig": {first[0]: first[1]}}
    else:
        rest = []
    return ContainerSpec(name, _drop_none(body), tuple(rest))



def _exposed_ports(service: Service) -> dict:
    ports = {f"{p.target}/{p.protocol.value}": {} for p in service.ports}
    for item in service.expose:
        port, _, proto = str(item).partition("/")
        ports[f"{port}/{proto or 'tcp'}"] = {}
    return ports


def _healthcheck(service: Service) -> dict | None:
    check = service.healthcheck
    if check is None:
        return None
    if check.disable:
        return {"Test": ["NONE"]}
    out = {"Test": list(check.test) or None,
           "Interval": _ns(check.interval), "Timeout": _ns(check.timeout),
           "StartPeriod": _ns(check.start_period), "StartInterval": _ns(check.start_interval),
           "Retries": check.retries}
    return {k: v for k, v in out.items() if v is not None}


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else int(round(seconds * NANO))


def _host_config(stack: Stack, service: Service) -> dict:
    limits = service.deploy.resources.limits if service.deploy and service.deploy.resources else None
    reservations = (service.deploy.resources.reservations
                    if service.deploy and service.deploy.resources else None)
    memory = service.mem_limit or (limits.memory if limits else None)
    cpus = service.cpus or (limits.cpus if limits else None)
    host: dict = {
        "Binds": _binds(stack, service) or None,
        "Mounts": _mounts(stack, service) or None,
        "PortBindings": _port_bindings(service) or None,
        "RestartPolicy": _restart_policy(service.restart),
        "Memory": memory,
        "MemoryReservation": service.mem_reservation or (reservations.memory if reservations else None),
        "MemorySwap": service.memswap_limit,
        "NanoCpus": int(cpus * NANO) if cpus else None,
        "CpuShares": service.cpu_shares,
        "CpusetCpus": service.cpuset,
        "PidsLimit": service.pids_limit or (limits.pids if limits else None),
        "ShmSize": service.shm_size,
        "OomScoreAdj": service.oom_score_adj,
        "Privileged": service.privileged or None,
        "ReadonlyRootfs": service.read_only or None,
        "CapAdd": list(service.cap_add) or None,
        "CapDrop": list(service.cap_drop) or None,
        "SecurityOpt": list(service.security_opt) or None,
        "Sysctls": dict(service.sysctls) or None,
        "Ulimits": [{"Name": n, "Soft": u.soft, "Hard": u.hard} for n, u in service.ulimits.items()] or None,
        "Devices": [{"PathOnHost": d.source, "PathInContainer": d.target or d.source,
                     "CgroupPermissions": d.permissions or "rwm"} for d in service.devices] or None,
        "Dns": list(service.dns) or None,
        "DnsSearch": list(service.dns_search) or None,
        "DnsOptions": list(service.dns_opt) or None,
        "ExtraHosts": _extra_hosts(service) or None,
        "GroupAdd": list(service.group_add) or None,
        "IpcMode": _namespace_mode(stack, service.ipc),
        "PidMode": _namespace_mode(stack, service.pid),
        "Init": service.init,
        "Tmpfs": {t.split(":", 1)[0]: (t.split(":", 1)[1] if ":" in t else "") for t in service.tmpfs} or None,
        "LogConfig": ({"Type": service.logging.driver or "json-file",
                       "Config": dict(service.logging.options)} if service.logging else None),
        "Links": [_link(stack, link) for link in service.links] or None,
        "VolumesFrom": [_volumes_from(stack, v) for v in service.volumes_from] or None,
        "Runtime": service.runtime,
        "UsernsMode": service.userns_mode,
        "CgroupParent": service.cgroup_parent,
    }
    if service.network_mode:
        host["NetworkMode"] = _namespace_mode(stack, service.network_mode)
    return host


def _binds(stack: Stack, service: Service) -> list[str]:
    binds = []
    for mount in service.volumes:
        if mount.type is not MountType.BIND:
            continue
        options = ["ro" if mount.read_only else "rw"]
        if mount.bind and mount.bind.selinux:
            options.append(mount.bind.selinux)
        if mount.bind and mount.bind.propagation:
            options.append(mount.bind.propagation)
        binds.append(f"{mount.source}:{mount.target}:{','.join(options)}")
    for ref, default_dir, kind in [(r, "/run/secrets/", "secrets") for r in service.secrets] + \
                                  [(r, "/", "configs") for r in service.configs]:
        source = getattr(stack, kind).get(ref.source)
        if source is None or not source.file:
            raise SpecError(f'{kind[:-1]} "{ref.source}" of service "{service.name}" is not a file; '
                            "only file-based secrets and configs are supported on a single engine")
        target = ref.target if ref.target and ref.target.startswith("/") else default_dir + (ref.target or ref.source)
        binds.append(f"{source.file}:{target}:ro")
    return binds


def _mounts(stack: Stack, service: Service) -> list[dict]:
    mounts = []
    for mount in service.volumes:
        if mount.type is MountType.VOLUME:
            item: dict = {"Type": "volume", "Target": mount.target, "ReadOnly": mount.read_only}
            if mount.source:
                declared = stack.volumes.get(mount.source)
                item["Source"] = declared.name if declared else mount.source
            if mount.volume and mount.volume.nocopy:
                item["VolumeOptions"] = {"NoCopy": True}
            mounts.append(item)
        elif mount.type is MountType.TMPFS:
            item = {"Type": "tmpfs", "Target": mount.target}
            if mount.tmpfs and (mount.tmpfs.size or mount.tmpfs.mode):
                item["TmpfsOptions"] = _drop_none({"SizeBytes": mount.tmpfs.size, "Mode": mount.tmpfs.mode})
            mounts.append(item)
        elif mount.type is not MountType.BIND:
            raise SpecError(f'mount type "{mount.type.value}" of service "{service.name}" is not supported')
    return mounts


def _port_bindings(service: Service) -> dict:
    bindings: dict = {}
    for port in service.ports:
        key = f"{port.target}/{port.protocol.value}"
        bindings.setdefault(key, []).append({"HostIp": port.host_ip or "", "HostPort": port.published or ""})
    return bindings


def _restart_policy(restart: str | None) -> dict | None:
    if not restart or restart == "no":
        return None
    name, _, count = restart.partition(":")
    policy: dict = {"Name": name}
    if count:
        policy["MaximumRetryCount"] = int(count)
    return policy


def _extra_hosts(service: Service) -> list[str]:
    out = []
    for host, ip in service.extra_hosts.items():
        for address in (ip if isinstance(ip, tuple) else (ip,)):
            out.append(f"{host}:{address}")
    return out


def _namespace_mode(stack: Stack, mode: str | None) -> str | None:
    """`service:x` -> `container:<stack>-x-1`; everything else as written."""
    if mode and mode.startswith("service:"):
        target = mode[len("service:"):]
        svc = stack.services.get(target)
        name = (svc.container_name if svc and svc.container_name else None) or L.container_name(stack.name, target, 1)
        return f"container:{name}"
    return mode


def _link(stack: Stack, link: str) -> str:
    service, _, alias = link.partition(":")
    svc = stack.services.get(service)
    name = (svc.container_name if svc and svc.container_name else None) or L.container_name(stack.name, service, 1)
    return f"{name}:{alias or service}"


def _volumes_from(stack: Stack, source: str) -> str:
    if source.startswith("container:"):
        return source[len("container:"):]
    service, _, mode = source.partition(":")
    svc = stack.services.get(service)
    name = (svc.container_name if svc and svc.container_name else None) or L.container_name(stack.name, service, 1)
    return f"{name}:{mode}" if mode else name


def _endpoints(stack: Stack, service: Service, container: str) -> list[tuple[str, dict]]:
    if service.network_mode:
        return []
    out = []
    for key, options in service.networks.items():
        network = stack.networks.get(key)
        engine_name = network.name if network else key
        aliases = [service.name] + list(options.aliases if options else ())
        endpoint: dict = {"Aliases": aliases}
        if options:
            ipam = _drop_none({"IPv4Address": options.ipv4_address, "IPv6Address": options.ipv6_address})
            if ipam:
                endpoint["IPAMConfig"] = ipam
            if options.mac_address:
                endpoint["MacAddress"] = options.mac_address
        out.append((engine_name, endpoint))
    # Lowest priority value last, as Compose: the first network is the one given at create.
    return out


def network_body(stack: Stack, key: str, network: Network, *, config_hash: str, config: str = "") -> dict:
    """`POST /networks/create` body for a declared network."""
    body = {
        "Name": network.name,
        "CheckDuplicate": True,
        "Driver": network.driver or "bridge",
        "Options": dict(network.driver_opts),
        "Internal": network.internal,
        "Attachable": network.attachable,
        "EnableIPv6": bool(network.enable_ipv6),
        "Labels": _resource_labels(network.labels, stack, L.NETWORK, key, config_hash, config),
    }
    if network.ipam:
        body["IPAM"] = _drop_none({
            "Driver": network.ipam.driver or "default",
            "Config": [_drop_none({"Subnet": p.subnet, "IPRange": p.ip_range, "Gateway": p.gateway,
                                   "AuxiliaryAddresses": dict(p.aux_addresses) or None})
                       for p in network.ipam.config],
            "Options": dict(network.ipam.options) or None,
        })
    return body


def volume_body(stack: Stack, key: str, volume: Volume, *, config_hash: str, config: str = "") -> dict:
    """`POST /volumes/create` body for a declared volume."""
    return {
        "Name": volume.name,
        "Driver": volume.driver or "local",
        "DriverOpts": dict(volume.driver_opts),
        "Labels": _resource_labels(volume.labels, stack, L.VOLUME, key, config_hash, config),
    }


def _resource_labels(own: Mapping, stack: Stack, key_label: str, key: str, config_hash: str,
                     config: str) -> dict:
    out = {**dict(own), L.PROJECT: stack.name, key_label: key, L.CONFIG_HASH: config_hash}
    if config:
        out[L.CONFIG_DOC] = config
    return out


def _drop_none(mapping: dict) -> dict:
    return {k: v for k, v in mapping.items() if v is not None}


# ---- builds ----------------------------------------------------------------------------------

_REMOTE_CONTEXT = re.compile(r"^(git@|https?://|git://|github\.com/)")
# Build keys the engine's legacy builder (`POST /build`) cannot honour: refused, not ignored,
# because ignoring them would build something else than asked (or leak nothing it should use).
_REFUSED_BUILD_KEYS = {
    "ssh": "ssh agent forwarding needs BuildKit",
    "secrets": "build secrets need BuildKit",
    "additional_contexts": "additional build contexts need BuildKit",
    "privileged": "privileged builds need BuildKit",
}
# Keys that only change how a build is cached or where it runs: warned about and ignored.
_IGNORED_BUILD_KEYS = ("cache_to", "isolation", "ulimits", "entitlements", "provenance", "sbom")


@dataclass(frozen=True)
class BuildRequest:
    """Everything `engine.build.build_image` needs to build one service's image.

    `context` is a directory (absolute) or a remote URL (`remote` on the API); `dockerfile`
    a path relative to the context directory (or absolute), `dockerfile_inline` the text of
    a Dockerfile to send instead; `params` the other query parameters of `POST /build`.
    """

    service: str
    tag: str                               # the reference the containers run (`t`)
    extra_tags: tuple[str, ...]            # `build.tags`, also given as `t`
    context: str
    remote: bool
    dockerfile: str | None
    dockerfile_inline: str | None
    params: dict
    warnings: tuple[str, ...] = ()
    registry_config: dict | None = None    # X-Registry-Config: registry -> auth config


def build_request(stack: Stack, service: Service, *, environ: Mapping[str, str] = {},
                  no_cache: bool = False, pull: bool = False,
                  build_args: Mapping[str, str] = {}) -> BuildRequest:
    """The `POST /build` request for `service` (which has a `build` section).

    `environ` gives the values of build args declared without one (`args: [FOO]`, as docker
    compose: from the environment, left out when unset); `build_args` (`--build-arg K=V`)
    override the file's. `no_cache`/`pull` add to the file's own `no_cache`/`pull`.

    Raises:
        SpecError: no build section, or a key the engine's builder cannot honour (ssh,
            secrets, additional contexts, privileged).
    """
    build = service.build
    if build is None:
        raise SpecError(f'service "{service.name}" has no build section')
    for key, why in _REFUSED_BUILD_KEYS.items():
        value = build.extra.get(key) if key == "ssh" else getattr(build, key, None)
        if value:
            raise SpecError(f'service "{service.name}": build.{key} is not supported: {why}, and '
                            "stackyard builds through the engine's own builder (POST /build)")
    warnings = [f'service "{service.name}": build.{key} is ignored (not supported by the '
                "engine's builder)" for key in _IGNORED_BUILD_KEYS
                if getattr(build, key, None) or build.extra.get(key)]
    args: dict[str, str] = {}
    for key, value in build.args.items():
        if value is None:
            if key in environ:
                args[key] = environ[key]
        else:
            args[key] = str(value)
    args.update(build_args)
    context = build.context or "."
    remote = bool(_REMOTE_CONTEXT.match(context))
    if not remote and not os.path.isabs(context):
        context = os.path.normpath(os.path.join(stack.project_dir, context))
    params: dict = {
        "buildargs": json.dumps(args) if args else None,
        "labels": json.dumps(dict(build.labels)) if build.labels else None,
        "target": build.target or None,
        "networkmode": build.network or None,
        "shmsize": build.shm_size or None,
        "extrahosts": _host_entries(build.extra_hosts) or None,   # repeated, as the docker CLI
        "cachefrom": json.dumps(list(build.cache_from)) if build.cache_from else None,
        "nocache": True if (no_cache or build.no_cache) else None,
        "pull": True if (pull or build.pull) else None,
        "rm": True,
        "forcerm": True,
    }
    if len(build.platforms) == 1:
        params["platform"] = build.platforms[0]
    elif len(build.platforms) > 1:
        warnings.append(f'service "{service.name}": build.platforms lists {len(build.platforms)} '
                        "platforms; the engine builds one image for its own platform")
    return BuildRequest(service=service.name, tag=image_name(stack.name, service),
                        extra_tags=tuple(t for t in build.tags if t != image_name(stack.name, service)),
                        context=context, remote=remote, dockerfile=build.dockerfile,
                        dockerfile_inline=build.dockerfile_inline,
                        params={k: v for k, v in params.items() if v is not None},
                        warnings=tuple(warnings))


def _host_entries(hosts: Mapping) -> list[str]:
    out = []
    for host, ip in hosts.items():
        for address in (ip if isinstance(ip, tuple) else (ip,)):
            out.append(f"{host}:{address}")
    return out
