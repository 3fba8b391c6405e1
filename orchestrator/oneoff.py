"""One-off containers (`stackyard run`): the create request and the plan that prepares them.

Called by the `run` command (cli/run_command.py). Pure: from the service's regular create
request (`engine_spec.container_spec`) and what the user asked for, the request of a one-off
container as `docker compose run` makes it, and the `up` plan reduced to what the one-off needs
(networks, volumes, image, and the services it depends on, never the service's own containers).
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass, field, replace
from typing import Mapping

from orchestrator import graph as g
from orchestrator import labels as L
from orchestrator.engine_spec import ContainerSpec
from orchestrator.model import Stack
from orchestrator.planner import OpType, Plan, decide
from orchestrator.planner.plan import Wait

SLUG_LABEL = "com.docker.compose.slug"
# The operations that make or change the service's own containers; a `run` leaves those alone
# (it still pulls or builds the image the one-off needs).
_OWN_CONTAINER_OPS = frozenset({OpType.CREATE_CONTAINER, OpType.RECREATE_CONTAINER, OpType.START_CONTAINER,
                                OpType.REMOVE_CONTAINER, OpType.STOP_CONTAINER, OpType.RESTART_CONTAINER})


@dataclass(frozen=True)
class OneOff:
    """What `stackyard run` was asked for, beyond the service's own configuration."""

    command: tuple[str, ...] | None = None     # replaces the service's command when given
    entrypoint: str | None = None              # shell words; "" clears the image's entrypoint
    environment: tuple[str, ...] = ()          # KEY=VALUE, added after the service's own
    user: str | None = None
    workdir: str | None = None
    name: str | None = None
    tty: bool = False
    interactive: bool = True                   # stdin attached (kept open until ours ends)
    detach: bool = False
    remove: bool = False                       # --rm: the engine removes it once it exits
    service_ports: bool = False                # publish the service's ports (off by default)
    publish: tuple[str, ...] = ()              # -p [ip:]host:container[/proto]
    use_aliases: bool = False                  # keep the service's network aliases
    labels: Mapping[str, str] = field(default_factory=dict)
    slug: str = field(default_factory=lambda: secrets.token_hex(32))


def one_off_name(stack: str, service: str, slug: str) -> str:
    """`<stack>-<service>-run-<12 hex>`, docker compose v2's name for a one-off container."""
    return f"{stack}-{service}-run-{slug[:12]}"


def one_off_spec(spec: ContainerSpec, stack: str, service: str, request: OneOff) -> ContainerSpec:
    """The create request of a one-off container of `service`, from its regular one (`spec`).

    Like docker compose run: marked one-off (so `up` never counts it as a replica or an orphan,
    and `down` removes it), its own name, no published ports unless asked, no restart policy
    (a one-off command is not restarted), not reachable under the service's aliases, and no
    static address or MAC (those belong to the service's container).

    Raises:
        ValueError: a `-p` value that is not a port mapping.
    """
    body = {**spec.body, "Labels": {**spec.body.get("Labels", {}), **request.labels,
                                    L.ONEOFF: "True", SLUG_LABEL: request.slug}}
    body["Labels"].pop(L.CONFIG_HASH, None)
    body["Labels"].pop(L.CONFIG_DOC, None)
    if request.command is not None:
        body["Cmd"] = list(request.command)
    if request.entrypoint is not None:
        body["Entrypoint"] = shlex.split(request.entrypoint) or [""]
        if request.command is None:
            body.pop("Cmd", None)  # a new entrypoint does not take the service's command
    if request.environment:
        body["Env"] = merge_environment(body.get("Env", ()), request.environment)
    if request.user is not None:
        body["User"] = request.user
    if request.workdir is not None:
        body["WorkingDir"] = request.workdir
    attach = not request.detach
    body.update({"Tty": request.tty, "OpenStdin": request.interactive and attach,
                 "StdinOnce": request.interactive and attach, "AttachStdin": request.interactive and attach,
                 "AttachStdout": attach, "AttachStderr": attach})
    host = dict(body.get("HostConfig", {}))
    host.pop("RestartPolicy", None)
    bindings = dict(host.get("PortBindings") or {}) if request.service_ports else {}
    exposed = dict(body.get("ExposedPorts") or {})
    for mapping in request.publish:
        key, binding = parse_publish(mapping)
        bindings.setdefault(key, []).append(binding)
        exposed[key] = {}
    host["PortBindings"] = bindings or None
    if exposed:
        body["ExposedPorts"] = exposed
    # Only a detached run leaves the removal to the engine; an attached one reads the exit code
    # first and removes the container itself (cli/run_command.py).
    host["AutoRemove"] = (request.remove and request.detach) or None
    body["HostConfig"] = {k: v for k, v in host.items() if v is not None}
    networking = body.get("NetworkingConfig", {}).get("EndpointsConfig")
    if networking:
        body["NetworkingConfig"] = {"EndpointsConfig": {
            net: _one_off_endpoint(endpoint, request.use_aliases) for net, endpoint in networking.items()}}
    extra = tuple((net, _one_off_endpoint(endpoint, request.use_aliases)) for net, endpoint in spec.extra_networks)
    return ContainerSpec(request.name or one_off_name(stack, service, request.slug), body, extra)


def _one_off_endpoint(endpoint: Mapping, use_aliases: bool) -> dict:
    kept = {k: v for k, v in endpoint.items() if k not in ("IPAMConfig", "MacAddress", "Aliases")}
    if use_aliases and endpoint.get("Aliases"):
        kept["Aliases"] = list(endpoint["Aliases"])
    return kept


def parse_publish(text: str) -> tuple[str, dict]:
    """`[ip:][host:]container[/proto]` -> ("container/proto", {"HostIp", "HostPort"}).

    Raises:
        ValueError: not of that form.
    """
    spec, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid port mapping {text!r}: protocol must be tcp, udp or sctp")
    if spec.startswith("["):  # [v6 address]:host:container
        address, _, rest = spec[1:].partition("]")
        parts = [address] + rest.lstrip(":").split(":")
    else:
        parts = spec.split(":")
    if len(parts) == 1:
        host_ip, host_port, container = "", "", parts[0]
    elif len(parts) == 2:
        host_ip, (host_port, container) = "", parts
    elif len(parts) == 3:
        host_ip, host_port, container = parts
    else:
        raise ValueError(f"invalid port mapping {text!r}: use [ip:][host_port:]container_port[/protocol]")
    if not container.isdigit() or (host_port and not host_port.replace("-", "").isdigit()):
        raise ValueError(f"invalid port mapping {text!r}: ports are numbers")
    return f"{container}/{proto}", {"HostIp": host_ip, "HostPort": host_port}


def merge_environment(service_env, overrides) -> list[str]:
    """The service's `KEY=VALUE` list with `-e` values replacing the same keys in place and new
    keys appended: dockerd keeps duplicate keys of one request, and C's getenv reads the first."""
    overrides = list(overrides)
    given = {item.partition("=")[0]: item for item in overrides}
    merged = [given.pop(item.partition("=")[0], item) for item in service_env]
    return merged + [item for item in overrides if given.get(item.partition("=")[0]) == item]


def dependency_waits(stack: Stack, service: str) -> tuple[Wait, ...]:
    """What must hold before a one-off of `service` starts: what `up` waits for before
    starting the service's own container."""
    return decide.dependency_waits(stack, g.build_graph(stack), service)


def plan_for_run(plan: Plan, service: str) -> Plan:
    """`plan` (an `up` plan for `service`) without the operations on `service`'s own containers."""
    dropped = {op.id for op in plan.operations if op.service == service and op.type in _OWN_CONTAINER_OPS}
    kept = tuple(replace(op, depends_on=tuple(d for d in op.depends_on if d not in dropped))
                 for op in plan.operations if op.id not in dropped)
    return replace(plan, operations=kept)
