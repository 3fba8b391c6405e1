"""The dependency graph of a stack: which service needs which, and in what order they start.

Called by the planner (operation order, `restart: true` dependents, namespace sharing) and by
the CLI for `start`/`stop`/`down` orders. Built from the typed model only, so it never sees a
stack file; the loader has already rejected cycles with positions (`loader/check.py`), the
guard here only keeps a hand-built `Stack` from looping.

Nodes are service names (attr `kind="service"`), `network:<key>` and `volume:<key>` (attr
`kind="network"|"volume"`, `name=<key>`). Edges point from what is needed to what needs it
(dependency -> dependent), so a topological order is a start order. Service edges carry
`condition`, `required`, `restart` and `via`; the implicit ones (links, `network_mode:
service:x`, `volumes_from`, `ipc`/`pid: service:x`) wait only for `service_started`.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import networkx as nx

from orchestrator.model import Condition, Dependency, MountType, Service, Stack

SERVICE = "service"
NETWORK = "network"
VOLUME = "volume"

# Precedence when two relations join the same pair of services: an explicit `depends_on`
# says what to wait for; the implicit ones only require the dependency to exist and run.
_VIA_ORDER = ("depends_on", "network_mode", "ipc", "pid", "volumes_from", "links")


class DependencyCycleError(ValueError):
    """The services depend on each other in a circle; no start order exists."""

    def __init__(self, cycle: list[str]):
        self.cycle = cycle
        super().__init__("dependency cycle detected: " + " -> ".join(cycle + cycle[:1]))


def network_node(key: str) -> str:
    return f"{NETWORK}:{key}"


def volume_node(key: str) -> str:
    return f"{VOLUME}:{key}"


def build_graph(stack: Stack) -> nx.DiGraph:
    """A DiGraph of the stack's services and the networks and volumes they use.

    Raises:
        DependencyCycleError: the services depend on each other in a circle.
    """
    graph = nx.DiGraph()
    for name in stack.services:
        graph.add_node(name, kind=SERVICE)
    for name, service in stack.services.items():
        for key in service.networks:
            if key in stack.networks:
                graph.add_node(network_node(key), kind=NETWORK, name=key)
                graph.add_edge(network_node(key), name, via="networks", condition=None,
                               required=True, restart=False)
        for key in _named_volumes(service, stack):
            graph.add_node(volume_node(key), kind=VOLUME, name=key)
            graph.add_edge(volume_node(key), name, via="volumes", condition=None,
                           required=True, restart=False)
        for target, via, dependency in _service_edges(service):
            # A `required: false` dependency may be absent (dropped by a profile): no edge.
            if target not in stack.services or target == name:
                continue
            _add_service_edge(graph, target, name, via, dependency)
    cycle = _find_cycle(graph)
    if cycle:
        raise DependencyCycleError(cycle)
    return graph


def start_waves(graph: nx.DiGraph, services: Iterable[str] | None = None) -> list[list[str]]:
    """Services in parallel waves, dependencies first (each wave sorted by name).

    With `services`, only those and their transitive dependencies.

    Raises:
        KeyError: a named service is not in the graph.
        DependencyCycleError: the graph has a cycle.
    """
    selected = _services_of(graph) if services is None else _with_related(graph, services, nx.ancestors)
    return _waves(graph, selected)


def stop_waves(graph: nx.DiGraph, services: Iterable[str] | None = None) -> list[list[str]]:
    """Services in parallel waves, dependents first (the reverse of `start_waves`).

    With `services`, only those and their transitive dependents: a dependency is never
    stopped under a service that still needs it.

    Raises:
        KeyError: a named service is not in the graph.
        DependencyCycleError: the graph has a cycle.
    """
    selected = _services_of(graph) if services is None else _with_related(graph, services, nx.descendants)
    return list(reversed(_waves(graph, selected)))


def dependents(graph: nx.DiGraph, service: str) -> set[str]:
    """Services that need `service`, directly or transitively.

    Raises:
        KeyError: no such service.
    """
    _require_service(graph, service)
    return {n for n in nx.descendants(graph, service) if graph.nodes[n]["kind"] == SERVICE}


def dependencies(graph: nx.DiGraph, service: str) -> set[str]:
    """Services that `service` needs, directly or transitively.

    Raises:
        KeyError: no such service.
    """
    _require_service(graph, service)
    return {n for n in nx.ancestors(graph, service) if graph.nodes[n]["kind"] == SERVICE}


def service_edges(graph: nx.DiGraph, service: str) -> Iterator[tuple[str, dict]]:
    """(dependency, edge attributes) for each service `service` directly depends on, sorted."""
    for source in sorted(graph.predecessors(service)):
        if graph.nodes[source]["kind"] == SERVICE:
            yield source, graph.edges[source, service]


def resources_of(graph: nx.DiGraph, service: str, kind: str) -> list[str]:
    """Keys of the networks (`kind="network"`) or volumes a service uses, sorted."""
    return sorted(graph.nodes[n]["name"] for n in graph.predecessors(service)
                  if graph.nodes[n]["kind"] == kind)


# ---- building ------------------------------------------------------------------------------

def _named_volumes(service: Service, stack: Stack) -> list[str]:
    return [m.source for m in service.volumes
            if m.type is MountType.VOLUME and m.source and m.source in stack.volumes]


def _service_edges(service: Service) -> Iterator[tuple[str, str, Dependency]]:
    """(dependency, via, how) for every relation that makes `service` need another service."""
    implicit = Dependency(condition=Condition.STARTED, required=True, restart=False)
    for target, dependency in service.depends_on.items():
        yield target, "depends_on", dependency
    for link in service.links:
        yield link.split(":", 1)[0], "links", implicit
    for key in ("network_mode", "ipc", "pid"):
        mode = getattr(service, key)
        if mode and mode.startswith("service:"):
            yield mode[len("service:"):], key, implicit
    for source in service.volumes_from:
        if not source.startswith("container:"):
            yield source.split(":", 1)[0], "volumes_from", implicit


def _add_service_edge(graph: nx.DiGraph, source: str, target: str, via: str,
                      dependency: Dependency) -> None:
    attrs = dict(via=via, condition=dependency.condition, required=dependency.required,
                 restart=dependency.restart)
    if graph.has_edge(source, target):
        current = graph.edges[source, target]
        if _VIA_ORDER.index(current["via"]) <= _VIA_ORDER.index(via):
            # Keep the stronger description, but an implicit relation is always required.
            current["required"] = current["required"] or dependency.required
            return
        attrs["required"] = attrs["required"] or current["required"]
    graph.add_edge(source, target, **attrs)


def _find_cycle(graph: nx.DiGraph) -> list[str] | None:
    try:
        edges = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return None
    cycle = [source for source, _ in edges]
    # Start at the smallest name, so the message does not depend on iteration order.
    first = cycle.index(min(cycle))
    return cycle[first:] + cycle[:first]


# ---- ordering ------------------------------------------------------------------------------

def _services_of(graph: nx.DiGraph) -> set[str]:
    return {n for n, kind in graph.nodes(data="kind") if kind == SERVICE}


def _require_service(graph: nx.DiGraph, service: str) -> None:
    if service not in graph or graph.nodes[service]["kind"] != SERVICE:
        raise KeyError(f'no such service: "{service}"')


def _with_related(graph: nx.DiGraph, services: Iterable[str], related) -> set[str]:
    selected: set[str] = set()
    for name in services:
        _require_service(graph, name)
        selected.add(name)
        selected.update(n for n in related(graph, name) if graph.nodes[n]["kind"] == SERVICE)
    return selected


def _waves(graph: nx.DiGraph, selected: set[str]) -> list[list[str]]:
    sub = graph.subgraph(selected)
    try:
        return [sorted(wave) for wave in nx.topological_generations(sub)]
    except nx.NetworkXUnfeasible:
        raise DependencyCycleError(_find_cycle(nx.DiGraph(sub)) or sorted(selected)) from None
