"""planner: desired (real loader) + observed (by hand) -> plan, compared as rendered text.

Golden files live in tests/unit/golden/<name>.txt; `STACKYARD_UPDATE_GOLDEN=1 pytest ...`
rewrites them. Observed states are built by `_apply`, a tiny executor stand-in that turns a
plan's operations into observed objects the way the real executor labels them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from orchestrator.hashing import config_document, describe_changes, hash_document
from orchestrator.labels import CONFIG_HASH
from orchestrator.loader import LoadOptions, load_stack
from orchestrator.loader.tree import plain
from orchestrator.model import FrozenMap, Stack
from orchestrator.observed import (ObservedContainer, ObservedNetwork, ObservedStack,
                                   ObservedVolume)
from orchestrator.planner import (CONFIG_DOC_LABEL, OpType, Plan, PlanError, PlanOptions,
                                  PullPolicy, plan)

GOLDEN = Path(__file__).parent / "golden"

STACK = """
name: demo
services:
  db:
    image: postgres:16
    environment: {POSTGRES_PASSWORD: "${DB_PASSWORD:-example}"}
    configs: [{source: mycnf, target: /etc/my.cnf}]
    healthcheck: {test: ["CMD", "pg_isready"], interval: 5s}
    volumes: [data:/var/lib/postgresql/data]
    networks: [back]
  migrate:
    image: app:1
    command: ["migrate"]
    depends_on: {db: {condition: service_healthy}}
    networks: [back]
  web:
    image: app:1
    environment: {FOO: "${FOO:-1}"}
    env_file: [web.env]
    ports: ["127.0.0.1:8080:80"]
    depends_on:
      db: {condition: service_healthy, restart: true}
      migrate: {condition: service_completed_successfully}
    networks: [front, back]
  worker:
    image: app:1
    scale: 2
    depends_on: {web: {condition: service_started}}
    networks: [back]
  debug:
    image: busybox
    profiles: [debug]
networks:
  front: {}
  back: {internal: "${BACK_INTERNAL:-false}"}
volumes:
  data: {driver_opts: {o: "${DATA_OPTS:-size=1g}"}}
configs:
  mycnf: {file: ./conf/my.cnf}
"""


class Env:
    """One loaded stack: the model, the config documents, and the directory it lives in."""

    def __init__(self, tmp_path: Path, environ: dict | None = None, text: str = STACK):
        self.dir = tmp_path
        (tmp_path / "conf").mkdir(exist_ok=True)
        if not (tmp_path / "conf" / "my.cnf").exists():
            (tmp_path / "conf" / "my.cnf").write_text("max_connections=100\n")
        if not (tmp_path / "web.env").exists():
            (tmp_path / "web.env").write_text("LOG=info\n")
        (tmp_path / "compose.yaml").write_text(text)
        result = load_stack(LoadOptions(cwd=str(tmp_path), environ=environ or {}))
        assert result.stack is not None
        self.stack: Stack = result.stack
        canonical = plain(result.canonical)
        self.docs = {name: config_document(canonical, name) for name in canonical["services"]}

    def plan(self, observed: ObservedStack, **options) -> Plan:
        return plan(self.stack, observed, self.docs, PlanOptions(**options))

    def text(self, result: Plan) -> str:
        return result.render().replace(str(self.dir), "<dir>")


def _apply(result: Plan, observed: ObservedStack) -> ObservedStack:
    """What the executor would leave behind after carrying out `result`."""
    containers = {c.name: c for c in observed.containers}
    networks = {n.name: n for n in observed.networks}
    volumes = {v.name: v for v in observed.volumes}
    images = dict(observed.images)
    for op in result.operations:
        labels = FrozenMap({CONFIG_HASH: op.config_hash, CONFIG_DOC_LABEL: op.config})
        if op.type in (OpType.CREATE_CONTAINER, OpType.RECREATE_CONTAINER):
            containers[op.target] = ObservedContainer(
                id=f"id-{op.target}-{len(containers)}", name=op.target, service=op.service,
                number=op.number, config_hash=op.config_hash, state="running", labels=labels)
        elif op.type in (OpType.START_CONTAINER, OpType.RESTART_CONTAINER):
            containers[op.target] = dataclasses.replace(containers[op.target], state="running")
        elif op.type is OpType.REMOVE_CONTAINER:
            del containers[op.target]
        elif op.type in (OpType.CREATE_NETWORK, OpType.RECREATE_NETWORK):
            networks[op.target] = ObservedNetwork(id=f"net-{op.target}", name=op.target,
                                                  key=op.resource, config_hash=op.config_hash,
                                                  labels=labels)
        elif op.type is OpType.CREATE_VOLUME:
            volumes[op.target] = ObservedVolume(name=op.target, key=op.resource,
                                                config_hash=op.config_hash, labels=labels)
        elif op.type is OpType.REMOVE_VOLUME:
            del volumes[op.target]
        elif op.type is OpType.PULL_IMAGE:
            images[op.target] = f"sha256:{op.target}"
    return ObservedStack(name=observed.name, containers=tuple(containers.values()),
                         networks=tuple(networks.values()), volumes=tuple(volumes.values()),
                         images=FrozenMap(images))


def _converged(env: Env) -> ObservedStack:
    observed = _apply(env.plan(ObservedStack(name="demo")), ObservedStack(name="demo"))
    # The migration job ran to completion.
    return _with_container(observed, "demo-migrate-1", state="exited", exit_code=0)


def _with_container(observed: ObservedStack, name: str, **changes) -> ObservedStack:
    containers = tuple(dataclasses.replace(c, **changes) if c.name == name else c
                       for c in observed.containers)
    return dataclasses.replace(observed, containers=containers)


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("STACKYARD_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: run with STACKYARD_UPDATE_GOLDEN=1"
    assert text == path.read_text()


# ---- whole plans -------------------------------------------------------------------------

def test_plan_empty_observed_creates_everything(tmp_path) -> None:
    env = Env(tmp_path)
    result = env.plan(ObservedStack(name="demo"))
    _check_golden("full_create", env.text(result))
    web = next(op for op in result.operations if op.target == "demo-web-1")
    assert web.depends_on == ("pull-image:app:1", "create-container:demo-db-1",
                              "create-container:demo-migrate-1", "create-network:demo_back",
                              "create-network:demo_front")
    assert [(w.container, w.condition.value) for w in web.waits] == [
        ("demo-db-1", "service_healthy"), ("demo-migrate-1", "service_completed_successfully")]
    assert web.config_hash == hash_document(env.docs["web"])
    assert json.loads(web.config) == env.docs["web"]
    # Every dependency comes earlier in the plan.
    seen: set[str] = set()
    for op in result.operations:
        assert set(op.depends_on) <= seen, op.id
        seen.add(op.id)


def test_plan_converged_stack_is_empty(tmp_path) -> None:
    env = Env(tmp_path)
    result = env.plan(_converged(env))
    assert result.is_empty and result.operations == () and result.warnings == ()
    assert result.render() == "nothing to do\n"


def test_plan_environment_change_recreates_exactly_one(tmp_path) -> None:
    observed = _converged(Env(tmp_path))
    env = Env(tmp_path, {"FOO": "2"})
    result = env.plan(observed)
    assert [op.render() for op in result.operations] == [
        "recreate demo-web-1: environment.FOO changed"]
    assert result.operations[0].observed_id.startswith("id-demo-web-1")
    assert env.plan(_apply(result, observed)).is_empty


def test_plan_config_file_change_recreates_services_mounting_it(tmp_path) -> None:
    observed = _converged(Env(tmp_path))
    (tmp_path / "conf" / "my.cnf").write_text("max_connections=200\n")
    env = Env(tmp_path)
    result = env.plan(observed)
    _check_golden("config_file_change", env.text(result))
    assert result.operations[0].cause == f'content of {tmp_path}/conf/my.cnf (config "mycnf") changed'


def test_plan_dependency_recreated_restarts_restart_true_dependents(tmp_path) -> None:
    observed = _converged(Env(tmp_path))
    env = Env(tmp_path, {"DB_PASSWORD": "other"})
    result = env.plan(observed)
    _check_golden("restart_dependent", env.text(result))
    restart = result.operations[1]
    assert restart.type is OpType.RESTART_CONTAINER
    assert restart.depends_on == ("recreate-container:demo-db-1",)
    # The secret value is not shown, only which key changed.
    assert "other" not in result.render()


def test_plan_scale_up_and_down(tmp_path) -> None:
    env = Env(tmp_path)
    observed = _converged(env)
    up = env.plan(observed, scale=FrozenMap({"worker": 3}))
    assert [op.render() for op in up.operations] == ["create demo-worker-3: scale 2 -> 3"]
    down = env.plan(observed, scale=FrozenMap({"worker": 1}))
    assert [op.render() for op in down.operations] == ["remove demo-worker-2: scale 2 -> 1"]
    assert down.operations[0].observed_id.startswith("id-demo-worker-2")


def test_plan_orphans_warned_without_remove_orphans(tmp_path) -> None:
    env = Env(tmp_path)
    observed = _converged(env)
    old = ObservedContainer(id="id-old", name="demo-old-1", service="old", number=1,
                            config_hash="v1:x", state="running")
    observed = dataclasses.replace(observed, containers=observed.containers + (old,))
    kept = env.plan(observed)
    assert kept.is_empty
    assert kept.warnings == ('orphan container demo-old-1: service no longer declared '
                             '(--remove-orphans removes it)',)
    removed = env.plan(observed, remove_orphans=True)
    _check_golden("orphans_removed", env.text(removed))


def test_plan_inactive_profile_services_are_not_orphans_unless_asked(tmp_path) -> None:
    env = Env(tmp_path)
    debug = ObservedContainer(id="id-debug", name="demo-debug-1", service="debug", number=1,
                              config_hash="v1:x", state="running")
    observed = _converged(env)
    observed = dataclasses.replace(observed, containers=observed.containers + (debug,))
    quiet = env.plan(observed, remove_orphans=True, inactive_services=frozenset({"debug"}))
    assert quiet.is_empty and quiet.warnings == ()
    asked = env.plan(observed, remove_orphans=True, inactive_services=frozenset({"debug"}),
                     remove_inactive=True)
    assert [op.render() for op in asked.operations] == [
        "remove demo-debug-1: service not enabled by the active profiles"]


def test_plan_other_hash_version_never_recreates(tmp_path) -> None:
    observed = _converged(Env(tmp_path))
    containers = tuple(dataclasses.replace(c, config_hash="v0:" + "0" * 64, labels=FrozenMap())
                       for c in observed.containers)
    observed = dataclasses.replace(observed, containers=containers)
    env = Env(tmp_path, {"FOO": "2"})
    assert env.plan(observed).is_empty
    # Nor does a container without our hash (made by another tool).
    foreign = dataclasses.replace(observed, containers=tuple(
        dataclasses.replace(c, config_hash=None) for c in observed.containers))
    assert env.plan(foreign).is_empty


def test_plan_stopped_container_is_started(tmp_path) -> None:
    env = Env(tmp_path)
    observed = _with_container(_converged(env), "demo-web-1", state="exited", exit_code=137)
    result = env.plan(observed)
    assert [op.render() for op in result.operations] == [
        "start demo-web-1: stopped, expected running"]
    assert result.operations[0].config_hash is None


def test_plan_completed_job_is_not_rerun_but_a_failed_one_is(tmp_path) -> None:
    env = Env(tmp_path)
    assert env.plan(_converged(env)).is_empty
    failed = _with_container(_converged(env), "demo-migrate-1", exit_code=1)
    assert [op.render() for op in env.plan(failed).operations] == [
        "start demo-migrate-1: stopped, expected running"]


def test_plan_network_change_recreates_network_and_its_containers(tmp_path) -> None:
    observed = _converged(Env(tmp_path))
    env = Env(tmp_path, {"BACK_INTERNAL": "true"})
    result = env.plan(observed)
    _check_golden("network_change", env.text(result))
    assert result.operations[0].type is OpType.RECREATE_NETWORK
    assert env.plan(_apply(result, observed)).is_empty


def test_plan_volume_change_is_refused_without_recreate_volumes(tmp_path) -> None:
    observed = _converged(Env(tmp_path))
    env = Env(tmp_path, {"DATA_OPTS": "size=2g"})
    with pytest.raises(PlanError) as info:
        env.plan(observed)
    message = str(info.value)
    assert 'volume "data" (demo_data)' in message and "driver_opts.o changed (size=1g -> size=2g)" in message
    assert "data" in message and "--recreate-volumes" in message
    result = env.plan(observed, recreate_volumes=True)
    _check_golden("volume_recreated", env.text(result))
    assert env.plan(_apply(result, observed)).is_empty


def test_plan_force_and_no_recreate(tmp_path) -> None:
    observed = _converged(Env(tmp_path))
    env = Env(tmp_path, {"FOO": "2"})
    assert env.plan(observed, no_recreate=True).is_empty
    forced = env.plan(observed, force_recreate=True, services=("web",), no_deps=True)
    assert [op.render() for op in forced.operations] == [
        "recreate demo-web-1: forced (--force-recreate)"]
    with pytest.raises(PlanError, match="cannot be used together"):
        env.plan(observed, force_recreate=True, no_recreate=True)


def test_plan_selection_includes_dependencies_unless_no_deps(tmp_path) -> None:
    env = Env(tmp_path)
    empty = ObservedStack(name="demo")
    with_deps = env.plan(empty, services=("web",))
    targets = [op.target for op in with_deps.operations]
    assert "demo-db-1" in targets and "demo-worker-1" not in targets
    alone = env.plan(empty, services=("web",), no_deps=True)
    assert [op.target for op in alone.operations if op.service] == ["demo-web-1"]
    assert alone.operations[-1].waits == ()
    with pytest.raises(PlanError, match='no such service: "nope"'):
        env.plan(empty, services=("nope",))


def test_plan_pull_policies(tmp_path) -> None:
    env = Env(tmp_path)
    observed = _converged(env)
    always = env.plan(observed, pull=PullPolicy.ALWAYS)
    assert [op.render() for op in always.operations] == [
        "pull image app:1: pull policy always", "pull image postgres:16: pull policy always"]
    never = env.plan(ObservedStack(name="demo"), pull=PullPolicy.NEVER)
    assert not [op for op in never.operations if op.type is OpType.PULL_IMAGE]


def test_plan_json_round_trips(tmp_path) -> None:
    env = Env(tmp_path)
    result = env.plan(ObservedStack(name="demo"))
    text = result.to_json()
    assert Plan.from_json(text) == result
    data = json.loads(text)
    assert data["operations"][0]["type"] == "create-network"
    assert data["operations"][-1]["waits"][0]["condition"] == "service_started"


def test_plan_waves_follow_dependencies(tmp_path) -> None:
    env = Env(tmp_path)
    waves = [[op.target for op in wave] for wave in env.plan(ObservedStack(name="demo")).waves()]
    assert waves[0][:3] == ["demo_back", "demo_front", "demo_data"]
    assert waves[1:] == [["demo-db-1"], ["demo-migrate-1"], ["demo-web-1"],
                         ["demo-worker-1", "demo-worker-2"]]


def test_plan_undescribed_change_says_configuration_changed(tmp_path) -> None:
    observed = _converged(Env(tmp_path))
    observed = _with_container(observed, "demo-web-1", labels=FrozenMap())
    env = Env(tmp_path, {"FOO": "2"})
    assert [op.render() for op in env.plan(observed).operations] == [
        "recreate demo-web-1: configuration changed"]


# ---- config documents and their explanation -----------------------------------------------

def test_config_document_is_what_service_hash_hashes(tmp_path) -> None:
    from orchestrator.hashing import service_hash
    env = Env(tmp_path)
    result = load_stack(LoadOptions(cwd=str(tmp_path), environ={}))
    canonical = plain(result.canonical)
    doc = env.docs["db"]
    assert hash_document(doc) == service_hash(canonical, "db")
    path = f"{tmp_path}/conf/my.cnf"
    assert doc["file_roles"] == {path: ['config "mycnf"']}
    assert doc["files"][path].startswith("sha256:")
    assert "depends_on" not in env.docs["web"]["service"]
    with_digest = config_document(canonical, "db", image_digest="sha256:" + "a" * 64)
    assert with_digest["image_digest"] == "sha256:" + "a" * 64


def test_describe_changes_names_what_changed() -> None:
    old = {"service": {"image": "nginx:1", "environment": {"FOO": "a", "OLD": "x"},
                       "ports": [{"target": 80}]},
           "files": {"/p/a.env": "sha256:1", "/p/gone": "sha256:3"},
           "file_roles": {"/p/a.env": ["env_file"], "/p/gone": ['secret "s"']},
           "resources": {"configs": {"c": {"content": "1"}}}}
    new = {"service": {"image": "nginx:2", "environment": {"FOO": "b", "NEW": "y"},
                       "ports": [{"target": 81}]},
           "files": {"/p/a.env": "sha256:2", "/p/gone": None},
           "file_roles": {"/p/a.env": ["env_file"], "/p/gone": ['secret "s"']},
           "resources": {"configs": {"c": {"content": "2"}}},
           "image_digest": "sha256:" + "b" * 64}
    assert describe_changes(old, new, limit=20) == [
        '/p/gone (secret "s") no longer exists',
        "content of /p/a.env (env_file) changed",
        'definition of config "c" changed',
        "environment.FOO changed",
        "environment.NEW added",
        "environment.OLD removed",
        "image changed (nginx:1 -> nginx:2)",
        "image digest changed (unknown -> sha256:bbbbbbbbbbbb)",
        "ports changed",
    ]
    short = describe_changes(old, new)
    assert len(short) == 6 and short[-1] == "and 4 more"
    assert describe_changes(new, new) == []


SHARED = """
name: demo
services:
  web:
    image: app:1
    environment: {FOO: "${FOO:-1}"}
  sidecar:
    image: busybox
    network_mode: service:web
"""


def test_plan_namespace_sharing_dependent_is_recreated_with_its_dependency(tmp_path) -> None:
    first = Env(tmp_path, text=SHARED)
    observed = _apply(first.plan(ObservedStack(name="demo")), ObservedStack(name="demo"))
    assert first.plan(observed).is_empty
    env = Env(tmp_path, {"FOO": "2"}, text=SHARED)
    assert [op.render() for op in env.plan(observed).operations] == [
        "recreate demo-web-1: environment.FOO changed",
        "recreate demo-sidecar-1: dependency web recreated (network_mode: service:web)",
    ]
