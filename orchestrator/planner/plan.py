"""The plan: operations with a cause each, and the options that shape it.

Produced by `planner.decide.plan()`, carried out by the executor without further judgement,
printed by `stackyard plan` (`Plan.render()`, which is also the dry run) and serialised for
`plan --format json` (`Plan.to_json()` / `Plan.from_json()`).

What each operation asks of the executor:
- `create-network` / `create-volume`: create it with the stack's definition, labels
  (`io.stackyard.config-hash` = `config_hash`, `CONFIG_DOC_LABEL` = `config`).
- `recreate-network`: disconnect every endpoint (force), remove it, create it as above. The
  containers of the services using it get their own `recreate-container` operations.
- `remove-volume` / `remove-network`: remove it (its users are removed by earlier operations).
- `pull-image`: pull `target`.
- `build-image`: build the image of service `target` with the engine's builder and tag it
  (`engine_spec.build_request` says with what); the containers of services running that
  image depend on it. `up` runs the builds first and plans again, so the config hashes
  cover the ids of the images just built (planner/builds.py).
- `create-container`: create replica `number` of `service` named `target` with the labels
  above, then start it.
- `recreate-container`: create the new container under a temporary name, stop and remove the
  old one (`observed_id`), rename the new one to `target`, start it; a failed create leaves the
  old container running.
- `start-container` / `restart-container` / `stop-container` / `remove-container` (stop, then
  remove): on `observed_id`.
Before an operation that starts a container, the executor waits for every `Wait` in `waits`
(a `required: false` one may fail without failing the operation), and it never runs an
operation before those in `depends_on` have succeeded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping

from orchestrator import labels
from orchestrator.model import EMPTY, Condition

# The label holding the config document (hashing.document_json) next to io.stackyard.config-hash;
# written by the executor from `Operation.config`, read back by the planner to explain changes.
CONFIG_DOC_LABEL = labels.CONFIG_DOC


class PlanError(Exception):
    """The plan cannot be made as asked (a change that would lose data, invalid options)."""


class OpType(str, Enum):
    CREATE_NETWORK = "create-network"
    RECREATE_NETWORK = "recreate-network"
    REMOVE_NETWORK = "remove-network"
    CREATE_VOLUME = "create-volume"
    REMOVE_VOLUME = "remove-volume"
    PULL_IMAGE = "pull-image"
    BUILD_IMAGE = "build-image"
    CREATE_CONTAINER = "create-container"
    RECREATE_CONTAINER = "recreate-container"
    START_CONTAINER = "start-container"
    RESTART_CONTAINER = "restart-container"
    STOP_CONTAINER = "stop-container"
    REMOVE_CONTAINER = "remove-container"
    REMOVE_IMAGE = "remove-image"


# How an operation reads in `render()`: `create network demo_default: declared, not present`.
_VERBS = {
    OpType.CREATE_NETWORK: "create network",
    OpType.RECREATE_NETWORK: "recreate network",
    OpType.REMOVE_NETWORK: "remove network",
    OpType.CREATE_VOLUME: "create volume",
    OpType.REMOVE_VOLUME: "remove volume",
    OpType.PULL_IMAGE: "pull image",
    OpType.BUILD_IMAGE: "build",
    OpType.CREATE_CONTAINER: "create",
    OpType.RECREATE_CONTAINER: "recreate",
    OpType.START_CONTAINER: "start",
    OpType.RESTART_CONTAINER: "restart",
    OpType.STOP_CONTAINER: "stop",
    OpType.REMOVE_CONTAINER: "remove",
    OpType.REMOVE_IMAGE: "remove image",
}


class PullPolicy(str, Enum):
    ALWAYS = "always"
    MISSING = "missing"
    NEVER = "never"
    BUILD = "build"


class BuildPolicy(str, Enum):
    """When `up` builds the image of a service with a `build` section."""

    MISSING = "missing"      # the default: when the image is not present (or pull_policy: build)
    ALWAYS = "always"        # `up --build`, `stackyard build`
    NEVER = "never"          # `up --no-build`: a missing image is an error


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanOptions:
    """What `up` (and `plan`) were asked for."""

    services: tuple[str, ...] = ()            # selection; empty = every active service
    no_deps: bool = False                     # selection without its dependencies
    force_recreate: bool = False
    no_recreate: bool = False
    remove_orphans: bool = False
    # Declared services that no active profile enables: their containers are not orphans
    # unless `remove_inactive` (and `remove_orphans`) say so.
    inactive_services: frozenset[str] = frozenset()
    remove_inactive: bool = False
    scale: Mapping[str, int] = EMPTY          # service -> replicas (`--scale svc=n`)
    recreate_volumes: bool = False
    pull: PullPolicy | None = None            # None: each service's pull_policy, else missing
    build: BuildPolicy = BuildPolicy.MISSING


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    """Before starting a container, `container` (of `service`) must satisfy `condition`."""

    container: str
    service: str
    condition: Condition = Condition.STARTED
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"container": self.container, "service": self.service,
                "condition": self.condition.value, "required": self.required}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Wait":
        return cls(container=data["container"], service=data["service"],
                   condition=Condition(data["condition"]), required=data["required"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One step of a plan. `id` is `<type>:<target>`, unique within a plan."""

    id: str
    type: OpType
    target: str                               # container, network or volume name; image ref
    cause: str
    service: str | None = None
    number: int | None = None                 # replica number
    resource: str | None = None               # network/volume key in the stack file
    depends_on: tuple[str, ...] = ()          # operation ids that must succeed first
    waits: tuple[Wait, ...] = ()
    observed_id: str | None = None            # engine id of the existing object acted on
    config_hash: str | None = None            # io.stackyard.config-hash of what gets created
    config: str | None = None                 # CONFIG_DOC_LABEL value of what gets created

    def render(self) -> str:
        return f"{_VERBS[self.type]} {self.target}: {self.cause}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type.value, "target": self.target, "cause": self.cause,
                "service": self.service, "number": self.number, "resource": self.resource,
                "depends_on": list(self.depends_on), "waits": [w.to_dict() for w in self.waits],
                "observed_id": self.observed_id, "config_hash": self.config_hash,
                "config": self.config}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Operation":
        return cls(id=data["id"], type=OpType(data["type"]), target=data["target"],
                   cause=data["cause"], service=data.get("service"), number=data.get("number"),
                   resource=data.get("resource"), depends_on=tuple(data.get("depends_on", ())),
                   waits=tuple(Wait.from_dict(w) for w in data.get("waits", ())),
                   observed_id=data.get("observed_id"), config_hash=data.get("config_hash"),
                   config=data.get("config"))


def operation_id(op_type: OpType, target: str) -> str:
    return f"{op_type.value}:{target}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Operations in a valid execution order (each after those it depends on)."""

    stack: str
    operations: tuple[Operation, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Nothing to do (warnings do not count: they ask for nothing)."""
        return not self.operations

    def render(self) -> str:
        """One line per operation, `<verb> <target>: <cause>`, then `warning: …` lines."""
        lines = [op.render() for op in self.operations] or ["nothing to do"]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"

    def waves(self) -> list[list[Operation]]:
        """Operations grouped so that each group only depends on earlier groups."""
        level: dict[str, int] = {}
        for op in self.operations:  # already in dependency order
            level[op.id] = 1 + max((level[d] for d in op.depends_on if d in level), default=-1)
        grouped: list[list[Operation]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for op in self.operations:
            grouped[level[op.id]].append(op)
        return grouped

    def to_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "operations": [op.to_dict() for op in self.operations],
                "warnings": list(self.warnings)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Plan":
        return cls(stack=data["stack"],
                   operations=tuple(Operation.from_dict(op) for op in data.get("operations", ())),
                   warnings=tuple(data.get("warnings", ())))

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        """Raises: ValueError (json.JSONDecodeError), KeyError: not a plan."""
        return cls.from_dict(json.loads(text))


__all__ = ["BuildPolicy", "CONFIG_DOC_LABEL", "OpType", "Operation", "Plan", "PlanError", "PlanOptions",
           "PullPolicy", "Wait", "operation_id"]
