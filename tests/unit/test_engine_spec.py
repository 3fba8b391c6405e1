"""Service -> Engine API create bodies (pure), and observed state rebuilt from list replies."""

import json

from orchestrator import labels as L
from orchestrator.engine_spec import container_spec, network_body, volume_body
from orchestrator.loader import LoadOptions, load_stack
from orchestrator.observe import observe

STACK = """\
name: demo
services:
  web:
    image: nginx:1
    command: [nginx, -g, daemon off;]
    ports: ["127.0.0.1:8080:80", "443"]
    volumes: ["./html:/usr/share/nginx/html:ro", "data:/data", {type: tmpfs, target: /cache}]
    networks: {front: {aliases: [www]}, back: {}}
    healthcheck: {test: [CMD, "true"], interval: 1m30s, retries: 3}
    restart: on-failure:3
    deploy: {resources: {limits: {memory: 64m, cpus: "0.5"}}}
  db:
    image: postgres
    network_mode: service:web
volumes:
  data: {}
networks:
  front: {}
  back: {internal: true}
"""


def _stack(tmp_path):
    (tmp_path / "compose.yaml").write_text(STACK)
    return load_stack(LoadOptions(cwd=str(tmp_path), environ={})).stack


def test_container_spec_maps_the_service(tmp_path):
    stack = _stack(tmp_path)
    spec = container_spec(stack, stack.services["web"], 1, config_hash="v1:abc",
                          config='{"image":"nginx:1"}', environment={"A": "1"})
    body = spec.body
    assert spec.name == "demo-web-1"
    assert body["Image"] == "nginx:1" and body["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert body["Env"] == ["A=1"]
    assert body["Labels"][L.PROJECT] == "demo" and body["Labels"][L.SERVICE] == "web"
    assert body["Labels"][L.CONTAINER_NUMBER] == "1" and body["Labels"][L.CONFIG_HASH] == "v1:abc"
    assert json.loads(body["Labels"][L.CONFIG_DOC]) == {"image": "nginx:1"}
    assert body["ExposedPorts"] == {"80/tcp": {}, "443/tcp": {}}
    assert body["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 90_000_000_000, "Retries": 3}
    host = body["HostConfig"]
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                                    "443/tcp": [{"HostIp": "", "HostPort": ""}]}
    assert host["Binds"] == [f"{tmp_path}/html:/usr/share/nginx/html:ro"]
    assert host["Mounts"] == [{"Type": "volume", "Target": "/data", "ReadOnly": False, "Source": "demo_data"},
                              {"Type": "tmpfs", "Target": "/cache"}]
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["Memory"] == 64 * 1024 * 1024 and host["NanoCpus"] == 500_000_000
    assert host["NetworkMode"] == "demo_front"
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"demo_front": {"Aliases": ["web", "www"]}}}
    assert spec.extra_networks == (("demo_back", {"Aliases": ["web"]}),)


def test_container_spec_network_mode_service_joins_first_replica(tmp_path):
    stack = _stack(tmp_path)
    spec = container_spec(stack, stack.services["db"], 1, config_hash="v1:x", config="{}", environment={})
    assert spec.body["HostConfig"]["NetworkMode"] == "container:demo-web-1"
    assert "NetworkingConfig" not in spec.body


def test_network_and_volume_bodies_carry_stack_labels(tmp_path):
    stack = _stack(tmp_path)
    net = network_body(stack, "back", stack.networks["back"], config_hash="v1:n")
    assert net["Name"] == "demo_back" and net["Internal"] is True
    assert net["Labels"] == {L.PROJECT: "demo", L.NETWORK: "back", L.CONFIG_HASH: "v1:n"}
    vol = volume_body(stack, "data", stack.volumes["data"], config_hash="v1:v")
    assert vol["Name"] == "demo_data" and vol["Labels"][L.VOLUME] == "data"


class _ListingEngine:
    """Answers the three list calls `observe` makes with canned Engine API replies."""

    def __init__(self):
        self.calls = []

    def list_containers(self, *, all, filters):
        self.calls.append(("containers", all, filters))
        return [{"Id": "c1", "Names": ["/demo-web-1"], "State": "running", "Status": "Up 3 minutes (healthy)",
                 "Image": "nginx:1", "ImageID": "sha256:i",
                 "Labels": {L.PROJECT: "demo", L.SERVICE: "web", L.CONTAINER_NUMBER: "1", L.CONFIG_HASH: "v1:h"},
                 "NetworkSettings": {"Networks": {"demo_front": {}}}},
                {"Id": "c2", "Names": ["/demo-job-1"], "State": "exited", "Status": "Exited (3) 1 second ago",
                 "Labels": {L.PROJECT: "demo", L.SERVICE: "job", L.CONTAINER_NUMBER: "1"}}]

    def list_networks(self, *, filters):
        self.calls.append(("networks", filters))
        return [{"Id": "n1", "Name": "demo_front", "Labels": {L.NETWORK: "front", L.CONFIG_HASH: "v1:n"}}]

    def list_volumes(self, *, filters):
        self.calls.append(("volumes", filters))
        return [{"Name": "demo_data", "Labels": {L.VOLUME: "data"}}]


def test_observe_makes_one_filtered_call_per_kind_and_reads_labels():
    engine = _ListingEngine()
    observed = observe(engine, "demo")
    selector = {"label": [f"{L.PROJECT}=demo"]}
    # One call per kind, asked concurrently (so in no fixed order).
    assert sorted(engine.calls, key=str) == sorted(
        [("containers", True, selector), ("networks", selector), ("volumes", selector)], key=str)
    job, web = observed.containers
    assert (web.name, web.service, web.number, web.config_hash, web.health) == ("demo-web-1", "web", 1, "v1:h", "healthy")
    assert web.networks == ("demo_front",)
    assert (job.state, job.exit_code, job.config_hash) == ("exited", 3, None)
    assert observed.networks[0].key == "front" and observed.volumes[0].key == "data"
