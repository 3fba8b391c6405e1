"""Phase 7: semantic checks on the canonical stack (what a schema cannot say).

Called by `loader.load_stack` after `normalize` (skipped when `LoadOptions.consistency` is
False). Each check is a small function in `SERVICE_CHECKS` (run once per service) or
`PROJECT_CHECKS` (run once); every problem is reported to `ctx.report` with the position
where the user wrote it and the dotted path, so all problems are shown at once. Messages use
Docker Compose's (compose-go) wording where it has one, since users search for them.

The input is the canonical form (docs/canonical-form.md): ports, volumes, depends_on, networks,
secrets and configs are already long syntax, `networks: {default: null}` was added only to
services without `network_mode`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, NamedTuple

from orchestrator.errors import Position, format_path
from orchestrator.loader.context import LoadContext
from orchestrator.loader.tree import PList, PMap

ServiceCheck = Callable[[str, PMap, PMap, LoadContext], None]
ProjectCheck = Callable[[PMap, LoadContext], None]


def check(project: PMap, ctx: LoadContext) -> None:
    """Report every semantic error of the canonical `project` to `ctx.report`.

    Raises: nothing; the pipeline decides when to stop (`Report.raise_if_errors`).
    """
    services = _services(project)
    for name, service in services.items():
        if isinstance(service, PMap):
            for service_check in SERVICE_CHECKS:
                service_check(name, service, project, ctx)
    for project_check in PROJECT_CHECKS:
        project_check(project, ctx)


# --- helpers ----------------------------------------------------------------------------

def _services(project: PMap) -> PMap:
    services = project.get("services")
    return services if isinstance(services, PMap) else PMap(project.pos)


def _section(project: PMap, kind: str) -> PMap:
    section = project.get(kind)
    return section if isinstance(section, PMap) else PMap(project.pos)


def _items(node: Any) -> Iterator[tuple[int, Any, Position]]:
    """(index, item, position) of a list in the tree; nothing for anything else."""
    if isinstance(node, PList):
        for index, item in enumerate(node):
            yield index, item, node.item_position(index)


def _error(ctx: LoadContext, pos: Position, path: tuple, message: str, hint: str | None = None) -> None:
    ctx.report.error(pos, format_path(path), message, hint=hint)


def _scale(service: PMap) -> tuple[str, Any]:
    """The replica count and the attribute that set it (`scale` wins, as in Compose)."""
    if service.get("scale") is not None:
        return "scale", service["scale"]
    deploy = service.get("deploy")
    if isinstance(deploy, PMap) and deploy.get("replicas") is not None:
        return "deploy.replicas", deploy["replicas"]
    return "", None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- per-service checks -------------------------------------------------------------------

def check_image_or_build(name: str, service: PMap, project: PMap, ctx: LoadContext) -> None:
    if not service.get("image") and service.get("build") is None and "provider" not in service:
        _error(ctx, _services(project).key_position(name), ("services", name),
               f"service \"{name}\" has neither an image nor a build context specified")


def check_network_mode(name: str, service: PMap, project: PMap, ctx: LoadContext) -> None:
    """`network_mode` excludes `networks`; `service:x` must name a service."""
    mode = service.get("network_mode")
    if not isinstance(mode, str):
        return
    if service.get("networks"):
        _error(ctx, service.key_position("networks"), ("services", name, "networks"),
               f"service {name} declares mutually exclusive `network_mode` and `networks`")
    if mode.startswith("service:"):
        target = mode[len("service:"):]
        if target not in _services(project):
            _error(ctx, service.value_position("network_mode"), ("services", name, "network_mode"),
                   f"service \"{target}\" not found for network_mode 'service:{target}'")


def check_shared_namespaces(name: str, service: PMap, project: PMap, ctx: LoadContext) -> None:
    """`ipc: service:x` and `pid: service:x` must name a service."""
    for key in ("ipc", "pid"):
        mode = service.get(key)
        if isinstance(mode, str) and mode.startswith("service:"):
            target = mode[len("service:"):]
            if target not in _services(project):
                _error(ctx, service.value_position(key), ("services", name, key),
                       f"service \"{name}\" depends on undefined service \"{target}\" ({key}: {mode})")


def check_references(name: str, service: PMap, project: PMap, ctx: LoadContext) -> None:
    """Networks, named volumes, secrets and configs a service uses must be declared."""
    networks = service.get("networks")
    if isinstance(networks, PMap):
        declared = _section(project, "networks")
        for network in networks:
            if network not in declared:
                _error(ctx, networks.key_position(network), ("services", name, "networks", network),
                       f"service \"{name}\" refers to undefined network {network}")
    volumes = _section(project, "volumes")
    for index, mount, pos in _items(service.get("volumes")):
        source = mount.get("source") if isinstance(mount, PMap) else None
        if isinstance(source, str) and source and mount.get("type") == "volume":
            if source not in volumes:
                _error(ctx, pos, ("services", name, "volumes", index),
                       f"service \"{name}\" refers to undefined volume {mount['source']}")
    build = service.get("build")
    for what, kind, refs, path in (
        ("secret", "secrets", service.get("secrets"), ("services", name, "secrets")),
        ("config", "configs", service.get("configs"), ("services", name, "configs")),
        ("build secret", "secrets", build.get("secrets") if isinstance(build, PMap) else None,
         ("services", name, "build", "secrets")),
    ):
        declared = _section(project, kind)
        for index, ref, pos in _items(refs):
            source = ref.get("source") if isinstance(ref, PMap) else ref
            if isinstance(source, str) and source not in declared:
                _error(ctx, pos, path + (index,), f"service \"{name}\" refers to undefined {what} {source}")


def check_depends_on(name: str, service: PMap, project: PMap, ctx: LoadContext) -> None:
    """Undefined dependencies are errors, or warnings with `required: false`."""
    depends_on = service.get("depends_on")
    if not isinstance(depends_on, PMap):
        return
    services = _services(project)
    for target, spec in depends_on.items():
        if target in services:
            continue
        message = f"service \"{name}\" depends on undefined service \"{target}\""
        path = format_path(("services", name, "depends_on", target))
        if isinstance(spec, PMap) and spec.get("required") is False:
            ctx.report.warning(depends_on.key_position(target), path, message,
                               hint="ignored: the dependency is not required")
        else:
            ctx.report.error(depends_on.key_position(target), path, message)


def check_links_and_volumes_from(name: str, service: PMap, project: PMap, ctx: LoadContext) -> None:
    services = _services(project)
    for index, link, pos in _items(service.get("links")):
        target = str(link).split(":", 1)[0]
        if target not in services:
            _error(ctx, pos, ("services", name, "links", index),
                   f"service \"{name}\" links to undefined service \"{target}\"")
    for index, source, pos in _items(service.get("volumes_from")):
        target = _volumes_from_service(str(source))
        if target is not None and target not in services:
            _error(ctx, pos, ("services", name, "volumes_from", index),
                   f"service \"{name}\" mounts volumes from undefined service \"{target}\"",
                   hint=f"write container:{target} for a container that is not a service")


def _volumes_from_service(spec: str) -> str | None:
    """`svc[:ro]` -> svc; `container:x[:ro]` -> None (any container is allowed)."""
    if spec.startswith("container:"):
        return None
    return spec.split(":", 1)[0]


def check_scale(name: str, service: PMap, project: PMap, ctx: LoadContext) -> None:
    """Replica counts: not negative, `scale` and `deploy.replicas` agree, and one container
    only when `container_name` is set."""
    scale = service.get("scale")
    deploy = service.get("deploy")
    replicas = deploy.get("replicas") if isinstance(deploy, PMap) else None
    if _is_int(scale) and scale < 0:
        _error(ctx, service.value_position("scale"), ("services", name, "scale"),
               "must be greater than or equal to 0")
    # normalize copies `scale` into `deploy.replicas`: report a negative count once.
    if _is_int(replicas) and replicas < 0 and scale is None:
        _error(ctx, deploy.value_position("replicas"), ("services", name, "deploy", "replicas"),
               "must be greater than or equal to 0")
    if scale is not None and replicas is not None and scale != replicas:
        _error(ctx, deploy.value_position("replicas"), ("services", name),
               "can't set distinct values on 'scale' and 'deploy.replicas'")
    attribute, count = _scale(service)
    if service.get("container_name") and _is_int(count) and count > 1:
        _error(ctx, service.value_position("container_name"), ("services", name),
               f"can't set container_name and {attribute} as container name must be unique")


def check_mounts(name: str, service: PMap, project: PMap, ctx: LoadContext) -> None:
    """One mount per target across `tmpfs` and `volumes`; bind mounts need a source."""
    mounted: dict[str, str] = {}
    mounts: list[tuple[tuple, Position, Any]] = []
    for index, entry, pos in _items(service.get("tmpfs")):
        mounts.append((("services", name, "tmpfs", index), pos, str(entry).split(":", 1)[0]))
    for index, entry, pos in _items(service.get("volumes")):
        if not isinstance(entry, PMap):
            continue
        path = ("services", name, "volumes", index)
        if entry.get("type") == "bind" and not entry.get("source"):
            _error(ctx, pos, path, 'invalid mount config for type "bind": field Source must not be empty')
        mounts.append((path, pos, entry.get("target")))
    for path, pos, target in mounts:
        if not isinstance(target, str) or not target:
            continue
        where = format_path(path)
        if target in mounted:
            _error(ctx, pos, path, f"target {target} already mounted as {mounted[target]}")
        else:
            mounted[target] = where


def check_device_requests(name: str, service: PMap, project: PMap, ctx: LoadContext) -> None:
    deploy = service.get("deploy")
    resources = deploy.get("resources") if isinstance(deploy, PMap) else None
    reservations = resources.get("reservations") if isinstance(resources, PMap) else None
    devices = reservations.get("devices") if isinstance(reservations, PMap) else None
    for index, device, pos in _items(devices):
        if isinstance(device, PMap) and "count" in device and "device_ids" in device:
            _error(ctx, pos, ("services", name, "deploy", "resources", "reservations", "devices", index),
                   '"count" and "device_ids" attributes are exclusive')


def check_environment(name: str, service: PMap, project: PMap, ctx: LoadContext) -> None:
    environment = service.get("environment")
    if not isinstance(environment, PMap):
        return
    for key in environment:
        if key != key.rstrip():
            _error(ctx, environment.key_position(key), ("services", name, "environment"),
                   f"environment variable {key} is declared with a trailing space")


def check_healthcheck(name: str, service: PMap, project: PMap, ctx: LoadContext) -> None:
    healthcheck = service.get("healthcheck")
    test = healthcheck.get("test") if isinstance(healthcheck, PMap) else None
    if isinstance(test, list) and test and test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        _error(ctx, healthcheck.value_position("test"), ("services", name, "healthcheck", "test"),
               'healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"')


def check_build(name: str, service: PMap, project: PMap, ctx: LoadContext) -> None:
    build = service.get("build")
    if isinstance(build, PMap) and build.get("dockerfile") and build.get("dockerfile_inline"):
        _error(ctx, build.key_position("dockerfile_inline"), ("services", name, "build"),
               f"service \"{name}\" declares mutually exclusive dockerfile and dockerfile_inline")


SERVICE_CHECKS: list[ServiceCheck] = [
    check_image_or_build,
    check_build,
    check_network_mode,
    check_shared_namespaces,
    check_references,
    check_depends_on,
    check_links_and_volumes_from,
    check_scale,
    check_mounts,
    check_device_requests,
    check_environment,
    check_healthcheck,
]


# --- project-wide checks ------------------------------------------------------------------

def check_container_names(project: PMap, ctx: LoadContext) -> None:
    """Two services cannot share a `container_name`."""
    owners: dict[str, str] = {}
    for name, service in _services(project).items():
        container = service.get("container_name") if isinstance(service, PMap) else None
        if not isinstance(container, str) or not container:
            continue
        if container in owners:
            _error(ctx, service.value_position("container_name"), ("services", name, "container_name"),
                   f"container name \"{container}\" is already in use by service {owners[container]}")
        else:
            owners[container] = name


def check_published_ports(project: PMap, ctx: LoadContext) -> None:
    """A host address/port/protocol can be published once. A warning, not an error: Compose
    accepts such files (the second container fails at `up`), and services whose profiles
    never run together (disjoint, non-empty `profiles`) may legitimately reuse a port."""
    seen: dict[tuple, tuple[str, str]] = {}
    for name, service in _services(project).items():
        if not isinstance(service, PMap):
            continue
        profiles = set(map(str, service["profiles"])) if isinstance(service.get("profiles"), list) else set()
        for index, port, pos in _items(service.get("ports")):
            if not isinstance(port, PMap) or port.get("published") in (None, ""):
                continue
            host_ip = port.get("host_ip") or "0.0.0.0"
            protocol = port.get("protocol") or "tcp"
            path = format_path(("services", name, "ports", index))
            for number in _published_numbers(str(port["published"])):
                key = (host_ip, number, protocol)
                if key in seen:
                    other_path, other_profiles = seen[key]
                    if profiles and other_profiles and not profiles & set(other_profiles):
                        continue
                    address = f"{host_ip}:{number}" if port.get("host_ip") else str(number)
                    ctx.report.warning(pos, path, f"published port {address}/{protocol} is already "
                                                  f"used by {other_path}", code="port-conflict")
                    break
                seen[key] = (path, tuple(profiles))


def _published_numbers(published: str) -> range:
    start, sep, end = published.partition("-")
    if not start.isdigit() or (sep and not end.isdigit()):
        return range(0)
    # A host range with one container port means "any free port of the range": it only
    # conflicts when the whole range is taken, which we leave to the engine.
    if sep:
        return range(0)
    return range(int(start), int(start) + 1)


class Edge(NamedTuple):
    """`source` needs `target` (started first / sharing its namespace or volumes)."""

    source: str
    target: str
    via: str          # depends_on | links | network_mode | volumes_from
    path: tuple
    pos: Position


def _dependency_edges(name: str, service: PMap) -> Iterator[Edge]:
    depends_on = service.get("depends_on")
    if isinstance(depends_on, PMap):
        for target in depends_on:
            yield Edge(name, target, "depends_on", ("services", name, "depends_on", target),
                       depends_on.key_position(target))
    for index, link, pos in _items(service.get("links")):
        yield Edge(name, str(link).split(":", 1)[0], "links", ("services", name, "links", index), pos)
    mode = service.get("network_mode")
    if isinstance(mode, str) and mode.startswith("service:"):
        yield Edge(name, mode[len("service:"):], "network_mode", ("services", name, "network_mode"),
                   service.value_position("network_mode"))
    for index, source, pos in _items(service.get("volumes_from")):
        target = _volumes_from_service(str(source))
        if target is not None:
            yield Edge(name, target, "volumes_from", ("services", name, "volumes_from", index), pos)
    for key in ("ipc", "pid"):
        mode = service.get(key)
        if isinstance(mode, str) and mode.startswith("service:"):
            yield Edge(name, mode[len("service:"):], key, ("services", name, key), service.value_position(key))


def check_dependency_cycles(project: PMap, ctx: LoadContext) -> None:
    """No cycle over depends_on, links, network_mode `service:` and volumes_from.

    An iterative depth-first search (the loader must not import networkx); each cycle is
    reported once, starting at the service declared first, with where every edge was written.
    """
    services = _services(project)
    order = {name: index for index, name in enumerate(services)}
    edges = {name: [e for e in _dependency_edges(name, svc) if e.target in services]
             for name, svc in services.items() if isinstance(svc, PMap)}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    reported: set[tuple[str, ...]] = set()
    for root in edges:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(edges[root]))]
        trail: list[Edge] = []  # trail[i] leads from stack[i] to stack[i + 1]
        while stack:
            node, pending = stack[-1]
            edge = next(pending, None)
            if edge is None:
                state[node] = 2
                stack.pop()
                if trail:
                    trail.pop()
                continue
            if edge.target not in state:
                state[edge.target] = 1
                stack.append((edge.target, iter(edges.get(edge.target, ()))))
                trail.append(edge)
            elif state[edge.target] == 1:
                start = next(i for i, (n, _) in enumerate(stack) if n == edge.target)
                _report_cycle(trail[start:] + [edge], order, reported, ctx)


def _report_cycle(cycle: list[Edge], order: dict[str, int], reported: set, ctx: LoadContext) -> None:
    first = min(range(len(cycle)), key=lambda i: order[cycle[i].source])
    cycle = cycle[first:] + cycle[:first]
    names = tuple(edge.source for edge in cycle)
    if names in reported:
        return
    reported.add(names)
    chain = " -> ".join(names + (names[0],))
    where = "; ".join(f"{e.source} -> {e.target}: {e.via} at {e.pos}" for e in cycle)
    _error(ctx, cycle[0].pos, cycle[0].path, f"dependency cycle detected: {chain}", hint=where)


def check_resources(project: PMap, ctx: LoadContext) -> None:
    """Top-level networks/volumes/secrets/configs: `external` excludes driver settings;
    secrets and configs say where their content comes from."""
    for kind, sources in (("networks", None), ("volumes", None),
                          ("secrets", ("file", "environment")),
                          ("configs", ("file", "environment", "content"))):
        for name, resource in _section(project, kind).items():
            if not isinstance(resource, PMap):
                continue
            path = (kind, name)
            if resource.get("external") is True:
                for key in _EXTERNAL_CONFLICTS[kind]:
                    if key in resource:
                        report = ctx.report.warning if kind == "networks" else ctx.report.error
                        report(resource.key_position(key), format_path(path),
                               f"conflicting parameters \"external\" and \"{key}\" specified")
                continue
            if sources is not None:
                _check_content_source(kind, name, resource, sources, ctx)


# What an external resource cannot set: it exists already, Compose does not create it.
# compose-go rejects these on volumes; on networks Compose ignores them, so we only warn
# (`internal`/`attachable` on an external network are accepted, as in compose-go's tests).
_EXTERNAL_CONFLICTS = {
    "networks": ("driver", "driver_opts", "labels", "ipam"),
    "volumes": ("driver", "driver_opts", "labels"),
    "secrets": ("driver", "driver_opts", "labels"),
    "configs": ("driver", "driver_opts", "labels"),
}


def _check_content_source(kind: str, name: str, resource: PMap, sources: tuple, ctx: LoadContext) -> None:
    given = [key for key in sources if resource.get(key) is not None]
    path = (kind, name)
    if len(given) > 1:
        _error(ctx, resource.key_position(given[1]), path, f"{'|'.join(sources)} attributes are mutually exclusive")
    if kind == "secrets" and "content" in resource:
        _error(ctx, resource.key_position("content"), path, "content is not allowed for secrets")
    if given:
        return
    if kind == "secrets":
        _error(ctx, resource.pos, path, f"secret \"{name}\" must declare either `file` or `environment`")
    elif "driver" not in resource:  # a config driver may supply the content itself
        _error(ctx, resource.pos, path, f"one of {'|'.join(sources)} must be set")


PROJECT_CHECKS: list[ProjectCheck] = [
    check_container_names,
    check_published_ports,
    check_dependency_cycles,
    check_resources,
]
