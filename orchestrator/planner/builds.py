"""Build planning: which services' images to build, and the built image ids in the config hash.

Called by `planner.decide` (its image step adds the `build-image` operations and makes
containers depend on them) and by the CLI (`up`, `plan`, `build`), which adds the ids of the
built images to the config documents before planning (`with_image_ids`). Pure: the image ids
come from `observe` (`ObservedStack.images`), read by the caller.

Semantics (as docker compose): a service with a `build` section runs `image:` if given, else
`<stack>-<service>` (`engine_spec.image_name`). `up` builds it when that image is not present,
always with `pull_policy: build` or `up --build`, never with `up --no-build` (then a missing
image is an error). Its config document carries the built image's id (`image_id`), so a
rebuild that yields another image recreates the service's containers, and one that yields the
same image (all steps cached) recreates nothing. `up` builds first and then plans again with
the new ids; a dry run (`plan`) shows the builds and the container operations as they stand.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from orchestrator.engine_spec import image_name
from orchestrator.model import Service, Stack
from orchestrator.planner.plan import (BuildPolicy, Operation, OpType, Plan, PlanError, PlanOptions,
                                       operation_id)

# The document key holding the id of a built image (hashing.describe_changes explains it).
IMAGE_ID_KEY = "image_id"


def built_images(stack: Stack) -> dict[str, str]:
    """Image reference -> the (first, by name) service whose `build` section makes it."""
    out: dict[str, str] = {}
    for name in sorted(stack.services):
        service = stack.services[name]
        if service.build is not None:
            out.setdefault(image_name(stack.name, service), name)
    return out


def stack_images(stack: Stack) -> list[str]:
    """Every image reference the stack's services run (pulled or built): what `observe`
    must look up so the planner knows which are present, and their ids."""
    return sorted({image_name(stack.name, s) for s in stack.services.values()} - {""})


def with_image_ids(docs: Mapping[str, Mapping], stack: Stack,
                   images: Mapping[str, str]) -> dict[str, Mapping]:
    """The config documents, each service running a built image (its own or another
    service's) with that image's id under `image_id` when the image is present. Documents
    of services running pulled images are unchanged (their hashes stay as they were)."""
    built = built_images(stack)
    out: dict[str, Mapping] = {}
    for name, doc in docs.items():
        service = stack.services.get(name)
        ref = image_name(stack.name, service) if service is not None else ""
        image_id = images.get(ref) if ref in built else None
        out[name] = {**doc, IMAGE_ID_KEY: image_id} if image_id else doc
    return out


def build_reason(service: Service, image: str, present: bool, options: PlanOptions) -> str | None:
    """Why `service` (which has a `build` section) is built now, or None.

    Raises:
        PlanError: its image is missing and `--no-build` forbids building it.
    """
    if options.build is BuildPolicy.NEVER:
        if not present:
            raise PlanError(f'service "{service.name}" runs image {image}, which is not present, '
                            "and --no-build forbids building it; build it first (stackyard build "
                            f"{service.name}) or run up without --no-build")
        return None
    if options.build is BuildPolicy.ALWAYS:
        return "forced (--build)"
    if service.pull_policy == "build":
        return "pull_policy: build"
    if not present:
        return f"image {image} not present"
    return None


def plan_builds(stack: Stack, selected: Iterable[str], images: Mapping[str, str],
                options: PlanOptions) -> list[Operation]:
    """One `build-image` operation (target: the service) per image to build, for the selected
    services; a service that runs an image another one builds gets it built too.

    Raises:
        PlanError: see `build_reason`.
    """
    built = built_images(stack)
    builders: dict[str, str] = {}     # builder service -> its reason
    for name in sorted(selected):
        service = stack.services[name]
        ref = image_name(stack.name, service)
        builder = built.get(ref)
        if builder is None:
            continue
        reason = build_reason(stack.services[builder], ref, ref in images, options)
        if reason is not None and builder not in builders:
            builders[builder] = reason
    return [Operation(id=operation_id(OpType.BUILD_IMAGE, name), type=OpType.BUILD_IMAGE,
                      target=name, cause=reason, service=name)
            for name, reason in sorted(builders.items())]


def plan_build_command(stack: Stack, services: Iterable[str] = ()) -> Plan:
    """`stackyard build [SERVICES]`: build every named service (all by default) that has a
    `build` section; services without one are skipped, as docker compose does.

    Raises:
        PlanError: a named service does not exist.
    """
    for name in services:
        if name not in stack.services:
            raise PlanError(f'no such service: "{name}"')
    names = sorted(set(services) or set(stack.services))
    ops = [Operation(id=operation_id(OpType.BUILD_IMAGE, name), type=OpType.BUILD_IMAGE,
                     target=name, cause="asked to build", service=name)
           for name in names if stack.services[name].build is not None]
    return Plan(stack=stack.name, operations=tuple(ops))


def image_dependency(stack: Stack, service_name: str, op_ids: Iterable[str]) -> str | None:
    """The id of the operation that provides the image `service_name` runs, when the plan
    has one: the build of the service that builds it, else the pull of its image."""
    ids = set(op_ids)
    service = stack.services[service_name]
    ref = image_name(stack.name, service)
    builder = built_images(stack).get(ref)
    candidate = (operation_id(OpType.BUILD_IMAGE, builder) if builder is not None
                 else operation_id(OpType.PULL_IMAGE, ref))
    return candidate if candidate in ids else None


def is_built(stack: Stack, service: Service) -> bool:
    """Whether the service's image is built by some service of the stack (so never pulled)."""
    return image_name(stack.name, service) in built_images(stack)
