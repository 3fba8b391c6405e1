"""docker-py (PyPI `docker` 7.x), a client nobody here wrote, drives containers on our daemon."""

import time

import pytest

docker_py = pytest.importorskip("docker")


@pytest.fixture(scope="module")
def client(stackyard_daemon, busybox_ref):
    c = docker_py.DockerClient(base_url=stackyard_daemon.host, version="1.41", timeout=60)
    repo, tag = busybox_ref.rsplit(":", 1)
    c.images.pull(repo, tag=tag)
    try:
        yield c
    finally:
        for container in c.containers.list(all=True):
            container.remove(force=True)
        c.close()


def test_run_detached_logs_exec_stop_remove(client, busybox_ref):
    container = client.containers.run(busybox_ref, ["sh", "-c", "echo started; sleep 30"], detach=True,
                                      name="pyrun", labels={"suite": "docker-py"})
    try:
        assert container.status in ("created", "running")
        container.reload()
        assert container.status == "running"
        assert client.containers.get("pyrun").id == container.id
        assert [c.id for c in client.containers.list(filters={"label": "suite=docker-py"})] == [container.id]
        deadline = time.monotonic() + 5
        while b"started" not in container.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert container.logs() == b"started\n"
        code, output = container.exec_run(["sh", "-c", "echo from-exec; exit 4"])
        assert (code, output) == (4, b"from-exec\n")
        code, (out, err) = container.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
        assert (code, out, err) == (0, b"o\n", b"e\n")
        container.stop(timeout=1)
        container.reload()
        assert container.status == "exited"
        assert container.wait()["StatusCode"] == 137
    finally:
        container.remove(force=True)
    with pytest.raises(docker_py.errors.NotFound):
        client.containers.get("pyrun")


def test_run_attached_returns_output(client, busybox_ref):
    assert client.containers.run(busybox_ref, ["echo", "hello"], remove=True) == b"hello\n"
    with pytest.raises(docker_py.errors.ContainerError) as failure:
        client.containers.run(busybox_ref, ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
    assert failure.value.exit_status == 3


def test_errors_map_to_docker_py_exceptions(client, busybox_ref):
    with pytest.raises(docker_py.errors.ImageNotFound):
        client.containers.create("127.0.0.1:1/nothing/here:1")
    first = client.containers.create(busybox_ref, ["true"], name="dup")
    try:
        with pytest.raises(docker_py.errors.APIError) as conflict:
            client.containers.create(busybox_ref, ["true"], name="dup")
        assert conflict.value.status_code == 409
    finally:
        first.remove(force=True)


def test_volumes_and_events(client, busybox_ref):
    volume = client.volumes.create("pyvol", labels={"a": "b"})
    try:
        assert client.volumes.get("pyvol").attrs["Labels"] == {"a": "b"}
        assert "pyvol" in [v.name for v in client.volumes.list()]
        since = int(time.time()) - 1
        client.containers.run(busybox_ref, ["sh", "-c", "echo x > /v/f"], volumes={"pyvol": {"bind": "/v"}},
                              remove=True, labels={"run": "events"})
        events = client.events(since=since, until=int(time.time()) + 1, decode=True,
                               filters={"type": "container", "label": "run=events"})
        actions = [e["Action"] for e in events]
        assert [a for a in actions if a in ("create", "start", "die", "destroy")] == \
            ["create", "start", "die", "destroy"], actions
    finally:
        volume.remove()
