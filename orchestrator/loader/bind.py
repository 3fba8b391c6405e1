"""Phase 9: canonical tree -> typed, immutable `model.Stack`.

Called by `loader.load_stack` last, after the semantic checks (phase 7) passed, so the tree
already has the shape of docs/canonical-form.md: bind converts units (Go durations -> float
seconds) and containers (dict -> FrozenMap, list -> tuple) and does not re-validate. Pure: no
I/O, no clock. Nothing mutable leaves this module: keys the model does not name are frozen
into each object's `extra`, `x-*` keys into `extensions`.

Each model class is filled from a table key -> (field, converter), in the spirit of
compose-go's `transformers`; keys missing from a table land in `extra`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping

from orchestrator import model as m
from orchestrator.loader import units
from orchestrator.loader.context import LoadContext
from orchestrator.loader.tree import PMap

Converter = Callable[[Any], Any]
Table = Mapping[str, "tuple[str, Converter]"]


def bind(project: PMap, ctx: LoadContext) -> m.Stack:
    """Bind a canonical stack tree to the model.

    Raises:
        ValueError, TypeError: the tree is not in canonical form (a bug in an earlier phase).
    """
    extensions, extra = _split_extensions(project, known={
        "name", "services", "networks", "volumes", "secrets", "configs"})
    return m.Stack(
        name=ctx.project_name or str(project.get("name") or ""),
        project_dir=ctx.project_dir,
        services=m.FrozenMap((name, _service(name, raw))
                             for name, raw in (project.get("services") or {}).items()),
        networks=_section(project, "networks", m.Network, _NETWORK),
        volumes=_section(project, "volumes", m.Volume, _VOLUME),
        secrets=_section(project, "secrets", m.Secret, _FILE_OBJECT),
        configs=_section(project, "configs", m.Config, _FILE_OBJECT),
        config_files=tuple(ctx.config_files.values()),
        profiles=_active_profiles(ctx),
        environment=m.FrozenMap(ctx.env),
        extensions=extensions,
        extra=extra,
    )


def _active_profiles(ctx: LoadContext) -> tuple[str, ...]:
    # --profile wins over COMPOSE_PROFILES, as in Compose.
    if ctx.options.profiles:
        return tuple(ctx.options.profiles)
    raw = ctx.env.get("COMPOSE_PROFILES", "")
    return tuple(p.strip() for p in raw.split(",") if p.strip())


# --- scalar converters ------------------------------------------------------------------

def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else _bool(value)


def _strs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _argv(value: Any) -> tuple[str, ...]:
    # Canonical `null` or `[]` both mean "override the image's with nothing".
    return _strs(value)


def _str_map(value: Any) -> m.FrozenMap:
    """str -> str | None | tuple[str, ...] (extra_hosts may map a host to several IPs)."""
    if not value:
        return m.EMPTY
    return m.FrozenMap((str(k), v if v is None else (_strs(v) if isinstance(v, list) else str(v)))
                       for k, v in value.items())


def _frozen(value: Any) -> m.Frozen:
    return m.freeze(value)


def _duration(value: Any) -> float | None:
    """Go duration string ("1m30s", "1.5s", "0s") -> float seconds; a bare number is seconds."""
    return None if value is None else units.parse_duration(value) / units.SECOND


def _bytes(value: Any) -> int | None:
    """Canonical byte sizes are ints already; a leftover "512m" is tolerated."""
    return None if value is None else units.parse_bytes(value)


# --- generic table-driven builder -------------------------------------------------------

def _split_extensions(raw: Mapping, known: set[str] | Mapping) -> tuple[m.FrozenMap, m.FrozenMap]:
    ext = {k: m.freeze(v) for k, v in raw.items() if k.startswith("x-")}
    extra = {k: m.freeze(v) for k, v in raw.items() if not k.startswith("x-") and k not in known}
    return m.FrozenMap(ext), m.FrozenMap(extra)


def _build(cls: type, raw: Any, table: Table, **fixed: Any) -> Any:
    """Fill `cls` from `raw` through `table`; unknown keys go to `extra`, x-* to `extensions`."""
    raw = raw or {}
    kwargs: dict[str, Any] = dict(fixed)
    names = cls.__dataclass_fields__
    for key, value in raw.items():
        if key in table:
            field_name, convert = table[key]
            kwargs[field_name] = convert(value)
    extensions, extra = _split_extensions(raw, table)
    if "extensions" in names:
        kwargs["extensions"] = extensions
    elif extensions:
        extra = m.FrozenMap({**extra, **extensions})
    if "extra" in names:
        kwargs["extra"] = extra
    return cls(**kwargs)


def _section(project: Mapping, key: str, cls: type, table: Table) -> m.FrozenMap:
    entries = project.get(key) or {}
    return m.FrozenMap((name, _build(cls, raw, table, name=str((raw or {}).get("name") or name)))
                       for name, raw in entries.items())


def _same(names: str, convert: Converter) -> dict[str, tuple[str, Converter]]:
    return {n: (n, convert) for n in names.split()}


def _table_of(cls: type, table: Table) -> Converter:
    return lambda raw: None if raw is None else _build(cls, raw, table)


def _tuple_of(convert: Converter) -> Converter:
    return lambda raw: tuple(convert(item) for item in raw or ())


def _map_of(convert: Converter) -> Converter:
    return lambda raw: m.FrozenMap((str(k), convert(v)) for k, v in (raw or {}).items())


# --- service parts ----------------------------------------------------------------------

def _env_file(raw: Any) -> m.EnvFileRef:
    if isinstance(raw, str):
        return m.EnvFileRef(path=raw)
    return m.EnvFileRef(path=str(raw["path"]), required=_bool(raw.get("required", True)),
                        format=_str(raw.get("format")))


def _port(raw: Mapping) -> m.PortMapping:
    return m.PortMapping(
        target=int(raw["target"]), published=_str(raw.get("published")),
        protocol=m.Protocol(raw.get("protocol") or "tcp"), mode=m.PortMode(raw.get("mode") or "ingress"),
        host_ip=_str(raw.get("host_ip")), app_protocol=_str(raw.get("app_protocol")),
        name=_str(raw.get("name")))


_MOUNT: Table = {
    **_same("target source consistency", _str),
    "type": ("type", m.MountType),
    "read_only": ("read_only", _bool),
    "bind": ("bind", lambda r: m.BindOptions(
        create_host_path=_bool(r.get("create_host_path", False)),
        propagation=_str(r.get("propagation")), selinux=_str(r.get("selinux")))),
    "volume": ("volume", lambda r: m.VolumeOptions(
        nocopy=_bool(r.get("nocopy", False)), subpath=_str(r.get("subpath")))),
    "tmpfs": ("tmpfs", lambda r: m.TmpfsOptions(size=_bytes(r.get("size")), mode=_int(r.get("mode")))),
}


def _dependency(raw: Any) -> m.Dependency:
    raw = raw or {}
    return m.Dependency(condition=m.Condition(raw.get("condition") or "service_started"),
                        required=_bool(raw.get("required", True)),
                        restart=_bool(raw.get("restart", False)))


_SERVICE_NETWORK: Table = {
    **_same("ipv4_address ipv6_address mac_address interface_name", _str),
    **_same("aliases link_local_ips", _strs),
    **_same("priority gw_priority", _int),
    "driver_opts": ("driver_opts", _str_map),
}

_HEALTHCHECK: Table = {
    "test": ("test", _strs),
    **_same("interval timeout start_period start_interval", _duration),
    "retries": ("retries", _int),
    "disable": ("disable", _bool),
}

_RESOURCE_SPEC: Table = {
    "cpus": ("cpus", _float), "memory": ("memory", _bytes), "pids": ("pids", _int),
    "devices": ("devices", _frozen),
}

_DEPLOY: Table = {
    "mode": ("mode", _str),
    "replicas": ("replicas", _int),
    "labels": ("labels", _str_map),
    "resources": ("resources", lambda r: m.Resources(
        limits=_table_of(m.ResourceSpec, _RESOURCE_SPEC)(r.get("limits")),
        reservations=_table_of(m.ResourceSpec, _RESOURCE_SPEC)(r.get("reservations")))),
    "restart_policy": ("restart_policy", lambda r: m.RestartPolicy(
        condition=_str(r.get("condition")), delay=_duration(r.get("delay")),
        max_attempts=_int(r.get("max_attempts")), window=_duration(r.get("window")))),
}


def _ulimit(raw: Any) -> m.Ulimit:
    if isinstance(raw, Mapping):
        return m.Ulimit(soft=int(raw["soft"]), hard=int(raw["hard"]))
    return m.Ulimit(soft=int(raw), hard=int(raw))


def _device(raw: Any) -> m.Device:
    if isinstance(raw, str):  # tolerated: canonical form already split `a:b:rwm`
        parts = raw.split(":")
        parts += [None] * (3 - len(parts))
        return m.Device(source=parts[0], target=parts[1], permissions=parts[2])
    return m.Device(source=str(raw["source"]), target=_str(raw.get("target")),
                    permissions=_str(raw.get("permissions")))


def _file_reference(raw: Any) -> m.FileReference:
    if isinstance(raw, str):
        return m.FileReference(source=raw)
    return m.FileReference(source=str(raw["source"]), target=_str(raw.get("target")),
                           uid=_str(raw.get("uid")), gid=_str(raw.get("gid")),
                           mode=_int(raw.get("mode")))


_BUILD: Table = {
    **_same("context dockerfile dockerfile_inline target network", _str),
    **_same("args labels additional_contexts extra_hosts", _str_map),
    **_same("cache_from cache_to tags platforms", _strs),
    **_same("no_cache pull privileged", _bool),
    "shm_size": ("shm_size", _bytes),
    "secrets": ("secrets", _tuple_of(_file_reference)),
}

_SERVICE: Table = {
    **_same("image network_mode restart container_name hostname domainname user working_dir "
            "stop_signal ipc pid cpuset pull_policy platform runtime userns_mode cgroup_parent",
            _str),
    **_same("command entrypoint", _argv),
    **_same("expose tmpfs cap_add cap_drop security_opt dns dns_search dns_opt group_add links "
            "external_links volumes_from profiles", _strs),
    **_same("environment labels annotations sysctls extra_hosts", _str_map),
    **_same("shm_size mem_limit mem_reservation memswap_limit", _bytes),
    **_same("cpu_shares pids_limit oom_score_adj", _int),
    **_same("privileged read_only tty stdin_open", _bool),
    "init": ("init", _opt_bool),
    "cpus": ("cpus", _float),
    "stop_grace_period": ("stop_grace_period", _duration),
    "build": ("build", _table_of(m.BuildSpec, _BUILD)),
    "env_file": ("env_files", _tuple_of(_env_file)),
    "ports": ("ports", _tuple_of(_port)),
    "volumes": ("volumes", _tuple_of(lambda r: _build(m.Mount, r, _MOUNT))),
    "depends_on": ("depends_on", _map_of(_dependency)),
    "networks": ("networks", _map_of(_table_of(m.ServiceNetwork, _SERVICE_NETWORK))),
    "healthcheck": ("healthcheck", _table_of(m.Healthcheck, _HEALTHCHECK)),
    "deploy": ("deploy", _table_of(m.Deploy, _DEPLOY)),
    "ulimits": ("ulimits", _map_of(_ulimit)),
    "devices": ("devices", _tuple_of(_device)),
    "logging": ("logging", lambda r: None if r is None else m.Logging(
        driver=_str(r.get("driver")), options=_str_map(r.get("options")))),
    "secrets": ("secrets", _tuple_of(_file_reference)),
    "configs": ("configs", _tuple_of(_file_reference)),
    "scale": ("replicas", int),
}


def _service(name: str, raw: Mapping) -> m.Service:
    service = _build(m.Service, raw, _SERVICE, name=name)
    # `scale` wins (canonical form makes deploy.replicas agree); else deploy.replicas; else 1.
    if "scale" not in raw and service.deploy is not None and service.deploy.replicas is not None:
        return replace(service, replicas=service.deploy.replicas)
    return service


# --- top-level resources ----------------------------------------------------------------

_IPAM: Table = {
    "driver": ("driver", _str),
    "options": ("options", _str_map),
    "config": ("config", _tuple_of(lambda r: m.IpamPool(
        subnet=_str(r.get("subnet")), ip_range=_str(r.get("ip_range")),
        gateway=_str(r.get("gateway")), aux_addresses=_str_map(r.get("aux_addresses"))))),
}

_RESOURCE_COMMON: Table = {
    "name": ("name", str),
    "external": ("external", _bool),
    "driver": ("driver", _str),
    "driver_opts": ("driver_opts", _str_map),
    "labels": ("labels", _str_map),
}

_NETWORK: Table = {
    **_RESOURCE_COMMON,
    **_same("internal attachable", _bool),
    "enable_ipv6": ("enable_ipv6", _opt_bool),
    "ipam": ("ipam", _table_of(m.Ipam, _IPAM)),
}

_VOLUME: Table = dict(_RESOURCE_COMMON)

_FILE_OBJECT: Table = {
    **_RESOURCE_COMMON,
    **_same("file environment content template_driver", _str),
}
