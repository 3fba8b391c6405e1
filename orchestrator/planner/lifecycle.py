"""`plan_lifecycle()`: start, stop, restart or remove the containers a stack already has.

Called by the CLI for `start`, `stop`, `restart` and `rm`; pure, like the rest of the planner.
Only containers in a state the verb applies to get an operation (stopping a stopped container
is not an operation), each with its cause; stops and removals go dependents first when the
desired stack is known, starts dependencies first.
"""

from __future__ import annotations

from orchestrator import graph as g
from orchestrator.model import Stack
from orchestrator.observed import ObservedStack
from orchestrator.planner.plan import Operation, OpType, Plan, operation_id

_APPLIES = {
    OpType.START_CONTAINER: lambda c: c.state in ("created", "exited"),
    OpType.STOP_CONTAINER: lambda c: c.state in ("running", "restarting", "paused"),
    OpType.RESTART_CONTAINER: lambda c: True,
    OpType.REMOVE_CONTAINER: lambda c: c.state not in ("running", "restarting", "paused"),
}
_CAUSES = {
    OpType.START_CONTAINER: "asked to start",
    OpType.STOP_CONTAINER: "asked to stop",
    OpType.RESTART_CONTAINER: "asked to restart",
    OpType.REMOVE_CONTAINER: "asked to remove (stopped)",
}


def plan_lifecycle(op_type: OpType, observed: ObservedStack, desired: Stack | None = None,
                   services: tuple[str, ...] = ()) -> Plan:
    """One `op_type` operation per matching container of `services` (all when empty)."""
    chosen = [c for c in observed.containers
              if (not services or c.service in services) and not c.oneoff and _APPLIES[op_type](c)]
    rank = _ranks(op_type, desired)
    chosen.sort(key=lambda c: (rank.get(c.service, -1), c.service, c.number))
    ops: list[Operation] = []
    ids_by_rank: dict[int, list[str]] = {}
    for container in chosen:
        level = rank.get(container.service, -1)
        before = tuple(i for r, ids in ids_by_rank.items() if r < level for i in ids)
        op = Operation(id=operation_id(op_type, container.name), type=op_type, target=container.name,
                       cause=_CAUSES[op_type], service=container.service, number=container.number,
                       observed_id=container.id, depends_on=before)
        ops.append(op)
        ids_by_rank.setdefault(level, []).append(op.id)
    return Plan(stack=observed.name, operations=tuple(ops))


def _ranks(op_type: OpType, desired: Stack | None) -> dict[str, int]:
    """Service -> wave index: dependencies first to start, dependents first to stop."""
    if desired is None:
        return {}
    graph = g.build_graph(desired)
    starting = op_type in (OpType.START_CONTAINER, OpType.RESTART_CONTAINER)
    waves = g.start_waves(graph) if starting else g.stop_waves(graph)
    return {service: index for index, wave in enumerate(waves) for service in wave}

