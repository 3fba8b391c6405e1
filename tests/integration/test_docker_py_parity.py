"""The same docker-py snippets run through docker-py (PyPI `docker`) and through our
`orchestrator.engine.DockerClient` on the same dockerd, comparing what they return."""

import threading
import time
import uuid

import pytest

from orchestrator import engine as ours_module
from orchestrator.engine.highlevel import ContainerError
from runtime import errdefs

docker = pytest.importorskip("docker", reason="parity tests need docker-py (PyPI docker)")

pytestmark = pytest.mark.dockerd


@pytest.fixture(scope="module")
def clients(dockerd):
    """(docker-py client, our client), both on the private dockerd."""
    theirs = docker.DockerClient(base_url=dockerd.host)
    ours = ours_module.DockerClient(base_url=dockerd.host)
    yield theirs, ours
    theirs.close()
    ours.close()


@pytest.fixture
def cleanup(clients):
    """Registers names to remove at the end of the test: ("container"|"network"|"volume", name)."""
    _theirs, ours = clients
    made = []
    yield made
    removers = {"container": lambda n: ours.engine.remove_container(n, force=True, volumes=True),
                "network": ours.engine.remove_network, "volume": ours.engine.remove_volume}
    for order in ("container", "network", "volume"):
        for kind, name in made:
            if kind == order:
                try:
                    removers[kind](name)
                except errdefs.NotFound:
                    pass


def _names(what):
    """One name for docker-py's object and one for ours."""
    tag = uuid.uuid4().hex[:8]
    return f"sytest-{what}-py-{tag}", f"sytest-{what}-sy-{tag}"


def both(clients, snippet):
    """`snippet(client)` through docker-py and through ours."""
    theirs, ours = clients
    return snippet(theirs), snippet(ours)


def test_ping_version_info(clients):
    theirs, ours = both(clients, lambda c: c.ping())
    assert theirs is ours is True
    theirs, ours = both(clients, lambda c: c.version())
    assert ours["ApiVersion"] and ours["ApiVersion"] == theirs["ApiVersion"]
    assert set(ours) == set(theirs)
    theirs, ours = both(clients, lambda c: c.info())
    assert ours["ID"] == theirs["ID"]


def test_run_with_remove_returns_the_same_output(clients, busybox_image):
    command = ["sh", "-c", "echo out; echo err >&2"]
    theirs, ours = both(clients, lambda c: c.containers.run(busybox_image, command, remove=True))
    assert ours == theirs == b"out\n"
    theirs, ours = both(clients, lambda c: c.containers.run(busybox_image, command, remove=True, stderr=True))
    assert sorted(ours.splitlines()) == sorted(theirs.splitlines()) == [b"err", b"out"]
    theirs, ours = both(clients, lambda c: c.containers.run(busybox_image, "echo hello world", remove=True))
    assert ours == theirs == b"hello world\n"


def test_run_failing_command_raises_container_error_with_stderr(clients, busybox_image):
    theirs_client, ours_client = clients
    command = ["sh", "-c", "echo bad >&2; exit 3"]
    with pytest.raises(docker.errors.ContainerError) as theirs:
        theirs_client.containers.run(busybox_image, command, remove=True)
    with pytest.raises(ContainerError) as ours:
        ours_client.containers.run(busybox_image, command, remove=True)
    assert ours.value.exit_status == theirs.value.exit_status == 3
    assert ours.value.stderr == theirs.value.stderr == b"bad\n"
    # Same words; ours decodes stderr instead of showing the bytes repr.
    assert str(ours.value) == str(theirs.value).replace("b'bad\\n'", "bad\n")


def test_run_detached_creates_the_same_container(clients, cleanup, busybox_image):
    names = _names("run")
    cleanup.extend(("container", n) for n in names)
    kwargs = dict(detach=True, labels={"sytest": "parity", "tier": "web"}, environment={"A": "1", "B": "two"},
                  ports={"8080/tcp": ("127.0.0.1", None)}, volumes={"/tmp": {"bind": "/host-tmp", "mode": "ro"}},
                  working_dir="/tmp", user="nobody", entrypoint=["sh", "-c"], hostname="sytest-host",
                  restart_policy={"Name": "on-failure", "MaximumRetryCount": 2}, mem_limit="64m",
                  cap_add=["NET_ADMIN"], extra_hosts={"db": "10.0.0.2"}, tty=True, stdin_open=True,
                  healthcheck={"test": "true", "interval": 1_000_000_000})
    (theirs_client, ours_client), (py_name, sy_name) = clients, names
    theirs = theirs_client.containers.run(busybox_image, ["sleep 30"], name=py_name, **kwargs)
    ours = ours_client.containers.run(busybox_image, ["sleep 30"], name=sy_name, **kwargs)
    assert isinstance(ours, ours_module.highlevel.Container)
    assert (ours.name, theirs.name) == (sy_name, py_name)
    assert ours.labels == theirs.labels == {"sytest": "parity", "tier": "web"}
    assert ours.attrs["Config"]["Labels"] == theirs.attrs["Config"]["Labels"]
    config = lambda c: {k: v for k, v in c.attrs["Config"].items() if k not in ("Image",)}  # noqa: E731
    assert config(ours) == config(theirs)
    host_config = lambda c: {k: v for k, v in c.attrs["HostConfig"].items()}  # noqa: E731
    assert host_config(ours) == host_config(theirs)
    for container in (theirs, ours):
        container.reload()
    assert ours.status == theirs.status == "running"
    assert ours.image.tags == theirs.image.tags == [busybox_image]
    assert ours.image.id == theirs.image.id


def test_list_get_logs_wait_and_lifecycle(clients, cleanup, busybox_image):
    tag = uuid.uuid4().hex[:8]
    theirs_client, ours_client = clients
    made = []
    for n in range(2):
        name = f"sytest-list-{tag}-{n}"
        cleanup.append(("container", name))
        made.append(ours_client.containers.run(busybox_image, ["sh", "-c", f"echo {n}; echo e{n} >&2; sleep 30"],
                                               name=name, detach=True, labels={"sytest.list": tag}))
    filters = {"label": f"sytest.list={tag}"}
    theirs, ours = both(clients, lambda c: sorted(x.name for x in c.containers.list(filters=filters)))
    assert ours == theirs == [f"sytest-list-{tag}-0", f"sytest-list-{tag}-1"]
    theirs, ours = both(clients, lambda c: sorted(x.id for x in c.containers.list(filters=filters, sparse=True)))
    assert ours == theirs

    name = f"sytest-list-{tag}-0"
    deadline = time.monotonic() + 10
    while ours_client.containers.get(name).logs() != b"0\ne0\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    for kwargs in ({}, {"stdout": False}, {"stderr": False}, {"tail": 1}):
        theirs, ours = both(clients, lambda c: c.containers.get(name).logs(**kwargs))
        assert ours == theirs, kwargs
    theirs, ours = both(clients, lambda c: c.containers.get(name).attrs["Config"]["Labels"])
    assert ours == theirs == {"sytest.list": tag}

    ours_client.containers.get(name).stop(timeout=1)
    theirs, ours = both(clients, lambda c: c.containers.get(name).wait())
    assert ours == theirs == {"StatusCode": 137, "Error": None}
    theirs, ours = both(clients, lambda c: c.containers.get(name).status)
    assert ours == theirs == "exited"
    theirs, ours = both(clients, lambda c: sorted(x.name for x in c.containers.list(filters=filters)))
    assert ours == theirs == [f"sytest-list-{tag}-1"]
    ours_client.containers.get(name).restart(timeout=0)
    assert both(clients, lambda c: c.containers.get(name).status) == ("running", "running")
    ours_client.containers.get(name).kill()
    assert both(clients, lambda c: c.containers.get(name).wait()["StatusCode"]) == (137, 137)
    ours_client.containers.get(name).remove()
    with pytest.raises(docker.errors.NotFound) as theirs_error:
        theirs_client.containers.get(name)
    with pytest.raises(errdefs.NotFound) as ours_error:
        ours_client.containers.get(name)
    assert str(ours_error.value) == theirs_error.value.explanation


@pytest.mark.parametrize("kwargs", [{}, {"demux": True}, {"stderr": False}, {"tty": True},
                                    {"environment": {"X": "from-env"}}, {"workdir": "/tmp", "user": "nobody"}])
def test_exec_run_results_are_equal(clients, cleanup, busybox_image, kwargs):
    name = f"sytest-exec-{uuid.uuid4().hex[:8]}"
    cleanup.append(("container", name))
    clients[1].containers.run(busybox_image, ["sleep", "30"], name=name, detach=True)
    # The pause orders stdout before stderr, so the interleaved output is deterministic.
    command = ["sh", "-c", 'echo "out $X $(pwd) $(id -u)"; sleep 0.1; echo err >&2; exit 4']
    theirs, ours = both(clients, lambda c: c.containers.get(name).exec_run(command, **kwargs))
    assert type(ours).__name__ == type(theirs).__name__ == "ExecResult"
    assert ours == theirs
    assert ours.exit_code == 4


def test_networks_create_get_list_connect_disconnect(clients, cleanup, busybox_image):
    theirs_client, ours_client = clients
    py_name, sy_name = _names("net")
    cleanup.extend([("network", py_name), ("network", sy_name)])
    theirs = theirs_client.networks.create(py_name, driver="bridge", labels={"sytest": "net"})
    ours = ours_client.networks.create(sy_name, driver="bridge", labels={"sytest": "net"})
    assert (ours.name, theirs.name) == (sy_name, py_name)
    assert both(clients, lambda c: c.networks.get(sy_name).name) == (sy_name, sy_name)
    drop = ("Id", "Name", "Created", "IPAM")
    assert ({k: v for k, v in ours.attrs.items() if k not in drop}
            == {k: v for k, v in theirs.attrs.items() if k not in drop})
    theirs_list, ours_list = both(clients, lambda c: sorted(n.name for n in c.networks.list(names=[py_name, sy_name])))
    assert ours_list == theirs_list == sorted([py_name, sy_name])
    theirs_list, ours_list = both(clients, lambda c: sorted(n.name for n in c.networks.list(filters={"label": "sytest=net"})))
    assert ours_list == theirs_list

    container = f"sytest-netc-{uuid.uuid4().hex[:8]}"
    cleanup.append(("container", container))
    ours_client.containers.run(busybox_image, ["sleep", "30"], name=container, detach=True)
    theirs_client.networks.get(sy_name).connect(container, aliases=["sytest-a"])
    ours_client.networks.get(py_name).connect(container, aliases=["sytest-a"])
    theirs_net, ours_net = both(clients, lambda c: c.networks.get(sy_name))
    assert [c.name for c in ours_net.containers] == [c.name for c in theirs_net.containers] == [container]
    aliases = {n: a["Aliases"] for n, a in ours_client.containers.get(container).attrs["NetworkSettings"]["Networks"].items()
               if n in (py_name, sy_name)}
    assert sorted(aliases[py_name]) == sorted(aliases[sy_name])
    theirs_client.networks.get(sy_name).disconnect(container)
    ours_client.networks.get(py_name).disconnect(container, force=True)
    assert both(clients, lambda c: [x.name for x in c.networks.get(py_name).containers]) == ([], [])
    ours.remove()
    theirs.remove()
    assert both(clients, lambda c: c.networks.list(names=[py_name, sy_name])) == ([], [])


def test_volumes_create_get_list_remove(clients, cleanup):
    theirs_client, ours_client = clients
    py_name, sy_name = _names("vol")
    cleanup.extend([("volume", py_name), ("volume", sy_name)])
    theirs = theirs_client.volumes.create(py_name, labels={"sytest": "vol"})
    ours = ours_client.volumes.create(name=sy_name, labels={"sytest": "vol"})
    assert (ours.name, ours.id, theirs.name) == (sy_name, sy_name, py_name)
    assert set(ours.attrs) == set(theirs.attrs)
    theirs, ours = both(clients, lambda c: c.volumes.get(sy_name).attrs)
    assert ours == theirs
    theirs, ours = both(clients, lambda c: sorted(v.name for v in c.volumes.list(filters={"label": "sytest=vol"})))
    assert ours == theirs and {py_name, sy_name} <= set(ours)
    ours_client.volumes.get(py_name).remove()
    theirs_client.volumes.get(sy_name).remove(force=True)
    assert both(clients, lambda c: [v.name for v in c.volumes.list(filters={"name": [py_name, sy_name]})]) == ([], [])


def test_images_get_list_and_pull_errors(clients, busybox_image):
    theirs, ours = both(clients, lambda c: (c.images.get(busybox_image).id, c.images.get(busybox_image).tags,
                                            c.images.get(busybox_image).short_id))
    assert ours == theirs
    theirs, ours = both(clients, lambda c: [i.id for i in c.images.list(name="sytest/busybox")])
    assert ours == theirs and ours
    theirs_client, ours_client = clients
    with pytest.raises(docker.errors.APIError, match="connection refused"):
        theirs_client.images.pull("127.0.0.1:1/sytest/nothing", tag="1")
    with pytest.raises(errdefs.StackyardError, match="connection refused"):
        ours_client.images.pull("127.0.0.1:1/sytest/nothing", tag="1")


def test_events_decode_see_the_same_start(clients, cleanup, busybox_image):
    name = f"sytest-ev-{uuid.uuid4().hex[:8]}"
    cleanup.append(("container", name))
    theirs_client, ours_client = clients
    filters = {"type": "container", "container": name, "event": "start"}
    streams = {"theirs": theirs_client.events(decode=True, filters=filters),
               "ours": ours_client.events(decode=True, filters=filters)}
    seen = {}

    def first(key):
        for event in streams[key]:
            seen[key] = event
            return

    readers = [threading.Thread(target=first, args=(k,), daemon=True) for k in streams]
    for reader in readers:
        reader.start()
    time.sleep(0.2)  # both subscriptions are open before the start
    ours_client.containers.run(busybox_image, ["true"], name=name, detach=True)
    for reader in readers:
        reader.join(10)
    for stream in streams.values():
        stream.close()
    assert seen["ours"] == seen["theirs"]
    assert seen["ours"]["Action"] == "start" and seen["ours"]["Actor"]["Attributes"]["name"] == name


def test_from_env_with_docker_host(dockerd):
    environment = {"DOCKER_HOST": dockerd.host}
    theirs = docker.from_env(environment=environment)
    ours = ours_module.from_env(environment=environment)
    try:
        assert ours.ping() is theirs.ping() is True
        assert ours.version()["ApiVersion"] == theirs.version()["ApiVersion"]
    finally:
        theirs.close()
        ours.close()
