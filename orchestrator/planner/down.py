"""`plan_down()`: the operations that take a stack away, purely.

Called by the CLI for `down` (and `rm`-like commands), with the observed state and, when the
stack file is at hand, the desired stack for the stop order. Containers go first, dependents
before their dependencies; then the stack's own networks; volumes only when asked (`-v`),
because they hold data; images only when asked (`--rmi local|all`), once the containers are
gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator import graph as g
from orchestrator.model import Stack
from orchestrator.observed import ObservedStack
from orchestrator.planner.builds import built_images, stack_images
from orchestrator.planner.plan import Operation, OpType, Plan, operation_id


@dataclass(frozen=True, slots=True, kw_only=True)
class DownOptions:
    volumes: bool = False                # -v: remove the stack's named volumes too
    remove_orphans: bool = False         # containers of services no longer declared
    services: tuple[str, ...] = ()       # only these services' containers (no networks/volumes)
    rmi: str | None = None               # "all": every image the services use; "local": built ones


def plan_down(observed: ObservedStack, desired: Stack | None = None,
              options: DownOptions = DownOptions()) -> Plan:
    """Remove the observed stack's containers, then networks (and volumes with `volumes`)."""
    order: dict[str, int] = {}
    users: dict[str, set[str]] = {}   # service -> services that depend on it directly
    if desired is not None:
        graph = g.build_graph(desired)
        waves = g.stop_waves(graph)
        order = {service: index for index, wave in enumerate(waves) for service in wave}
        users = {s: {d for d in graph.successors(s) if graph.nodes[d].get("kind") == "service"}
                 for s in desired.services}
    declared = set(desired.services) if desired is not None else None
    ops: list[Operation] = []
    by_service: dict[str, list[str]] = {}
    containers = [c for c in observed.containers
                  if (not options.services or c.service in options.services)
                  and (declared is None or c.service in declared or options.remove_orphans)]
    # Orphans (no place in the graph) first, then the stop waves: dependents first.
    containers.sort(key=lambda c: (order.get(c.service, -1), c.service, c.number))
    for container in containers:
        # A container goes once the containers that use it are gone (not a whole wave
        # earlier: a long dependency chain would otherwise wait for unrelated stops).
        before = [op_id for service in users.get(container.service, ()) for op_id in by_service.get(service, ())]
        if desired is not None and container.service not in order:
            before = []
        cause = ("stack taken down" if declared is None or container.service in declared
                 else "service no longer declared")
        op = Operation(id=operation_id(OpType.REMOVE_CONTAINER, container.name),
                       type=OpType.REMOVE_CONTAINER, target=container.name, cause=cause,
                       service=container.service, number=container.number,
                       observed_id=container.id, depends_on=tuple(before))
        ops.append(op)
        by_service.setdefault(container.service, []).append(op.id)
    warnings: list[str] = []
    if not options.services:
        container_ids = tuple(op.id for op in ops)
        removed = {op.target for op in ops}
        # A network that orphans left behind still use cannot be removed: say so instead.
        busy = {net for c in observed.containers if c.name not in removed for net in c.networks}
        for network in observed.networks:
            if network.name in busy:
                warnings.append(f"network {network.name} is still used by containers of services no longer "
                                "declared; remove them with --remove-orphans")
                continue
            ops.append(Operation(id=operation_id(OpType.REMOVE_NETWORK, network.name),
                                 type=OpType.REMOVE_NETWORK, target=network.name,
                                 cause="stack taken down", resource=network.key,
                                 observed_id=network.id, depends_on=container_ids))
        if options.volumes:
            for volume in observed.volumes:
                ops.append(Operation(id=operation_id(OpType.REMOVE_VOLUME, volume.name),
                                     type=OpType.REMOVE_VOLUME, target=volume.name,
                                     cause="stack taken down (-v)", resource=volume.key,
                                     depends_on=container_ids))
        if options.rmi and desired is not None:
            ops.extend(_image_removals(observed, desired, options.rmi, container_ids))
    return Plan(stack=observed.name, operations=tuple(ops), warnings=tuple(warnings))


def _image_removals(observed: ObservedStack, desired: Stack, rmi: str,
                    after: tuple[str, ...]) -> list[Operation]:
    """`--rmi all`: the images the services run; `--rmi local`: only those the stack builds
    without an `image:` name of their own (`<stack>-<service>`), as Docker Compose does.
    Only images the engine holds (observed) are named."""
    if rmi == "all":
        wanted, cause = stack_images(desired), "stack taken down (--rmi all)"
    else:
        custom = {s.image for s in desired.services.values() if s.image}
        wanted, cause = sorted(set(built_images(desired)) - custom), "built by the stack (--rmi local)"
    return [Operation(id=operation_id(OpType.REMOVE_IMAGE, ref), type=OpType.REMOVE_IMAGE,
                      target=ref, cause=cause, depends_on=after)
            for ref in wanted if ref in observed.images]
