"""Images and networks through our daemon, driven by the real docker CLI and docker-py."""

import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (Debian docker.io)")


def docker(daemon, *args, check=True, input=None):
    env = dict(os.environ, DOCKER_HOST=daemon.host, DOCKER_CONFIG=str(daemon.base / "docker-config"))
    result = subprocess.run(["docker", *args], env=env, capture_output=True, text=input is None or isinstance(input, str),
                            timeout=120, input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def test_pull_list_inspect_tag_history_rmi(stackyard_daemon, busybox_ref):
    pulled = docker(stackyard_daemon, "pull", busybox_ref)
    assert "Status: Downloaded newer image for " + busybox_ref in pulled.stdout
    again = docker(stackyard_daemon, "pull", busybox_ref)
    assert "Image is up to date for " + busybox_ref in again.stdout
    listed = [json.loads(line) for line in docker(stackyard_daemon, "images", "--format", "{{json .}}").stdout.splitlines()]
    assert [(i["Repository"], i["Tag"]) for i in listed] == [(busybox_ref.rsplit(":", 1)[0], "1")]
    info = json.loads(docker(stackyard_daemon, "image", "inspect", busybox_ref).stdout)[0]
    assert info["Config"]["Cmd"] == ["sh"] and info["Os"] == "linux"
    assert info["RepoDigests"][0].startswith(busybox_ref.rsplit(":", 1)[0] + "@sha256:")
    docker(stackyard_daemon, "tag", busybox_ref, "local/bb:two")
    names = docker(stackyard_daemon, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert sorted(names) == sorted([busybox_ref, "local/bb:two"])
    history = docker(stackyard_daemon, "history", "--format", "{{.CreatedBy}}", "local/bb:two").stdout.split("\n")
    assert history[0] == "layer 0"
    filtered = docker(stackyard_daemon, "images", "--filter", "label=org.example.kind=busybox", "-q").stdout.split()
    assert len(set(filtered)) == 1
    removed = docker(stackyard_daemon, "rmi", "local/bb:two")
    assert "Untagged: local/bb:two" in removed.stdout
    missing = docker(stackyard_daemon, "image", "inspect", "local/bb:two", check=False)
    assert missing.returncode == 1 and "No such image" in missing.stderr


def test_save_load_round_trip(stackyard_daemon, busybox_ref, tmp_path):
    docker(stackyard_daemon, "pull", "-q", busybox_ref)
    archive = tmp_path / "bb.tar"
    docker(stackyard_daemon, "save", "-o", str(archive), busybox_ref)
    assert archive.stat().st_size > 500_000
    docker(stackyard_daemon, "rmi", busybox_ref)
    loaded = docker(stackyard_daemon, "load", "-i", str(archive))
    assert f"Loaded image: {busybox_ref}" in loaded.stdout
    assert busybox_ref in docker(stackyard_daemon, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout


def test_pull_errors_reach_the_cli(stackyard_daemon, registry):
    missing = docker(stackyard_daemon, "pull", f"{registry.address}/sytest/nothing:here", check=False)
    assert missing.returncode == 1
    assert "sytest/nothing" in missing.stderr and "Traceback" not in missing.stderr
    # The docker CLI checks names itself; ask the API directly (no name here is ever resolved).
    import httpx
    transport = httpx.HTTPTransport(uds=str(stackyard_daemon.socket))
    with httpx.Client(transport=transport, base_url="http://stackyard") as api:
        reply = api.post("/v1.41/images/create", params={"fromImage": "sytest/UPPER", "tag": "1"})
    assert reply.status_code == 400
    assert "invalid reference format" in reply.json()["message"]


def test_build_is_refused_with_a_clear_message(stackyard_daemon, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    env = dict(os.environ, DOCKER_HOST=stackyard_daemon.host, DOCKER_BUILDKIT="0",
               DOCKER_CONFIG=str(stackyard_daemon.base / "docker-config"))
    result = subprocess.run(["docker", "build", "-q", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "building images is not supported by the stackyard engine" in result.stderr


def test_network_create_ls_inspect_rm(stackyard_daemon):
    net_id = docker(stackyard_daemon, "network", "create", "--subnet", "10.231.7.0/24",
                    "--label", "team=web", "sy-test-net").stdout.strip()
    try:
        assert len(net_id) == 64
        names = docker(stackyard_daemon, "network", "ls", "--format", "{{.Name}}").stdout.split()
        assert "sy-test-net" in names
        info = json.loads(docker(stackyard_daemon, "network", "inspect", "sy-test-net").stdout)[0]
        assert info["IPAM"]["Config"][0]["Subnet"] == "10.231.7.0/24"
        assert info["Labels"] == {"team": "web"}
        dup = docker(stackyard_daemon, "network", "create", "sy-test-net", check=False)
        assert dup.returncode == 1 and "already exists" in dup.stderr
        filtered = docker(stackyard_daemon, "network", "ls", "-q", "--filter", "label=team=web").stdout.split()
        assert [f for f in filtered if net_id.startswith(f)]
    finally:
        docker(stackyard_daemon, "network", "rm", "sy-test-net", check=False)
    gone = docker(stackyard_daemon, "network", "inspect", "sy-test-net", check=False)
    assert gone.returncode == 1


def test_docker_py_images_and_networks(stackyard_daemon, busybox_ref):
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=stackyard_daemon.host, version="1.41")
    try:
        repo, tag = busybox_ref.rsplit(":", 1)
        image = client.images.pull(repo, tag=tag)
        assert busybox_ref in image.tags
        assert client.images.get(busybox_ref).id == image.id
        assert image.id in [i.id for i in client.images.list()]
        net = client.networks.create("sy-pynet", labels={"x": "1"})
        try:
            assert client.networks.get(net.id).name == "sy-pynet"
            assert "sy-pynet" in [n.name for n in client.networks.list(filters={"label": "x=1"})]
        finally:
            net.remove()
        with pytest.raises(docker_py.errors.NotFound):
            client.networks.get("sy-pynet")
    finally:
        client.close()
