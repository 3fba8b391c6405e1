"""Build planning (planner/builds.py through planner.plan): which images `up` builds and why,
and how the built image's id decides recreation. Real loader, observed state by hand; the
expected plans are golden texts inline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from orchestrator.hashing import config_document, hash_document
from orchestrator.labels import CONFIG_HASH
from orchestrator.loader import LoadOptions, load_stack
from orchestrator.loader.tree import plain
from orchestrator.model import FrozenMap
from orchestrator.observed import ObservedContainer, ObservedNetwork, ObservedStack
from orchestrator.planner import CONFIG_DOC_LABEL, OpType, Plan, PlanError, PlanOptions, plan
from orchestrator.planner.builds import plan_build_command, stack_images, with_image_ids
from orchestrator.planner.plan import BuildPolicy

STACK = """
name: demo
services:
  web:
    build: ./web
    depends_on: [db]
  api:
    image: registry.local/api:2
    build: {context: ./api, target: prod}
  sidecar:
    image: demo-web           # runs the image `web` builds
  db:
    image: postgres:16
  tools:
    build: {context: ./web, dockerfile: Dockerfile.tools}
    pull_policy: build
    profiles: [tools]
"""


class Env:
    def __init__(self, tmp_path: Path, text: str = STACK, profiles=("tools",)):
        for d in ("web", "api"):
            (tmp_path / d).mkdir(exist_ok=True)
        (tmp_path / "compose.yaml").write_text(text)
        result = load_stack(LoadOptions(cwd=str(tmp_path), environ={}, profiles=tuple(profiles)))
        assert result.stack is not None, result
        self.stack = result.stack
        canonical = plain(result.canonical)
        self.raw_docs = {n: config_document(canonical, n) for n in canonical["services"]}

    def plan(self, observed: ObservedStack, **options) -> Plan:
        docs = with_image_ids(self.raw_docs, self.stack, observed.images)
        return plan(self.stack, observed, docs, PlanOptions(**options))


def _apply(result: Plan, observed: ObservedStack, built: dict[str, str] | None = None) -> ObservedStack:
    """What the executor leaves: containers, networks; built images get the ids in `built`."""
    containers = {c.name: c for c in observed.containers}
    networks = {n.name: n for n in observed.networks}
    images = dict(observed.images)
    for op in result.operations:
        labels = FrozenMap({CONFIG_HASH: op.config_hash, CONFIG_DOC_LABEL: op.config})
        if op.type in (OpType.CREATE_CONTAINER, OpType.RECREATE_CONTAINER):
            containers[op.target] = ObservedContainer(
                id=f"id-{op.target}-{len(containers)}", name=op.target, service=op.service,
                number=op.number, config_hash=op.config_hash, state="running", labels=labels)
        elif op.type is OpType.CREATE_NETWORK:
            networks[op.target] = ObservedNetwork(id=f"net-{op.target}", name=op.target, key=op.resource,
                                                  config_hash=op.config_hash, labels=labels)
        elif op.type is OpType.PULL_IMAGE:
            images[op.target] = f"sha256:{'0' * 64}"
    images.update(built or {})
    return ObservedStack(name=observed.name, containers=tuple(containers.values()),
                         networks=tuple(networks.values()), images=FrozenMap(images))


ID1 = "sha256:" + "1" * 64
ID2 = "sha256:" + "2" * 64
ID3 = "sha256:" + "3" * 64
BUILT = {"demo-web": ID1, "registry.local/api:2": ID2, "demo-tools": ID3}


def _up(env: Env, observed: ObservedStack, built=BUILT, **options) -> ObservedStack:
    """`up`: build what the plan builds, then plan again with the ids and apply that."""
    first = env.plan(observed, **options)
    images = {ref: i for ref, i in built.items()}
    observed = dataclasses.replace(observed, images=FrozenMap({**dict(observed.images), **images}))
    second = env.plan(observed, **{**options, "build": BuildPolicy.NEVER})
    assert not [op for op in second.operations if op.type is OpType.BUILD_IMAGE]
    return _apply(second, observed)


def test_fresh_stack_builds_missing_images_with_causes(tmp_path) -> None:
    env = Env(tmp_path)
    result = env.plan(ObservedStack(name="demo"))
    assert result.render() == (
        "create network demo_default: declared, not present\n"
        "pull image postgres:16: not present locally\n"
        "build api: image registry.local/api:2 not present\n"
        "build tools: pull_policy: build\n"
        "build web: image demo-web not present\n"
        "create demo-api-1: not present\n"
        "create demo-db-1: not present\n"
        "create demo-sidecar-1: not present\n"
        "create demo-tools-1: not present\n"
        "create demo-web-1: not present\n")
    ops = {op.target: op for op in result.operations}
    # Containers wait for the operation that provides their image; the sidecar runs the image
    # `web` builds, so it waits for that build and is never pulled.
    assert ops["demo-web-1"].depends_on[0] == "build-image:web"
    assert ops["demo-sidecar-1"].depends_on[0] == "build-image:web"
    assert ops["demo-api-1"].depends_on[0] == "build-image:api"
    assert ops["demo-db-1"].depends_on[0] == "pull-image:postgres:16"
    assert not any(op.type is OpType.PULL_IMAGE and "demo-web" in op.target for op in result.operations)
    # The JSON form carries the new operation type.
    assert Plan.from_json(result.to_json()) == result


def test_second_up_builds_nothing_and_recreates_nothing(tmp_path) -> None:
    env = Env(tmp_path, STACK.replace("    pull_policy: build\n", ""))
    observed = _up(env, ObservedStack(name="demo"))
    result = env.plan(observed)
    assert result.render() == "nothing to do\n"


def test_build_flag_rebuilds_and_only_a_changed_image_recreates(tmp_path) -> None:
    env = Env(tmp_path, STACK.replace("    pull_policy: build\n", ""))
    observed = _up(env, ObservedStack(name="demo"))
    forced = env.plan(observed, build=BuildPolicy.ALWAYS)
    assert forced.render() == ("build api: forced (--build)\n"
                               "build tools: forced (--build)\n"
                               "build web: forced (--build)\n")
    # The rebuild of web gives a new image (a context file changed); api and tools hit the
    # cache and come out identical.
    rebuilt = dataclasses.replace(observed, images=FrozenMap({**dict(observed.images), "demo-web": ID3}))
    after = env.plan(rebuilt, build=BuildPolicy.NEVER)
    assert after.render() == (
        "recreate demo-sidecar-1: image rebuilt (sha256:111111111111 -> sha256:333333333333)\n"
        "recreate demo-web-1: image rebuilt (sha256:111111111111 -> sha256:333333333333)\n")
    assert env.plan(_apply(after, rebuilt), build=BuildPolicy.NEVER).is_empty


def test_pull_policy_build_always_builds_but_identical_image_recreates_nothing(tmp_path) -> None:
    env = Env(tmp_path)
    observed = _up(env, ObservedStack(name="demo"))
    result = env.plan(observed)
    assert result.render() == "build tools: pull_policy: build\n"
    assert env.plan(observed, build=BuildPolicy.NEVER).is_empty


def test_no_build_refuses_a_missing_image_and_accepts_a_present_one(tmp_path) -> None:
    env = Env(tmp_path)
    with pytest.raises(PlanError, match='service "api" runs image registry.local/api:2, which is not '
                                        "present, and --no-build forbids building it"):
        env.plan(ObservedStack(name="demo"), build=BuildPolicy.NEVER)
    observed = ObservedStack(name="demo", images=FrozenMap({**BUILT, "postgres:16": ID1}))
    result = env.plan(observed, build=BuildPolicy.NEVER)
    assert not [op for op in result.operations if op.type in (OpType.BUILD_IMAGE, OpType.PULL_IMAGE)]


def test_selection_builds_only_what_the_selected_services_run(tmp_path) -> None:
    env = Env(tmp_path)
    result = env.plan(ObservedStack(name="demo"), services=("sidecar",), no_deps=True)
    assert [op.render() for op in result.operations if op.type is OpType.BUILD_IMAGE] == [
        "build web: image demo-web not present"]


def test_built_image_id_enters_only_the_documents_of_services_running_it(tmp_path) -> None:
    env = Env(tmp_path)
    docs = with_image_ids(env.raw_docs, env.stack, {**BUILT, "postgres:16": ID2})
    assert docs["web"]["image_id"] == ID1 and docs["sidecar"]["image_id"] == ID1
    assert docs["api"]["image_id"] == ID2
    # A pulled image's id does not enter (existing hashes stay as they were).
    assert docs["db"] == env.raw_docs["db"]
    assert hash_document(docs["web"]) != hash_document(env.raw_docs["web"])
    assert stack_images(env.stack) == ["demo-tools", "demo-web", "postgres:16", "registry.local/api:2"]


def test_build_command_plan(tmp_path) -> None:
    env = Env(tmp_path)
    assert plan_build_command(env.stack).render() == ("build api: asked to build\n"
                                                      "build tools: asked to build\n"
                                                      "build web: asked to build\n")
    assert plan_build_command(env.stack, ("web", "db")).render() == "build web: asked to build\n"
    with pytest.raises(PlanError, match='no such service: "nope"'):
        plan_build_command(env.stack, ("nope",))


def test_causes_of_a_built_image_change() -> None:
    from orchestrator.hashing import describe_changes

    base = {"service": {"image": "x"}}
    assert describe_changes({**base, "image_id": ID1}, {**base, "image_id": ID2}) == [
        "image rebuilt (sha256:111111111111 -> sha256:222222222222)"]
    assert describe_changes(base, {**base, "image_id": ID2}) == ["image built (sha256:222222222222)"]
    assert describe_changes({**base, "image_id": ID1}, base) == [
        "built image no longer present (was sha256:111111111111)"]
