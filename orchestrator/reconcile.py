"""Reconcile: the steps every stack command shares, wired together (no decisions here).

Called by the CLI (`plan`, `up`, `down`, `ps`, ...). It reads what the planner needs (config
documents from files, observed state from the engine), calls the pure planner, and hands the
plan to the executor with the container specs it needs.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from orchestrator import hashing
from orchestrator.engine_spec import ContainerSpec, container_spec
from orchestrator.environment import container_environment
from orchestrator.executor import ExecuteOptions, Outcome, execute
from orchestrator.model import Stack
from orchestrator.observe import observe
from orchestrator.observed import ObservedStack
from orchestrator.planner import Operation, Plan, PlanOptions, plan
from orchestrator.planner.builds import stack_images, with_image_ids
from orchestrator.progress import EventSink


def engine_url(option: str | None, environ: Mapping[str, str]) -> str:
    """The Engine API endpoint: `--engine`, else STACKYARD_ENGINE, else the built-in engine.
    `docker` means Docker's (DOCKER_HOST, the active docker context, the default socket).

    Raises:
        ValueError: an unknown engine name.
    """
    value = option or environ.get("STACKYARD_ENGINE") or "builtin"
    if value == "docker":
        from orchestrator.engine.contexts import context_host

        return environ.get("DOCKER_HOST") or context_host(environ) or "unix:///var/run/docker.sock"
    if value.startswith(("unix://", "tcp://", "http://", "https://")):
        return value
    if value == "builtin":
        from orchestrator.engine.builtin import builtin_paths

        return builtin_paths(environ).url
    raise ValueError(f'unknown engine "{value}": use docker, builtin, unix://PATH or tcp://HOST:PORT')


def config_documents(canonical: Mapping, services: list[str]) -> dict[str, dict]:
    """Config document of each service (reads the files they reference)."""
    return {name: hashing.config_document(canonical, name) for name in services}


def make_plan(stack: Stack, canonical: Mapping, engine: Any, options: PlanOptions) -> tuple[Plan, ObservedStack]:
    """Observe, read the config documents, plan. The images the stack uses or builds are
    observed too, and the ids of built ones enter the documents of the services running them
    (planner/builds.py), so a rebuild to another image recreates exactly those."""
    observed = observe(engine, stack.name, images=stack_images(stack))
    docs = with_image_ids(config_documents(canonical, list(stack.services)), stack, observed.images)
    return plan(stack, observed, docs, options), observed


def apply(plan_: Plan, stack: Stack, engine: Any, *, sink: EventSink, options: ExecuteOptions,
          host_env: Mapping[str, str] | None = None) -> Outcome:
    """Carry out a plan; container environments are resolved first (env_file reads)."""
    host = dict(os.environ if host_env is None else host_env)
    environments: dict[str, dict[str, str]] = {}

    def spec_for(op: Operation) -> ContainerSpec:
        service = stack.services[op.service]
        if op.service not in environments:
            environments[op.service] = container_environment(service, host=host)
        return container_spec(stack, service, op.number or 1, config_hash=op.config_hash or "",
                              config=op.config or "", environment=environments[op.service])

    from orchestrator.engine.auth import auth_for

    return execute(plan_, engine=engine, stack=stack, spec_for=spec_for, sink=sink, options=options,
                   auth_for=lambda ref: auth_for(ref, host))
