"""`EngineClient` against a real dockerd: containers, exec, logs, networks, volumes, images,
filters, the events stream, and errors mapped to `runtime.errdefs` categories."""

import threading
import time
import uuid

import pytest

from orchestrator.engine import EngineClient, streams
from runtime import errdefs

pytestmark = pytest.mark.dockerd


@pytest.fixture
def engine(dockerd):
    client = EngineClient(dockerd.host)
    yield client
    client.close()


@pytest.fixture
def made(engine):
    """Names of what a test creates, removed afterwards whatever happened."""
    made = {"containers": [], "networks": [], "volumes": [], "images": []}
    yield made
    for name in made["containers"]:
        _ignore(engine.remove_container, name, force=True, volumes=True)
    for name in made["networks"]:
        _ignore(engine.remove_network, name)
    for name in made["volumes"]:
        _ignore(engine.remove_volume, name, force=True)
    for name in made["images"]:
        _ignore(engine.remove_image, name, force=True)


def _ignore(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except errdefs.NotFound:
        pass


def _name(what):
    return f"sytest-{what}-{uuid.uuid4().hex[:8]}"


def _container(engine, made, image, cmd, *, name=None, **body):
    name = name or _name("c")
    made["containers"].append(name)
    created = engine.create_container({"Image": image, "Cmd": cmd, **body}, name=name)
    assert set(created) >= {"Id", "Warnings"}
    return name, created["Id"]


def test_api_version_is_negotiated_and_capped(engine):
    assert engine.ping() == "OK"
    assert engine.api_version == "1.41"
    version = engine.version()
    assert version["ApiVersion"] and version["Version"]
    assert "Containers" in engine.info()


def test_container_create_start_logs_wait_exec_stop_remove(engine, made, busybox_image):
    name, cid = _container(engine, made, busybox_image,
                           ["sh", "-c", "echo out; echo err >&2; exec sleep 30"], Labels={"sytest": "lifecycle"})
    engine.start_container(cid)
    engine.start_container(cid)  # already started: 304, not an error
    assert engine.inspect_container(name)["State"]["Running"] is True

    exec_id = engine.exec_create(cid, {"Cmd": ["sh", "-c", "echo in-exec; echo oops >&2; exit 3"],
                                       "AttachStdout": True, "AttachStderr": True})["Id"]
    frames = list(engine.exec_start(exec_id))
    assert streams.demux(frames) == (b"in-exec\n", b"oops\n")
    assert engine.exec_inspect(exec_id)["ExitCode"] == 3

    deadline = time.monotonic() + 10
    while streams.demux(engine.container_logs(cid))[1] != b"err\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    out, err = streams.demux(engine.container_logs(cid))
    assert (out, err) == (b"out\n", b"err\n")
    assert streams.demux(engine.container_logs(cid, stderr=False)) == (b"out\n", b"")

    started = time.monotonic()
    engine.stop_container(cid, timeout=1)
    assert time.monotonic() - started < 10
    engine.stop_container(cid)  # already stopped: 304, not an error
    assert engine.wait_container(cid)["StatusCode"] == 137
    engine.remove_container(cid)
    with pytest.raises(errdefs.NotFound):
        engine.inspect_container(cid)


def test_container_exit_code_and_tty_logs(engine, made, busybox_image):
    _name_, cid = _container(engine, made, busybox_image, ["sh", "-c", "echo tty-out; exit 5"], Tty=True)
    engine.start_container(cid)
    assert engine.wait_container(cid) == {"StatusCode": 5, "Error": None}
    frames = list(engine.container_logs(cid))
    assert b"".join(p for _s, p in frames) == b"tty-out\r\n"
    assert {s for s, _p in frames} == {streams.STDOUT}


def test_container_follow_logs_until_exit(engine, made, busybox_image):
    _n, cid = _container(engine, made, busybox_image, ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done"])
    engine.start_container(cid)
    assert streams.demux(engine.container_logs(cid, follow=True)) == (b"1\n2\n3\n", b"")


def test_container_rename_restart_kill(engine, made, busybox_image):
    name, cid = _container(engine, made, busybox_image, ["sleep", "30"])
    renamed = _name("renamed")
    made["containers"].append(renamed)
    engine.rename_container(cid, renamed)
    assert engine.inspect_container(cid)["Name"] == f"/{renamed}"
    engine.start_container(cid)
    first = engine.inspect_container(cid)["State"]["StartedAt"]
    engine.restart_container(cid, timeout=0)
    assert engine.inspect_container(cid)["State"]["StartedAt"] != first
    engine.kill_container(cid, signal="KILL")
    assert engine.wait_container(cid)["StatusCode"] == 137
    with pytest.raises(errdefs.Conflict, match="is not running"):
        engine.kill_container(cid)


def test_name_in_use_is_conflict_with_engine_message(engine, made, busybox_image):
    name, _cid = _container(engine, made, busybox_image, ["true"])
    with pytest.raises(errdefs.Conflict, match=f'The container name "/{name}" is already in use'):
        engine.create_container({"Image": busybox_image, "Cmd": ["true"]}, name=name)


def test_list_containers_filters_by_label(engine, made, busybox_image):
    tag = uuid.uuid4().hex[:8]
    a, _ = _container(engine, made, busybox_image, ["true"], Labels={"sytest.filter": tag, "role": "a"})
    b, _ = _container(engine, made, busybox_image, ["true"], Labels={"sytest.filter": tag, "role": "b"})
    _container(engine, made, busybox_image, ["true"], Labels={"sytest.filter": "other"})
    assert engine.list_containers(filters={"label": [f"sytest.filter={tag}"]}) == []  # none running
    found = engine.list_containers(all=True, filters={"label": [f"sytest.filter={tag}"]})
    assert sorted(c["Names"][0] for c in found) == sorted([f"/{a}", f"/{b}"])
    only_a = engine.list_containers(all=True, filters={"label": [f"sytest.filter={tag}", "role=a"]})
    assert [c["Names"][0] for c in only_a] == [f"/{a}"]


def test_networks_create_connect_disconnect_remove(engine, made, busybox_image):
    net = _name("net")
    made["networks"].append(net)
    created = engine.create_network({"Name": net, "Driver": "bridge", "Labels": {"sytest": "net"}})
    assert created["Id"]
    assert [n["Name"] for n in engine.list_networks(filters={"label": ["sytest=net"], "name": [net]})] == [net]
    name, cid = _container(engine, made, busybox_image, ["sleep", "30"])
    engine.start_container(cid)
    engine.connect_network(net, cid, endpoint_config={"Aliases": ["sytest-alias"]})
    info = engine.inspect_network(net)
    assert cid in info["Containers"]
    endpoint = engine.inspect_container(cid)["NetworkSettings"]["Networks"][net]
    assert "sytest-alias" in endpoint["Aliases"]
    engine.disconnect_network(net, cid)
    assert engine.inspect_network(net)["Containers"] == {}
    engine.remove_container(cid, force=True)
    engine.remove_network(net)
    with pytest.raises(errdefs.NotFound):
        engine.inspect_network(net)


def test_volumes_create_inspect_list_remove(engine, made, busybox_image):
    vol = _name("vol")
    made["volumes"].append(vol)
    created = engine.create_volume({"Name": vol, "Labels": {"sytest": "vol"}})
    assert created["Name"] == vol and created["Labels"] == {"sytest": "vol"}
    assert engine.inspect_volume(vol)["Driver"] == "local"
    assert [v["Name"] for v in engine.list_volumes(filters={"label": ["sytest=vol"], "name": [vol]})] == [vol]
    name, cid = _container(engine, made, busybox_image, ["sh", "-c", "echo kept > /v/file"],
                           HostConfig={"Binds": [f"{vol}:/v"]})
    engine.start_container(cid)
    assert engine.wait_container(cid)["StatusCode"] == 0
    with pytest.raises(errdefs.Conflict, match="volume is in use"):
        engine.remove_volume(vol)
    engine.remove_container(cid)
    engine.remove_volume(vol)
    assert engine.list_volumes(filters={"name": [vol]}) == []


def test_images_list_inspect_tag_remove(engine, made, busybox_image):
    image = engine.inspect_image(busybox_image)
    assert busybox_image in image["RepoTags"]
    assert any(busybox_image in (i.get("RepoTags") or []) for i in engine.list_images())
    assert [i["Id"] for i in engine.list_images(filters={"reference": [busybox_image]})] == [image["Id"]]
    made["images"].append("sytest/tagged:x")
    engine.tag_image(busybox_image, "sytest/tagged", "x")
    assert engine.inspect_image("sytest/tagged:x")["Id"] == image["Id"]
    removed = engine.remove_image("sytest/tagged:x")
    assert {"Untagged": "sytest/tagged:x"} in removed
    engine.inspect_image(busybox_image)  # the original tag is still there


def test_events_see_a_container_start_and_close_from_another_thread(engine, made, busybox_image):
    name, cid = _container(engine, made, busybox_image, ["true"])
    events = engine.events(filters={"type": ["container"], "container": [cid]})
    seen, done = [], threading.Event()

    def read():
        for event in events:
            seen.append(event)
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    engine.start_container(cid)
    deadline = time.monotonic() + 10
    while not any(e.get("Action") == "start" for e in seen) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any(e.get("Action") == "start" and e["Actor"]["Attributes"]["name"] == name for e in seen)
    events.close()  # the reader is blocked waiting for the next event: closing must wake it
    assert done.wait(5), "closing the events stream did not stop its iterator"
    assert list(events) == []


def test_events_with_until_end_by_themselves(engine, made, busybox_image):
    since = int(time.time()) - 1
    name, cid = _container(engine, made, busybox_image, ["true"])
    engine.start_container(cid)
    engine.wait_container(cid)
    with engine.events(since=since, until=int(time.time()) + 1, filters={"container": [cid]}) as events:
        actions = [e["Action"] for e in events]
    assert actions[:2] == ["create", "start"] and "die" in actions


def test_not_found_carries_the_engine_message(engine):
    with pytest.raises(errdefs.NotFound, match="No such container: sytest-missing"):
        engine.inspect_container("sytest-missing")
    with pytest.raises(errdefs.NotFound, match="sytest-missing"):
        engine.inspect_network("sytest-missing")
    with pytest.raises(errdefs.NotFound, match="no such image|No such image"):
        engine.inspect_image("sytest/missing:1")


def test_create_with_bad_body_is_invalid_argument(engine, busybox_image):
    with pytest.raises(errdefs.InvalidArgument):
        engine.create_container({"Image": busybox_image, "HostConfig": {"RestartPolicy": {"Name": "bogus"}}})


def test_unreachable_socket_is_unavailable(tmp_path):
    url = f"unix://{tmp_path}/nothing.sock"
    with EngineClient(url) as client:
        with pytest.raises(errdefs.Unavailable, match=f"cannot reach the engine at {url}") as info:
            client.list_containers()
    assert info.value.retryable


def test_unreachable_tcp_is_unavailable():
    with EngineClient("tcp://127.0.0.1:9", tls=False) as client:
        with pytest.raises(errdefs.Unavailable, match="cannot reach the engine at tcp://127.0.0.1:9"):
            client.ping()


def test_pull_from_a_closed_registry_port_is_a_clear_error(engine):
    with pytest.raises(errdefs.StackyardError, match="127.0.0.1:1.*connection refused"):
        for _progress in engine.pull_image("127.0.0.1:1/sytest/nothing:1"):
            pass


def test_import_image_reports_progress_and_tags(engine, made):
    from tests.integration.dockerd import busybox_rootfs_tar

    made["images"].append("sytest/imported:2")
    progress = list(engine.import_image(busybox_rootfs_tar(), repo="sytest/imported", tag="2"))
    assert progress and progress[-1]["status"].startswith("sha256:")
    assert engine.inspect_image("sytest/imported:2")["Id"] == progress[-1]["status"]


@pytest.fixture(scope="module")
def tls_dockerd():
    """A second private dockerd that also listens on 127.0.0.1 with mutual TLS."""
    import shutil
    import socket

    from tests.integration.dockerd import PrivateDockerd, make_tls_certs

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI to make test certificates")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = PrivateDockerd()
    try:
        certs = make_tls_certs(daemon.root / "certs")
        daemon.extra_args = ("-H", f"tcp://127.0.0.1:{port}", "--tlsverify", f"--tlscacert={certs}/ca.pem",
                             f"--tlscert={certs}/server.pem", f"--tlskey={certs}/server-key.pem")
        daemon.start()
        yield f"tcp://127.0.0.1:{port}", str(certs)
    finally:
        daemon.stop()


def test_tcp_with_tls_from_the_docker_environment(tls_dockerd):
    from orchestrator.engine import from_env

    url, certs = tls_dockerd
    environ = {"DOCKER_HOST": url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": certs}
    with EngineClient.from_env(environ) as client:
        assert client.ping() == "OK"
        assert client.api_version == "1.41"
        assert client.list_containers(all=True) == []
    with from_env(environment=environ) as client:
        assert client.ping() is True
    # Plain HTTP to the TLS port: the engine's own words come back as a categorised error.
    with EngineClient(url, tls=False) as client:
        with pytest.raises(errdefs.InvalidArgument, match="HTTPS"):
            client.ping()
    # TLS without our CA and client certificate: no handshake.
    with EngineClient(url, environ={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": f"{certs}/../nowhere"}) as client:
        with pytest.raises(errdefs.Unavailable, match=f"cannot reach the engine at {url}"):
            client.ping()


def test_from_env_reads_docker_host(dockerd):
    with EngineClient.from_env({"DOCKER_HOST": dockerd.host}) as client:
        assert client.base_url == dockerd.host
        assert client.ping() == "OK"
