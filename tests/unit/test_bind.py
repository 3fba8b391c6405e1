"""loader.bind: canonical tree -> immutable model."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator import model as m
from orchestrator.errors import Report
from orchestrator.loader.bind import bind
from orchestrator.loader.context import LoadContext, LoadOptions
from orchestrator.loader.parse import parse

CANONICAL = """
name: demo
services:
  web:
    image: nginx:1.27
    command: ["nginx", "-g", "daemon off;"]
    entrypoint: []
    environment: {A: "1", B: null}
    env_file:
      - {path: /proj/web.env, required: false}
    labels: {com.example.tier: front}
    ports:
      - {mode: ingress, target: 80, published: "8080", protocol: tcp, host_ip: 127.0.0.1}
      - {mode: ingress, target: 53, protocol: udp}
    volumes:
      - {type: bind, source: /proj/html, target: /usr/share/nginx/html, read_only: true,
         bind: {create_host_path: true}}
      - {type: volume, source: data, target: /data, volume: {nocopy: true}}
      - {type: tmpfs, target: /tmp, tmpfs: {size: 1048576}}
    depends_on:
      db: {condition: service_healthy, required: true, restart: true}
    networks:
      default: null
      back: {aliases: [www], ipv4_address: 10.0.0.5}
    healthcheck:
      test: [CMD-SHELL, "curl -f http://localhost"]
      interval: 1m30s
      timeout: 1.5s
      start_period: 0s
      retries: 3
    deploy:
      replicas: 3
      resources:
        limits: {cpus: "0.5", memory: 536870912, pids: 100}
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3}
      placement: {constraints: [node.role==manager]}
    stop_grace_period: 2m
    mem_limit: 1073741824
    cpus: 1.5
    ulimits: {nofile: {soft: 1024, hard: 2048}}
    devices: [{source: /dev/fuse, target: /dev/fuse, permissions: rwm}]
    secrets: [{source: token, target: /run/secrets/token, mode: 0440}]
    extra_hosts: {db.local: 10.0.0.9}
    logging: {driver: json-file, options: {max-size: 10m}}
    profiles: [web]
    init: true
    blkio_config: {weight: 300, weight_device: [{path: /dev/sda, weight: 400}]}
    x-owner: {team: [a, b]}
  db:
    image: postgres:16
    scale: 2
    deploy: {replicas: 2}
    build: {context: /proj/db, dockerfile: Dockerfile, args: {V: "16"}}
networks:
  default: {name: demo_default}
  back: {name: demo_back, driver: bridge, internal: true,
         ipam: {config: [{subnet: 10.0.0.0/24}]}}
volumes:
  data: {name: demo_data, labels: {k: v}}
secrets:
  token: {name: demo_token, file: /proj/token.txt}
configs:
  ext: {name: shared, external: true}
models:
  llm: {model: ai/smollm2}
x-common: {a: 1}
"""


def _load(text: str = CANONICAL, **options) -> m.Stack:
    report = Report()
    (tree,) = parse(text, "c.yaml", report)
    assert not report.has_errors, report.diagnostics
    ctx = LoadContext(options=LoadOptions(**options), project_dir="/proj",
                      env={"HOME": "/root"}, project_name="demo",
                      config_files={"c.yaml": "/proj/c.yaml"})
    return bind(tree, ctx)


@pytest.fixture(scope="module")
def stack() -> m.Stack:
    return _load(profiles=("web",))


def test_bind_stack_top_level(stack: m.Stack) -> None:
    assert stack.name == "demo"
    assert stack.project_dir == "/proj"
    assert stack.config_files == ("/proj/c.yaml",)
    assert stack.profiles == ("web",)
    assert stack.environment == {"HOME": "/root"}
    assert list(stack.services) == ["web", "db"]
    assert stack.extensions == {"x-common": m.FrozenMap({"a": 1})}
    assert set(stack.extra) == {"models"}


def test_bind_service_scalars_and_commands(stack: m.Stack) -> None:
    web = stack.services["web"]
    assert web.name == "web"
    assert web.image == "nginx:1.27"
    assert web.command == ("nginx", "-g", "daemon off;")
    assert web.entrypoint == ()
    assert stack.services["db"].command is None
    assert web.environment == {"A": "1", "B": None}
    assert web.env_files == (m.EnvFileRef(path="/proj/web.env", required=False),)
    assert web.init is True and web.privileged is False
    assert web.profiles == ("web",)


def test_bind_service_ports_and_volumes(stack: m.Stack) -> None:
    web = stack.services["web"]
    assert web.ports[0] == m.PortMapping(target=80, published="8080", host_ip="127.0.0.1")
    assert web.ports[1].protocol is m.Protocol.UDP and web.ports[1].published is None
    bind_mount, volume, tmpfs = web.volumes
    assert bind_mount.type is m.MountType.BIND and bind_mount.read_only
    assert bind_mount.bind == m.BindOptions(create_host_path=True)
    assert volume.source == "data" and volume.volume == m.VolumeOptions(nocopy=True)
    assert tmpfs.tmpfs == m.TmpfsOptions(size=1048576) and tmpfs.source is None


def test_bind_service_dependencies_and_networks(stack: m.Stack) -> None:
    web = stack.services["web"]
    assert web.depends_on["db"] == m.Dependency(condition=m.Condition.HEALTHY, restart=True)
    assert web.networks["default"] is None
    assert web.networks["back"].aliases == ("www",)
    assert web.networks["back"].ipv4_address == "10.0.0.5"


def test_bind_durations_and_sizes(stack: m.Stack) -> None:
    web = stack.services["web"]
    hc = web.healthcheck
    assert (hc.test, hc.interval, hc.timeout, hc.start_period, hc.retries) == (
        ("CMD-SHELL", "curl -f http://localhost"), 90.0, 1.5, 0.0, 3)
    assert not hc.is_disabled
    assert web.stop_grace_period == 120.0
    assert web.mem_limit == 1 << 30 and web.cpus == 1.5
    limits = web.deploy.resources.limits
    assert (limits.cpus, limits.memory, limits.pids) == (0.5, 512 << 20, 100)
    assert web.deploy.restart_policy == m.RestartPolicy(condition="on-failure", delay=5.0,
                                                        max_attempts=3)
    assert "placement" in web.deploy.extra


def test_bind_replicas_from_scale_or_deploy(stack: m.Stack) -> None:
    assert stack.services["web"].replicas == 3
    assert stack.services["db"].replicas == 2
    text = "services:\n  one:\n    image: x\n"
    assert _load(text).services["one"].replicas == 1


def test_bind_service_misc(stack: m.Stack) -> None:
    web = stack.services["web"]
    assert web.ulimits["nofile"] == m.Ulimit(soft=1024, hard=2048)
    assert web.devices == (m.Device(source="/dev/fuse", target="/dev/fuse", permissions="rwm"),)
    assert web.secrets == (m.FileReference(source="token", target="/run/secrets/token", mode=0o440),)
    assert web.extra_hosts == {"db.local": "10.0.0.9"}
    assert web.logging == m.Logging(driver="json-file", options=m.FrozenMap({"max-size": "10m"}))
    assert web.extensions["x-owner"] == m.FrozenMap({"team": ("a", "b")})
    assert web.extra["blkio_config"]["weight_device"][0]["weight"] == 400
    db = stack.services["db"]
    assert db.build.context == "/proj/db" and db.build.args == {"V": "16"}


def test_bind_top_level_resources(stack: m.Stack) -> None:
    back = stack.networks["back"]
    assert back.name == "demo_back" and back.internal and back.driver == "bridge"
    assert back.ipam.config == (m.IpamPool(subnet="10.0.0.0/24"),)
    assert stack.volumes["data"] == m.Volume(name="demo_data", labels=m.FrozenMap({"k": "v"}))
    assert stack.secrets["token"].file == "/proj/token.txt"
    assert stack.configs["ext"] == m.Config(name="shared", external=True)


def test_bind_profiles_from_compose_profiles_env() -> None:
    report = Report()
    (tree,) = parse("services:\n  a:\n    image: x\n", "c.yaml", report)
    ctx = LoadContext(options=LoadOptions(), project_dir="/p", env={"COMPOSE_PROFILES": "a, b"},
                      project_name="p")
    assert bind(tree, ctx).profiles == ("a", "b")


def _walk(value, path="stack"):
    yield path, value
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, m.FrozenMap):
        for k, v in value.items():
            yield from _walk(v, f"{path}[{k!r}]")
    elif isinstance(value, tuple):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


def test_bind_model_has_no_mutable_containers(stack: m.Stack) -> None:
    for path, value in _walk(stack):
        assert not isinstance(value, (dict, list, set)), path
    hash(stack)  # everything is hashable


def test_bind_model_is_immutable(stack: m.Stack) -> None:
    web = stack.services["web"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        web.image = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        web.healthcheck.retries = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        stack.services["new"] = web  # type: ignore[index]
    with pytest.raises(AttributeError):
        stack.services._data = {}  # type: ignore[attr-defined]


def test_frozen_map_equality_ignores_order() -> None:
    a = m.FrozenMap({"x": 1, "y": (1, 2)})
    b = m.FrozenMap({"y": (1, 2), "x": 1})
    assert a == b and hash(a) == hash(b)
    assert m.freeze({"a": [{"b": 1}]}) == m.FrozenMap({"a": (m.FrozenMap({"b": 1}),)})
