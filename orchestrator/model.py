"""The typed, immutable model of a stack: what the orchestrator wants to exist.

Built only by `orchestrator.loader.bind` from the canonical tree (docs/canonical-form.md);
read by `graph`, `planner`, `observe` and the CLI. Everything here is frozen and hashable:
dataclasses are `frozen=True`, sequences are tuples and mappings are `FrozenMap`, so no
`dict`/`list` survives past `bind` and nothing can memoize into the model.

Units are fixed: durations are float seconds, byte sizes int bytes, CPUs float.
Keys the model does not name are kept, frozen, in each object's `extra`; `x-*` keys in
`extensions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from orchestrator.frozen import EMPTY, Frozen, FrozenMap, freeze  # noqa: F401 - re-exported


# Explicit string values: these are rendered in plans and compared with Compose's spelling.
class Condition(str, Enum):
    STARTED = "service_started"
    HEALTHY = "service_healthy"
    COMPLETED_SUCCESSFULLY = "service_completed_successfully"


class MountType(str, Enum):
    BIND = "bind"
    VOLUME = "volume"
    TMPFS = "tmpfs"
    NPIPE = "npipe"
    CLUSTER = "cluster"
    IMAGE = "image"


class Protocol(str, Enum):
    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"


class PortMode(str, Enum):
    INGRESS = "ingress"
    HOST = "host"


_frozen = dict(frozen=True, slots=True, kw_only=True)


@dataclass(**_frozen)
class EnvFileRef:
    path: str                      # absolute
    required: bool = True
    format: str | None = None


@dataclass(**_frozen)
class PortMapping:
    target: int
    published: str | None = None   # a port or a range as written; None = engine picks
    protocol: Protocol = Protocol.TCP
    mode: PortMode = PortMode.INGRESS
    host_ip: str | None = None
    app_protocol: str | None = None
    name: str | None = None


@dataclass(**_frozen)
class BindOptions:
    create_host_path: bool = False
    propagation: str | None = None
    selinux: str | None = None


@dataclass(**_frozen)
class VolumeOptions:
    nocopy: bool = False
    subpath: str | None = None


@dataclass(**_frozen)
class TmpfsOptions:
    size: int | None = None        # bytes
    mode: int | None = None


@dataclass(**_frozen)
class Mount:
    type: MountType
    target: str
    source: str | None = None      # absolute host path for binds; None = anonymous volume
    read_only: bool = False
    bind: BindOptions | None = None
    volume: VolumeOptions | None = None
    tmpfs: TmpfsOptions | None = None
    consistency: str | None = None
    extra: FrozenMap = EMPTY


@dataclass(**_frozen)
class Dependency:
    condition: Condition = Condition.STARTED
    required: bool = True
    restart: bool = False


@dataclass(**_frozen)
class ServiceNetwork:
    aliases: tuple[str, ...] = ()
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    priority: int | None = None
    gw_priority: int | None = None
    mac_address: str | None = None
    interface_name: str | None = None
    link_local_ips: tuple[str, ...] = ()
    driver_opts: FrozenMap = EMPTY
    extra: FrozenMap = EMPTY


@dataclass(**_frozen)
class Healthcheck:
    test: tuple[str, ...] = ()     # ("CMD", ...), ("CMD-SHELL", "..."), ("NONE",) or () = image's
    interval: float | None = None  # seconds
    timeout: float | None = None
    start_period: float | None = None
    start_interval: float | None = None
    retries: int | None = None
    disable: bool = False
    extra: FrozenMap = EMPTY

    @property
    def is_disabled(self) -> bool:
        return self.disable or self.test[:1] == ("NONE",)


@dataclass(**_frozen)
class ResourceSpec:
    cpus: float | None = None
    memory: int | None = None      # bytes
    pids: int | None = None
    devices: Frozen = ()           # reservations.devices (GPUs), kept JSON-like
    extra: FrozenMap = EMPTY


@dataclass(**_frozen)
class Resources:
    limits: ResourceSpec | None = None
    reservations: ResourceSpec | None = None


@dataclass(**_frozen)
class RestartPolicy:
    condition: str | None = None   # none | on-failure | any
    delay: float | None = None     # seconds
    max_attempts: int | None = None
    window: float | None = None    # seconds


@dataclass(**_frozen)
class Deploy:
    mode: str | None = None
    replicas: int | None = None
    resources: Resources | None = None
    restart_policy: RestartPolicy | None = None
    labels: FrozenMap = EMPTY
    extra: FrozenMap = EMPTY       # placement, update_config, rollback_config, endpoint_mode...


@dataclass(**_frozen)
class Ulimit:
    soft: int
    hard: int


@dataclass(**_frozen)
class Device:
    source: str
    target: str | None = None
    permissions: str | None = None


@dataclass(**_frozen)
class Logging:
    driver: str | None = None
    options: FrozenMap = EMPTY


@dataclass(**_frozen)
class FileReference:
    """A service's use of a secret or config (`source` names the top-level entry)."""

    source: str
    target: str | None = None
    uid: str | None = None
    gid: str | None = None
    mode: int | None = None


@dataclass(**_frozen)
class BuildSpec:
    context: str | None = None     # absolute path or URL
    dockerfile: str | None = None
    dockerfile_inline: str | None = None
    args: FrozenMap = EMPTY        # str -> str | None
    labels: FrozenMap = EMPTY
    target: str | None = None
    network: str | None = None
    shm_size: int | None = None
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    no_cache: bool = False
    pull: bool = False
    privileged: bool = False
    secrets: tuple[FileReference, ...] = ()
    additional_contexts: FrozenMap = EMPTY
    extra_hosts: FrozenMap = EMPTY
    extensions: FrozenMap = EMPTY
    extra: FrozenMap = EMPTY       # ssh, isolation, ulimits, entitlements...


@dataclass(**_frozen)
class Service:
    name: str
    image: str | None = None
    build: BuildSpec | None = None
    # None: the image's; () : explicitly emptied (`[]` or `null` in the file).
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: FrozenMap = EMPTY           # str -> str | None (None: taken from host at run)
    env_files: tuple[EnvFileRef, ...] = ()
    labels: FrozenMap = EMPTY
    annotations: FrozenMap = EMPTY
    ports: tuple[PortMapping, ...] = ()
    expose: tuple[str, ...] = ()
    volumes: tuple[Mount, ...] = ()
    tmpfs: tuple[str, ...] = ()
    depends_on: FrozenMap = EMPTY            # service name -> Dependency
    networks: FrozenMap = EMPTY              # network name -> ServiceNetwork | None
    network_mode: str | None = None
    healthcheck: Healthcheck | None = None
    restart: str | None = None
    deploy: Deploy | None = None
    replicas: int = 1                        # `scale`, else `deploy.replicas`, else 1
    container_name: str | None = None
    hostname: str | None = None
    domainname: str | None = None
    user: str | None = None
    working_dir: str | None = None
    stop_signal: str | None = None
    stop_grace_period: float | None = None   # seconds
    init: bool | None = None
    privileged: bool = False
    read_only: bool = False
    tty: bool = False
    stdin_open: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    sysctls: FrozenMap = EMPTY
    ulimits: FrozenMap = EMPTY               # name -> Ulimit
    devices: tuple[Device, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_opt: tuple[str, ...] = ()
    extra_hosts: FrozenMap = EMPTY           # host -> ip (or tuple of ips)
    group_add: tuple[str, ...] = ()
    ipc: str | None = None
    pid: str | None = None
    shm_size: int | None = None              # bytes
    mem_limit: int | None = None
    mem_reservation: int | None = None
    memswap_limit: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    cpuset: str | None = None
    pids_limit: int | None = None
    oom_score_adj: int | None = None
    logging: Logging | None = None
    secrets: tuple[FileReference, ...] = ()
    configs: tuple[FileReference, ...] = ()
    links: tuple[str, ...] = ()
    external_links: tuple[str, ...] = ()
    volumes_from: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    pull_policy: str | None = None
    platform: str | None = None
    runtime: str | None = None
    userns_mode: str | None = None
    cgroup_parent: str | None = None
    extensions: FrozenMap = EMPTY            # x-* keys
    extra: FrozenMap = EMPTY                 # canonical keys not modelled above


@dataclass(**_frozen)
class IpamPool:
    subnet: str | None = None
    ip_range: str | None = None
    gateway: str | None = None
    aux_addresses: FrozenMap = EMPTY


@dataclass(**_frozen)
class Ipam:
    driver: str | None = None
    config: tuple[IpamPool, ...] = ()
    options: FrozenMap = EMPTY


@dataclass(**_frozen)
class Network:
    name: str                      # engine-side name, e.g. "<stack>_default"
    external: bool = False
    driver: str | None = None
    driver_opts: FrozenMap = EMPTY
    ipam: Ipam | None = None
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool | None = None
    labels: FrozenMap = EMPTY
    extensions: FrozenMap = EMPTY
    extra: FrozenMap = EMPTY


@dataclass(**_frozen)
class Volume:
    name: str
    external: bool = False
    driver: str | None = None
    driver_opts: FrozenMap = EMPTY
    labels: FrozenMap = EMPTY
    extensions: FrozenMap = EMPTY
    extra: FrozenMap = EMPTY


@dataclass(**_frozen)
class _FileObject:
    name: str
    file: str | None = None        # absolute path
    environment: str | None = None  # name of the variable holding the content
    content: str | None = None
    external: bool = False
    driver: str | None = None
    driver_opts: FrozenMap = EMPTY
    template_driver: str | None = None
    labels: FrozenMap = EMPTY
    extensions: FrozenMap = EMPTY
    extra: FrozenMap = EMPTY


@dataclass(**_frozen)
class Secret(_FileObject):
    pass


@dataclass(**_frozen)
class Config(_FileObject):
    pass


@dataclass(**_frozen)
class Stack:
    name: str
    project_dir: str
    services: FrozenMap = EMPTY              # name -> Service
    networks: FrozenMap = EMPTY              # name -> Network
    volumes: FrozenMap = EMPTY               # name -> Volume
    secrets: FrozenMap = EMPTY               # name -> Secret
    configs: FrozenMap = EMPTY               # name -> Config
    config_files: tuple[str, ...] = ()       # absolute paths
    profiles: tuple[str, ...] = ()           # active profiles
    environment: FrozenMap = EMPTY           # the interpolation environment used
    extensions: FrozenMap = EMPTY            # top-level x-* keys
    extra: FrozenMap = EMPTY                 # other top-level keys (`models`, ...)
