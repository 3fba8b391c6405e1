"""Checks of request bodies at the API boundary (pure): an unknown field or a wrong type is a 400 naming it.

Called by the route modules before anything reaches the runtime, so `"Cmd": 5` or
`"HostConfig": "x"` is `InvalidArgument("invalid HostConfig: expected an object, got a string")`
rather than a TypeError deep inside the container manager. The type tables follow the Go types
dockerd decodes into (docs/api v1.41): `null` is always allowed (Go's zero value), and Docker's
`StrSlice` (Cmd, Entrypoint, CapAdd, CapDrop) accepts one string as well as a list — normalised
here to the list.

Unknown fields are refused, unlike dockerd, which ignores them: a typo such as
`HostConfig.Memroy` would otherwise run the container without a memory limit and nobody would
notice. The known keys of each body come from runtime/daemon/known_fields.py, generated from the
v1.41 swagger (plus the few keys real clients send beyond it) by known_fields_gen.py. Keys match
case-insensitively, as in Go's encoding/json, and are renamed to their canonical spelling here,
so `"hostconfig"` means what dockerd takes it to mean.
"""

from __future__ import annotations

import difflib
from typing import Any, NamedTuple

from runtime import errdefs
from runtime.daemon.known_fields import BODIES

INT64 = (-(2 ** 63), 2 ** 63 - 1)

STR, BOOL, INT, NUMBER, ANY, STRSLICE = "string", "boolean", "integer", "number", "any", "strslice"


def list_of(kind: Any) -> tuple:
    return ("list", kind)


def map_of(kind: Any) -> tuple:
    return ("map", kind)


def obj(**fields: Any) -> tuple:
    return ("object", fields)


ZERO = {STR: "", BOOL: False, INT: 0, NUMBER: 0}
STRINGS = list_of(STR)
STRING_MAP = map_of(STR)
ANY_OBJECT = map_of(ANY)

MOUNT = obj(Type=STR, Source=STR, Target=STR, ReadOnly=BOOL, Consistency=STR,
            BindOptions=obj(Propagation=STR, NonRecursive=BOOL, CreateMountpoint=BOOL),
            VolumeOptions=obj(NoCopy=BOOL, Labels=STRING_MAP, DriverConfig=obj(Name=STR, Options=STRING_MAP)),
            TmpfsOptions=obj(SizeBytes=INT, Mode=INT))
PORT_BINDING = obj(HostIp=STR, HostPort=STR)
ENDPOINT_SETTINGS = obj(IPAMConfig=obj(IPv4Address=STR, IPv6Address=STR, LinkLocalIPs=STRINGS),
                        Links=STRINGS, Aliases=STRINGS, NetworkID=STR, EndpointID=STR, Gateway=STR,
                        IPAddress=STR, IPPrefixLen=INT, MacAddress=STR, DriverOpts=STRING_MAP)
RESOURCES = dict(
    CpuShares=INT, Memory=INT, CgroupParent=STR, BlkioWeight=INT, CpuPeriod=INT, CpuQuota=INT,
    CpuRealtimePeriod=INT, CpuRealtimeRuntime=INT, CpusetCpus=STR, CpusetMems=STR,
    Devices=list_of(obj(PathOnHost=STR, PathInContainer=STR, CgroupPermissions=STR)),
    DeviceCgroupRules=STRINGS, KernelMemory=INT, KernelMemoryTCP=INT, MemoryReservation=INT,
    MemorySwap=INT, MemorySwappiness=INT, NanoCpus=INT, OomKillDisable=BOOL, Init=BOOL,
    PidsLimit=INT, Ulimits=list_of(obj(Name=STR, Soft=INT, Hard=INT)), CpuCount=INT, CpuPercent=INT,
    IOMaximumIOps=INT, IOMaximumBandwidth=INT,
)
RESTART_POLICY = obj(Name=STR, MaximumRetryCount=INT)
HOST_CONFIG = obj(
    **RESOURCES,
    Binds=STRINGS, ContainerIDFile=STR, LogConfig=obj(Type=STR, Config=STRING_MAP), NetworkMode=STR,
    PortBindings=map_of(list_of(PORT_BINDING)), RestartPolicy=RESTART_POLICY, AutoRemove=BOOL,
    VolumeDriver=STR, VolumesFrom=STRINGS, Mounts=list_of(MOUNT), CapAdd=STRSLICE, CapDrop=STRSLICE,
    CgroupnsMode=STR, Dns=STRINGS, DnsOptions=STRINGS, DnsSearch=STRINGS, ExtraHosts=STRINGS,
    GroupAdd=STRINGS, IpcMode=STR, Cgroup=STR, Links=STRINGS, OomScoreAdj=INT, PidMode=STR,
    Privileged=BOOL, PublishAllPorts=BOOL, ReadonlyRootfs=BOOL, SecurityOpt=STRINGS,
    StorageOpt=STRING_MAP, Tmpfs=STRING_MAP, UTSMode=STR, UsernsMode=STR, ShmSize=INT,
    Sysctls=STRING_MAP, Runtime=STR, ConsoleSize=list_of(INT), Isolation=STR, MaskedPaths=STRINGS,
    ReadonlyPaths=STRINGS,
)
HEALTHCHECK = obj(Test=STRINGS, Interval=INT, Timeout=INT, Retries=INT, StartPeriod=INT, StartInterval=INT)
CONTAINER_CONFIG = dict(
    Hostname=STR, Domainname=STR, User=STR, AttachStdin=BOOL, AttachStdout=BOOL, AttachStderr=BOOL,
    ExposedPorts=map_of(ANY_OBJECT), Tty=BOOL, OpenStdin=BOOL, StdinOnce=BOOL, Env=STRINGS,
    Cmd=STRSLICE, Healthcheck=HEALTHCHECK, ArgsEscaped=BOOL, Image=STR, Volumes=map_of(ANY_OBJECT),
    WorkingDir=STR, Entrypoint=STRSLICE, NetworkDisabled=BOOL, MacAddress=STR, OnBuild=STRINGS,
    Labels=STRING_MAP, StopSignal=STR, StopTimeout=INT, Shell=STRINGS,
)
class Body(NamedTuple):
    """What one route's JSON body may be: the Go types (`kind`) and the known keys (a known_fields tree)."""
    kind: tuple
    known: Any


def body_of(route: str, kind: tuple) -> Body:
    return Body(kind, BODIES[route])


CONTAINER_CREATE = body_of("containers/create", obj(
    **CONTAINER_CONFIG, HostConfig=HOST_CONFIG,
    NetworkingConfig=obj(EndpointsConfig=map_of(ENDPOINT_SETTINGS))))
CONTAINER_UPDATE = body_of("containers/update", obj(**RESOURCES, RestartPolicy=RESTART_POLICY))
EXEC_CREATE = body_of("containers/exec", obj(
    AttachStdin=BOOL, AttachStdout=BOOL, AttachStderr=BOOL, DetachKeys=STR, Tty=BOOL, Env=STRINGS,
    Cmd=STRINGS, Privileged=BOOL, User=STR, WorkingDir=STR, ConsoleSize=list_of(INT)))
EXEC_START = body_of("exec/start", obj(Detach=BOOL, Tty=BOOL, ConsoleSize=list_of(INT)))
NETWORK_CREATE = body_of("networks/create", obj(
    Name=STR, CheckDuplicate=BOOL, Driver=STR, Internal=BOOL, Attachable=BOOL, Ingress=BOOL,
    EnableIPv6=BOOL, Options=STRING_MAP, Labels=STRING_MAP,
    IPAM=obj(Driver=STR, Options=STRING_MAP,
             Config=list_of(obj(Subnet=STR, IPRange=STR, Gateway=STR, AuxiliaryAddresses=STRING_MAP)))))
NETWORK_CONNECT = body_of("networks/connect", obj(Container=STR, EndpointConfig=ENDPOINT_SETTINGS))
NETWORK_DISCONNECT = body_of("networks/disconnect", obj(Container=STR, Force=BOOL))
VOLUME_CREATE = body_of("volumes/create", obj(Name=STR, Driver=STR, DriverOpts=STRING_MAP, Labels=STRING_MAP))
AUTH = body_of("auth", obj(username=STR, password=STR, email=STR, serveraddress=STR, identitytoken=STR,
                           registrytoken=STR))


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _expected(kind: Any) -> str:
    if kind == STRSLICE:
        return "a string or a list of strings"
    if isinstance(kind, str):
        return {"string": "a string", "boolean": "a boolean", "integer": "an integer",
                "number": "a number"}.get(kind, kind)
    if kind[0] == "list":
        inner = _expected(kind[1])
        return f"a list of {inner.split(' ', 1)[1]}s" if isinstance(kind[1], str) else "a list"
    return "an object"


def _fail(where: str, kind: Any, value: Any) -> errdefs.InvalidArgument:
    return errdefs.InvalidArgument(f"invalid {where}: expected {_expected(kind)}, got {_describe(value)}")


def check(value: Any, kind: Any, where: str) -> Any:
    """Returns the value (StrSlice normalised to a list); raises InvalidArgument naming `where`."""
    if value is None or kind == ANY:
        return value
    if kind == STR:
        if not isinstance(value, str):
            raise _fail(where, kind, value)
        return value
    if kind == BOOL:
        if not isinstance(value, bool):
            raise _fail(where, kind, value)
        return value
    if kind == INT:
        if isinstance(value, bool) or not isinstance(value, int):
            # JSON has one number type; 2.0 is an integer to Go's decoder as well.
            if isinstance(value, float) and value.is_integer() and INT64[0] <= value <= INT64[1]:
                return int(value)
            raise _fail(where, kind, value)
        if not INT64[0] <= value <= INT64[1]:
            raise errdefs.InvalidArgument(f"invalid {where}: {value} does not fit in 64 bits")
        return value
    if kind == NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, kind, value)
        return value
    if kind == STRSLICE:
        if isinstance(value, str):
            return [value]
        return check(value, STRINGS, where)
    shape, inner = kind
    if shape in ("list", "map") and isinstance(inner, str) and inner in ZERO:
        # Go decodes `null` inside a list or map as the element's zero value ("", false, 0).
        if isinstance(value, list):
            value = [ZERO[inner] if item is None else item for item in value]
        elif isinstance(value, dict):
            value = {key: ZERO[inner] if item is None else item for key, item in value.items()}
    if shape == "list":
        if not isinstance(value, list):
            raise _fail(where, kind, value)
        return [check(item, inner, f"{where}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, dict):
        raise _fail(where, kind, value)
    if shape == "map":
        return {key: check(item, inner, f"{where}.{key}") for key, item in value.items()}
    out = dict(value)
    for key, field_kind in inner.items():
        if key in out:
            out[key] = check(out[key], field_kind, f"{where}.{key}" if where else key)
    return out


def _unknown(key: str, known: dict[str, Any], where: str) -> errdefs.InvalidArgument:
    path = f"{where}.{key}" if where else key
    message = f'unknown field "{path}" in the request body'
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    if not close:  # a case slip plus a typo ("memroy") is still worth a hint
        folded = {name.casefold(): name for name in known}
        close = [folded[name] for name in difflib.get_close_matches(key.casefold(), list(folded), n=1, cutoff=0.6)]
    if close:
        message += f' (did you mean "{f"{where}.{close[0]}" if where else close[0]}"?)'
    return errdefs.InvalidArgument(message)


def known_keys(value: Any, node: Any, where: str = "") -> Any:
    """`value` with every object key checked against the known_fields tree `node`.

    A key that matches a known one only case-insensitively is renamed to the known spelling
    (Go's encoding/json matches that way; the last of two spellings wins, as in Go). A key that
    matches none raises InvalidArgument naming its path. Values of the wrong shape are left for
    check() to report.
    """
    if node is None or value is None:
        return value
    if "items" in node:
        if not isinstance(value, list):
            return value
        return [known_keys(item, node["items"], f"{where}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if "map" in node:
        return {key: known_keys(item, node["map"], f"{where}.{key}" if where else key)
                for key, item in value.items()}
    known = node["keys"]
    folded = {name.casefold(): name for name in known}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in known else folded.get(key.casefold())
        if name is None:
            raise _unknown(key, known, where)
        out[name] = known_keys(item, known[name], f"{where}.{name}" if where else name)
    return out


def body(value: Any, spec: Body, what: str = "") -> dict[str, Any]:
    """A request body: must be a JSON object with only known keys, of the route's types."""
    if not isinstance(value, dict):
        raise errdefs.InvalidArgument(f"invalid JSON in request body: expected an object, got {_describe(value)}")
    return check(known_keys(value, spec.known, what), spec.kind, what)
