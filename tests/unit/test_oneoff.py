"""One-off containers of `stackyard run` (orchestrator/oneoff.py): their create request from
the service's regular one, `-p` parsing, and the `up` plan reduced to what they need."""

import pytest

from orchestrator import labels as L
from orchestrator import oneoff
from orchestrator.engine_spec import ContainerSpec
from orchestrator.planner import Operation, OpType, Plan, operation_id

REGULAR = ContainerSpec(
    name="st-web-1",
    body={"Image": "busybox", "Cmd": ["httpd", "-f"], "Entrypoint": ["/init"], "Env": ["A=1"],
          "Labels": {L.PROJECT: "st", L.SERVICE: "web", L.ONEOFF: "False", L.CONFIG_HASH: "v1:x", L.CONFIG_DOC: "{}",
                     "team": "web"},
          "ExposedPorts": {"80/tcp": {}},
          "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
                         "RestartPolicy": {"Name": "always"}, "NetworkMode": "st_front"},
          "NetworkingConfig": {"EndpointsConfig": {"st_front": {
              "Aliases": ["web", "www"], "IPAMConfig": {"IPv4Address": "10.9.0.5"}, "MacAddress": "02:42:0a:09:00:05"}}}},
    extra_networks=(("st_back", {"Aliases": ["web"]}),))


def test_a_one_off_is_marked_named_and_left_without_ports_restart_or_the_services_addresses():
    spec = oneoff.one_off_spec(REGULAR, "st", "web", oneoff.OneOff(slug="ab" * 32))
    assert spec.name == "st-web-run-abababababab"
    labels = spec.body["Labels"]
    assert labels[L.ONEOFF] == "True" and labels[oneoff.SLUG_LABEL] == "ab" * 32 and labels["team"] == "web"
    assert L.CONFIG_HASH not in labels and L.CONFIG_DOC not in labels
    host = spec.body["HostConfig"]
    assert "PortBindings" not in host and "RestartPolicy" not in host and "AutoRemove" not in host
    assert spec.body["NetworkingConfig"] == {"EndpointsConfig": {"st_front": {}}}
    assert spec.extra_networks == (("st_back", {}),)
    assert spec.body["Cmd"] == ["httpd", "-f"] and spec.body["Entrypoint"] == ["/init"]
    assert spec.body["AttachStdin"] and spec.body["OpenStdin"] and spec.body["StdinOnce"]
    assert REGULAR.body["Labels"][L.ONEOFF] == "False"  # the regular request is left as it was


def test_what_the_user_asks_for_overrides_the_service():
    request = oneoff.OneOff(command=("sh", "-c", "env"), environment=("B=2",), user="1000", workdir="/tmp",
                            name="custom", tty=True, service_ports=True, publish=("127.0.0.1:9000:9000/udp",),
                            use_aliases=True, labels={"purpose": "debug"})
    spec = oneoff.one_off_spec(REGULAR, "st", "web", request)
    body = spec.body
    assert spec.name == "custom"
    assert body["Cmd"] == ["sh", "-c", "env"] and body["Env"] == ["A=1", "B=2"]
    assert body["User"] == "1000" and body["WorkingDir"] == "/tmp" and body["Tty"] is True
    assert body["Labels"]["purpose"] == "debug"
    assert body["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "9000/udp": [{"HostIp": "127.0.0.1", "HostPort": "9000"}]}
    assert body["ExposedPorts"] == {"80/tcp": {}, "9000/udp": {}}
    assert body["NetworkingConfig"]["EndpointsConfig"]["st_front"] == {"Aliases": ["web", "www"]}


def test_a_new_entrypoint_drops_the_services_command_unless_one_is_given():
    spec = oneoff.one_off_spec(REGULAR, "st", "web", oneoff.OneOff(entrypoint="echo 'two words'"))
    assert spec.body["Entrypoint"] == ["echo", "two words"] and "Cmd" not in spec.body
    spec = oneoff.one_off_spec(REGULAR, "st", "web", oneoff.OneOff(entrypoint="", command=("ls",)))
    assert spec.body["Entrypoint"] == [""] and spec.body["Cmd"] == ["ls"]


def test_detached_runs_attach_nothing_and_leave_removal_to_the_engine():
    spec = oneoff.one_off_spec(REGULAR, "st", "web", oneoff.OneOff(detach=True, remove=True))
    assert not any(spec.body[k] for k in ("AttachStdin", "AttachStdout", "AttachStderr", "OpenStdin"))
    assert spec.body["HostConfig"]["AutoRemove"] is True
    attached = oneoff.one_off_spec(REGULAR, "st", "web", oneoff.OneOff(remove=True))
    assert "AutoRemove" not in attached.body["HostConfig"]  # removed by the CLI after reading the code


@pytest.mark.parametrize("text, parsed", [
    ("80", ("80/tcp", {"HostIp": "", "HostPort": ""})),
    ("8080:80", ("80/tcp", {"HostIp": "", "HostPort": "8080"})),
    ("127.0.0.1:8080:80/udp", ("80/udp", {"HostIp": "127.0.0.1", "HostPort": "8080"})),
    ("127.0.0.1::80", ("80/tcp", {"HostIp": "127.0.0.1", "HostPort": ""})),
    ("[::1]:8080:80", ("80/tcp", {"HostIp": "::1", "HostPort": "8080"})),
])
def test_publish_values(text, parsed):
    assert oneoff.parse_publish(text) == parsed


@pytest.mark.parametrize("text", ["web", "1:2:3:4", "80/icmp", "a:80"])
def test_bad_publish_values_are_refused(text):
    with pytest.raises(ValueError, match="invalid port mapping"):
        oneoff.parse_publish(text)


def test_the_plan_keeps_what_the_one_off_needs_and_never_touches_the_services_containers():
    def op(kind, target, service=None, depends_on=()):
        return Operation(id=operation_id(kind, target), type=kind, target=target, cause="x", service=service,
                         depends_on=tuple(depends_on))
    net = op(OpType.CREATE_NETWORK, "st_front")
    pull = op(OpType.PULL_IMAGE, "busybox")
    db = op(OpType.CREATE_CONTAINER, "st-db-1", "db", [net.id, pull.id])
    web = op(OpType.CREATE_CONTAINER, "st-web-1", "web", [net.id, pull.id, db.id])
    old = op(OpType.REMOVE_CONTAINER, "st-web-2", "web")
    reduced = oneoff.plan_for_run(Plan(stack="st", operations=(net, pull, db, web, old)), "web")
    assert [o.id for o in reduced.operations] == [net.id, pull.id, db.id]


def test_e_values_replace_the_services_own_keys_in_place():
    request = oneoff.OneOff(environment=("A=2", "C=3", "C=4"))
    body = oneoff.one_off_spec(REGULAR, "st", "web", request).body
    # one entry per key: dockerd keeps duplicates and getenv() would read the service's A=1
    assert body["Env"] == ["A=2", "C=4"]


def test_a_one_off_waits_for_every_replica_of_its_dependencies_as_up_would(tmp_path):
    from orchestrator.loader import LoadOptions, load_stack
    from orchestrator.model import Condition

    (tmp_path / "compose.yaml").write_text("""\
name: st
services:
  db:
    image: busybox
    deploy: {replicas: 2}
    healthcheck: {test: [CMD, "true"]}
  migrate: {image: busybox}
  cache: {image: busybox, container_name: the-cache}
  web:
    image: busybox
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
      cache: {condition: service_started, required: false}
""")
    stack = load_stack(LoadOptions(cwd=str(tmp_path), environ={})).stack
    waits = {(w.container, w.condition, w.required) for w in oneoff.dependency_waits(stack, "web")}
    assert waits == {("st-db-1", Condition.HEALTHY, True), ("st-db-2", Condition.HEALTHY, True),
                     ("st-migrate-1", Condition.COMPLETED_SUCCESSFULLY, True),
                     ("the-cache", Condition.STARTED, False)}
    assert oneoff.dependency_waits(stack, "db") == ()
