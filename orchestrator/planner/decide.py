"""`plan()`: compare the desired stack with the observed one and decide every operation.

Called by the CLI (`plan`, `up`) with data only: the model, an `ObservedStack` from `observe`,
and the config documents (`hashing.config_document`) the CLI computed by reading the files.
Pure: no I/O, no clock, no randomness, so the same inputs always give the same plan, and the
plan is the dry run. Every decision that needs explaining is a `*_reason()` function returning
the cause (or None), which becomes `Operation.cause`.

Order of the plan (each container operation also lists what it depends on, so the executor can
run independent ones in parallel):
  1. orphans removed (frees names and published ports before anything is created),
  2. containers removed because the volume they mount is recreated (`--recreate-volumes`),
  3. networks, then volumes,
  4. images pulled and built (planner/builds.py),
  5. containers, service by service in start waves (dependencies first).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping

import networkx as nx

from orchestrator import graph as g
from orchestrator.hashing import (HASH_VERSION, document_json, hash_document, hash_version,
                                  resource_document)
from orchestrator.labels import container_name
from orchestrator.model import Condition, Service, Stack
from orchestrator.observed import ObservedContainer, ObservedStack
from orchestrator.planner import builds
from orchestrator.planner.causes import change_reason, model_plain, resource_change_reason
from orchestrator.planner.plan import (Operation, OpType, Plan, PlanError, PlanOptions, PullPolicy,
                                       Wait, operation_id)

# Observed states in which a container exists but does not run; `up` starts them again.
_STOPPED = frozenset({"created", "exited"})
# Operations after which a container runs: what dependents wait for.
_UP = frozenset({OpType.CREATE_CONTAINER, OpType.RECREATE_CONTAINER, OpType.START_CONTAINER,
                 OpType.RESTART_CONTAINER})
# Relations that make a container share a namespace with its dependency's container: when
# the dependency is replaced, the namespace it joined is gone, so it must be recreated too.
_NAMESPACE_VIAS = ("network_mode", "ipc", "pid")


def plan(desired: Stack, observed: ObservedStack, desired_docs: Mapping[str, Mapping],
         options: PlanOptions = PlanOptions()) -> Plan:
    """The operations that take `observed` to `desired`, each with its cause.

    `desired_docs[service]` is `hashing.config_document(...)` of each selected service.

    Raises:
        PlanError: invalid options (unknown service, negative scale, contradictory flags), a
            missing config document, or a volume whose definition changed without
            `recreate_volumes` (recreating it would delete its data).
        graph.DependencyCycleError: the services depend on each other in a circle.
    """
    _check_options(desired, options)
    graph = g.build_graph(desired)
    selected = _selection(graph, desired, options)
    missing_docs = sorted(s for s in selected if s not in desired_docs)
    if missing_docs:
        raise PlanError("no config document for service(s): " + ", ".join(missing_docs))
    return _Planner(desired, observed, desired_docs, options, graph, selected).run()


def _check_options(desired: Stack, options: PlanOptions) -> None:
    if options.force_recreate and options.no_recreate:
        raise PlanError("--force-recreate and --no-recreate cannot be used together")
    for name in list(options.services) + list(options.scale):
        if name not in desired.services:
            raise PlanError(f'no such service: "{name}"')
    for name, replicas in options.scale.items():
        if replicas < 0:
            raise PlanError(f'invalid scale for "{name}": {replicas} (must be 0 or more)')
        if replicas > 1 and desired.services[name].container_name:
            raise PlanError(f'service "{name}" sets container_name, so it cannot be scaled to '
                            f"{replicas}")


def _selection(graph: nx.DiGraph, desired: Stack, options: PlanOptions) -> set[str]:
    if not options.services:
        return set(desired.services)
    if options.no_deps:
        return set(options.services)
    return {s for wave in g.start_waves(graph, options.services) for s in wave}


class _Planner:
    """State of one `plan()` call; each method decides one part, in the module's order."""

    def __init__(self, desired: Stack, observed: ObservedStack, docs: Mapping[str, Mapping],
                 options: PlanOptions, graph: nx.DiGraph, selected: set[str]):
        self.desired, self.observed, self.docs = desired, observed, docs
        self.options, self.graph, self.selected = options, graph, selected
        self.warnings: list[str] = []
        self.recreated_networks: dict[str, str] = {}   # key -> engine name
        self.recreated_volumes: dict[str, str] = {}
        self.resource_ops: dict[str, str] = {}         # graph node -> id of its create op
        self.up_ops: dict[str, list[str]] = {}         # service -> ids of ops that start it
        self.replaced: set[str] = set()                # services whose containers are replaced
        self.orphan_ops: list[str] = []

    def run(self) -> Plan:
        orphans = self.plan_orphans()
        networks = self.plan_networks()
        volumes = self.plan_volumes()
        evictions = self.plan_volume_evictions(volumes)
        containers: list[Operation] = []
        for wave in g.start_waves(self.graph):
            for name in wave:
                if name in self.selected:
                    containers.extend(self.plan_service(name))
        pulls = self.plan_pulls(containers)
        pull_ids = {op.target: op.id for op in pulls}
        containers = [_with_pull(op, pull_ids, self.desired) for op in containers]
        operations = orphans + evictions + networks + volumes + pulls + containers
        return Plan(stack=self.desired.name, operations=tuple(operations),
                    warnings=tuple(self.warnings))

    # ---- orphans ---------------------------------------------------------------------------

    def plan_orphans(self) -> list[Operation]:
        ops = []
        for container in sorted(self.observed.containers, key=lambda c: c.name):
            if container.oneoff or container.service in self.desired.services:
                continue
            reason = self.orphan_reason(container)
            if reason is None:
                continue
            if self.options.remove_orphans:
                ops.append(_op(OpType.REMOVE_CONTAINER, container.name, reason,
                               service=container.service, number=container.number,
                               observed_id=container.id))
            else:
                self.warnings.append(f'orphan container {container.name}: {reason} '
                                     "(--remove-orphans removes it)")
        self.orphan_ops = [op.id for op in ops]
        return ops

    def orphan_reason(self, container: ObservedContainer) -> str | None:
        if container.service not in self.options.inactive_services:
            return "service no longer declared"
        # A service of an inactive profile is still declared: only removed when asked for.
        if self.options.remove_inactive:
            return "service not enabled by the active profiles"
        return None

    # ---- networks and volumes -------------------------------------------------------------

    def wanted_resources(self, kind: str) -> list[str]:
        """Keys of the non-external networks/volumes to converge: all declared ones, or with a
        service selection only those the selected services use."""
        declared = self.desired.networks if kind == g.NETWORK else self.desired.volumes
        used = {key for s in self.selected for key in g.resources_of(self.graph, s, kind)}
        keys = used if self.options.services else set(declared)
        if kind == g.NETWORK and "default" not in used:
            # The loader adds `default` when any service uses it, active or not; a network
            # that no running service needs is not worth creating.
            keys.discard("default")
        return sorted(k for k in keys if not declared[k].external)

    def plan_networks(self) -> list[Operation]:
        ops = []
        observed = {n.name: n for n in self.observed.networks}
        for key in self.wanted_resources(g.NETWORK):
            network = self.desired.networks[key]
            doc = resource_document("network", model_plain(network))
            found = observed.get(network.name)
            if found is None:
                op = _resource_op(OpType.CREATE_NETWORK, network.name, key, doc,
                                  "declared, not present")
            else:
                reason = resource_change_reason(found.config_hash, found.labels, doc)
                if reason is None:
                    continue
                op = _resource_op(OpType.RECREATE_NETWORK, network.name, key, doc, reason,
                                  observed_id=found.id)
                self.recreated_networks[key] = network.name
            self.resource_ops[g.network_node(key)] = op.id
            ops.append(op)
        return ops

    def plan_volumes(self) -> list[Operation]:
        ops = []
        observed = {v.name: v for v in self.observed.volumes}
        for key in self.wanted_resources(g.VOLUME):
            volume = self.desired.volumes[key]
            doc = resource_document("volume", model_plain(volume))
            found = observed.get(volume.name)
            cause = "declared, not present"
            if found is not None:
                reason = resource_change_reason(found.config_hash, found.labels, doc)
                if reason is None:
                    continue
                if not self.options.recreate_volumes:
                    raise PlanError(
                        f'volume "{key}" ({volume.name}) has a changed definition ({reason}); '
                        "applying it means removing the volume and every piece of data in it. "
                        "Restore the previous definition, or run again with --recreate-volumes "
                        "to delete and recreate the volume")
                self.recreated_volumes[key] = volume.name
                remove = _op(OpType.REMOVE_VOLUME, volume.name, f"{reason} (--recreate-volumes)",
                             resource=key, observed_id=found.name)
                ops.append(remove)
                cause = f"{reason} (--recreate-volumes)"
            op = _resource_op(OpType.CREATE_VOLUME, volume.name, key, doc, cause)
            if found is not None:
                op = replace(op, depends_on=(operation_id(OpType.REMOVE_VOLUME, volume.name),))
            self.resource_ops[g.volume_node(key)] = op.id
            ops.append(op)
        return ops

    def plan_volume_evictions(self, volume_ops: list[Operation]) -> list[Operation]:
        """A volume in use cannot be removed: the containers mounting it go first, and their
        services are created afresh once the volume is back."""
        ops: list[Operation] = []
        for key, name in sorted(self.recreated_volumes.items()):
            users = sorted(self.graph.successors(g.volume_node(key)))
            unselected = [u for u in users if u not in self.selected and self.containers_of(u)]
            if unselected:
                # Its containers would have to go too, but nothing would bring them back.
                raise PlanError(f'volume "{key}" ({name}) is also used by service(s) '
                                f"{', '.join(unselected)}, which are not selected; select them "
                                "too to recreate the volume")
            evicted = []
            for container in self.containers_of(*users):
                op = _op(OpType.REMOVE_CONTAINER, container.name,
                         f"volume {name} is recreated (--recreate-volumes)",
                         service=container.service, number=container.number,
                         observed_id=container.id)
                if op.id not in {o.id for o in ops}:
                    ops.append(op)
                evicted.append(op.id)
            self.replaced.update(u for u in users if self.containers_of(u))
            remove_id = operation_id(OpType.REMOVE_VOLUME, name)
            for index, op in enumerate(volume_ops):
                if op.id == remove_id:
                    volume_ops[index] = replace(op, depends_on=tuple(evicted))
        return ops

    def containers_of(self, *services: str) -> list[ObservedContainer]:
        wanted = set(services)
        return sorted((c for c in self.observed.containers
                       if c.service in wanted and not c.oneoff),
                      key=lambda c: (c.service, c.number, c.name))

    # ---- containers -------------------------------------------------------------------------

    def plan_service(self, name: str) -> list[Operation]:
        service = self.desired.services[name]
        replicas = self.options.scale.get(name, service.replicas)
        doc = self.docs[name]
        config_hash, config = hash_document(doc), document_json(doc)
        evicted = {c.name for c in self.containers_of(name)} if self.volume_recreated(name) else set()
        existing = [c for c in self.containers_of(name) if c.name not in evicted]
        keep, extra = _split_replicas(existing, replicas)
        ops: list[Operation] = []
        for container in extra:
            ops.append(_op(OpType.REMOVE_CONTAINER, container.name,
                           f"scale {len(existing)} -> {replicas}", service=name,
                           number=container.number, observed_id=container.id))
        base = dict(service=name, waits=self.waits_of(name), config_hash=config_hash)
        for container in keep:
            reason = self.recreate_reason(name, container, doc, config_hash)
            if reason is not None:
                self.replaced.add(name)
                ops.append(_op(OpType.RECREATE_CONTAINER, container.name, reason,
                               number=container.number, observed_id=container.id,
                               config=config, depends_on=self.needs(name), **base))
                continue
            reason = self.start_reason(name, container)
            op_type = OpType.START_CONTAINER
            if reason is None:
                reason, op_type = self.restart_reason(name, container), OpType.RESTART_CONTAINER
            if reason is not None:
                ops.append(_op(op_type, container.name, reason, number=container.number,
                               observed_id=container.id, depends_on=self.needs(name),
                               **{k: v for k, v in base.items() if k != "config_hash"}))
        numbers = _free_numbers({c.number for c in keep}, replicas - len(keep))
        for number in numbers:
            if evicted:
                cause = f"volume {self.volume_recreated(name)} recreated"
            elif existing:
                cause = f"scale {len(existing)} -> {replicas}"
            else:
                cause = "not present"
            ops.append(_op(OpType.CREATE_CONTAINER, self.container_name(service, number), cause,
                           number=number, config=config, depends_on=self.needs(name), **base))
        self.up_ops[name] = [op.id for op in ops if op.type in _UP]
        return ops

    def recreate_reason(self, name: str, container: ObservedContainer, doc: Mapping,
                        config_hash: str) -> str | None:
        """Why an existing replica must be replaced, or None to keep it."""
        if self.options.force_recreate:
            return "forced (--force-recreate)"
        if container.state == "dead":
            return "container is dead"
        # These follow from other objects being replaced, so --no-recreate cannot keep them:
        # the old container would be cut off from its network or namespace.
        for key in g.resources_of(self.graph, name, g.NETWORK):
            if key in self.recreated_networks:
                return f"network {self.recreated_networks[key]} recreated"
        for dependency, edge in g.service_edges(self.graph, name):
            if edge["via"] in _NAMESPACE_VIAS and dependency in self.replaced:
                return f"dependency {dependency} recreated ({edge['via']}: service:{dependency})"
        if self.options.no_recreate or container.config_hash is None:
            return None
        # A hash of another algorithm version says nothing about the config: upgrading
        # stackyard must never recreate containers by itself (ARCHITECTURE.md).
        if hash_version(container.config_hash) != HASH_VERSION or container.config_hash == config_hash:
            return None
        return change_reason(container.labels, container.config_hash, doc)

    def start_reason(self, name: str, container: ObservedContainer) -> str | None:
        if container.state not in _STOPPED:
            return None
        if container.exit_code == 0 and container.state == "exited" and self.is_one_shot(name):
            return None  # a job that completed: running it again is not converging
        return "stopped, expected running"

    def restart_reason(self, name: str, container: ObservedContainer) -> str | None:
        """`depends_on: {x: {restart: true}}`: restart when x's containers are replaced."""
        if container.state != "running":
            return None
        for dependency, edge in g.service_edges(self.graph, name):
            if edge["restart"] and dependency in self.replaced:
                return f"dependency {dependency} recreated"
        return None

    def is_one_shot(self, name: str) -> bool:
        """A service others wait on to complete successfully is a job, not a daemon."""
        return any(self.graph.edges[name, d]["condition"] is Condition.COMPLETED_SUCCESSFULLY
                   for d in self.graph.successors(name))

    def volume_recreated(self, name: str) -> str | None:
        for key in g.resources_of(self.graph, name, g.VOLUME):
            if key in self.recreated_volumes:
                return self.recreated_volumes[key]
        return None

    def waits_of(self, name: str) -> tuple[Wait, ...]:
        skipped = (lambda d: d not in self.selected) if self.options.no_deps else (lambda d: False)
        return dependency_waits(self.desired, self.graph, name, scale=self.options.scale, skipped=skipped)

    def needs(self, name: str) -> tuple[str, ...]:
        """Ids of the operations a container operation of `name` must follow."""
        ids = [op for node, op in self.resource_ops.items()
               if node in self.graph and self.graph.has_edge(node, name)]
        for dependency, _ in g.service_edges(self.graph, name):
            ids.extend(self.up_ops.get(dependency, ()))
        return tuple(dict.fromkeys(self.orphan_ops + sorted(ids)))

    def container_name(self, service: Service, number: int) -> str:
        return service.container_name or container_name(self.desired.name, service.name, number)

    # ---- images ----------------------------------------------------------------------------

    def plan_pulls(self, containers: list[Operation]) -> list[Operation]:
        creating = {op.service for op in containers
                    if op.type in (OpType.CREATE_CONTAINER, OpType.RECREATE_CONTAINER)}
        pulls: dict[str, str] = {}
        for name in sorted(self.selected):
            service = self.desired.services[name]
            reason = self.pull_reason(service, name in creating)
            if reason is not None and service.image not in pulls:
                pulls[service.image] = reason
        return [_op(OpType.PULL_IMAGE, image, reason) for image, reason in sorted(pulls.items())] + \
            builds.plan_builds(self.desired, self.selected, self.observed.images, self.options)

    def pull_reason(self, service: Service, creating: bool) -> str | None:
        if not service.image or builds.is_built(self.desired, service):
            return None  # built images are not pulled (planner/builds.py builds them)
        policy = self.options.pull or _policy(service.pull_policy)
        if policy is PullPolicy.ALWAYS:
            return "pull policy always"
        if policy is PullPolicy.MISSING and creating and service.image not in self.observed.images:
            return "not present locally"
        return None


# ---- helpers -------------------------------------------------------------------------------

def dependency_waits(desired: Stack, graph: nx.DiGraph, name: str, *, scale: Mapping[str, int] | None = None,
                     skipped: Callable[[str], bool] = lambda dependency: False) -> tuple[Wait, ...]:
    """What must hold before a container of `name` starts: each dependency's condition
    (`depends_on`, and "started" for links, network_mode and volumes_from) on every replica,
    except dependencies `skipped` says to leave out. Used by the planner and by `run`."""
    waits = []
    for dependency, edge in g.service_edges(graph, name):
        if skipped(dependency):
            continue
        service = desired.services[dependency]
        for number in range(1, (scale or {}).get(dependency, service.replicas) + 1):
            waits.append(Wait(container=service.container_name or container_name(desired.name, dependency, number),
                              service=dependency, condition=edge["condition"], required=edge["required"]))
    return tuple(waits)


def _op(op_type: OpType, target: str, cause: str, **fields_: Any) -> Operation:
    return Operation(id=operation_id(op_type, target), type=op_type, target=target, cause=cause,
                     **fields_)


def _resource_op(op_type: OpType, name: str, key: str, doc: Mapping, cause: str,
                 **fields_: Any) -> Operation:
    return _op(op_type, name, cause, resource=key, config_hash=hash_document(doc),
               config=document_json(doc), **fields_)


def _with_pull(op: Operation, pull_ids: Mapping[str, str], desired: Stack) -> Operation:
    if op.type not in (OpType.CREATE_CONTAINER, OpType.RECREATE_CONTAINER):
        return op
    pull = builds.image_dependency(desired, op.service, pull_ids.values())
    return replace(op, depends_on=(pull,) + op.depends_on) if pull else op


def _policy(value: str | None) -> PullPolicy:
    """A service's `pull_policy`; `if_not_present` and the periodic ones act as missing."""
    try:
        return PullPolicy(value)
    except ValueError:
        return PullPolicy.MISSING


def _split_replicas(existing: list[ObservedContainer], replicas: int):
    """Keep the lowest-numbered `replicas` containers (one per number); the rest go."""
    keep: list[ObservedContainer] = []
    extra: list[ObservedContainer] = []
    numbers: set[int] = set()
    for container in existing:
        if len(keep) < replicas and container.number not in numbers:
            keep.append(container)
            numbers.add(container.number)
        else:
            extra.append(container)
    return keep, extra


def _free_numbers(used: set[int], count: int) -> list[int]:
    numbers, candidate = [], 1
    while len(numbers) < count:
        if candidate not in used:
            numbers.append(candidate)
        candidate += 1
    return numbers
