"""The daemon's system API, driven by clients nobody here wrote (docker CLI, docker-py) and ours."""

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from orchestrator.engine.client import EngineClient
from tests.integration.runtime.daemon.daemon import PrivateStackyardDaemon


def raw_request(path: str, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def docker(daemon, *args, check=True):
    env = dict(os.environ, DOCKER_HOST=daemon.host, DOCKER_CONFIG=str(daemon.base / "docker-config"))
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=30, check=check)


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (Debian docker.io)")
def test_docker_cli_version_and_info(stackyard_daemon):
    version = json.loads(docker(stackyard_daemon, "version", "--format", "{{json .Server}}").stdout)
    assert version["Platform"]["Name"] == "stackyard"
    assert version["ApiVersion"] == "1.41" and version["MinAPIVersion"] == "1.24"
    info = json.loads(docker(stackyard_daemon, "info", "--format", "{{json .}}").stdout)
    assert info["ServerVersion"] == version["Version"]
    assert info["DockerRootDir"] == str(stackyard_daemon.root)
    assert info["OSType"] == "linux" and info["NCPU"] == os.cpu_count()


def test_docker_py_ping_version_info(stackyard_daemon):
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=stackyard_daemon.host, version="auto")
    try:
        assert client.ping() is True
        assert client.version()["ApiVersion"] == "1.41"
        assert client.info()["ID"] == client.info()["ID"]  # a stable engine id
    finally:
        client.close()


def test_our_engine_client_negotiates(stackyard_daemon):
    client = EngineClient(stackyard_daemon.host)
    try:
        assert client.ping()
        assert client.version()["Platform"]["Name"] == "stackyard"
    finally:
        client.close()


def test_errors_are_json_with_docker_statuses(stackyard_daemon):
    path = str(stackyard_daemon.socket)
    reply = raw_request(path, b"GET /v1.41/no/such/thing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404")
    assert json.loads(body) == {"message": "page not found: GET /no/such/thing"}
    reply = raw_request(path, b"GET /v1.99/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"client version 1.99 is too new" in reply
    reply = raw_request(path, b"POST /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 405")
    reply = raw_request(path, b"GARBAGE\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400")


def test_ping_head_and_keep_alive(stackyard_daemon):
    path = str(stackyard_daemon.socket)
    two = (b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /v1.24/_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    reply = raw_request(path, two)
    assert reply.count(b"HTTP/1.1 200") == 2
    assert b"Api-Version: 1.41" in reply
    assert reply.endswith(b"OK")


def test_second_daemon_on_the_same_socket_is_refused_and_status_stop_work(stackyard_daemon):
    run = [sys.executable, "-m", "stackyard.main", "daemon"]
    second = subprocess.run(run + ["--root", str(stackyard_daemon.base / "other"), "--exec-root",
                                   str(stackyard_daemon.base / "other-run"), "-H", stackyard_daemon.host],
                            capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    assert "another daemon is already serving" in second.stderr
    assert "Traceback" not in second.stderr
    status = subprocess.run(run + ["status", "-H", stackyard_daemon.host], capture_output=True, text=True, timeout=30)
    assert status.returncode == 0 and "running: stackyard" in status.stdout

    own = PrivateStackyardDaemon()
    try:
        own.start()
        stop = subprocess.run(run + ["stop", "--exec-root", str(own.exec_root)], capture_output=True, text=True, timeout=30)
        assert stop.returncode == 0 and "stopped" in stop.stdout
        assert own.process.wait(5) == 0
        assert not own.socket.exists()
        status = subprocess.run(run + ["status", "-H", own.host], capture_output=True, text=True, timeout=30)
        assert status.returncode == 1 and "not running" in status.stdout
    finally:
        own.stop()


def test_bad_config_file_is_a_clear_error(tmp_path):
    config = tmp_path / "daemon.json"
    config.write_text('{"registry-mirror": []}')
    result = subprocess.run([sys.executable, "-m", "stackyard.main", "daemon", "--config-file", str(config),
                             "--root", str(tmp_path / "r"), "--exec-root", str(tmp_path / "x"),
                             "-H", f"unix://{tmp_path}/s.sock"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "unknown configuration key 'registry-mirror'" in result.stderr
    assert not (tmp_path / "r").exists()
