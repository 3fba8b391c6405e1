"""`docker cp` (the real docker CLI) against our daemon: out of and into running and stopped
containers, symlinks kept, paths through symlinks to "/" or "../../.." staying inside the
container, and Docker's message for a missing path."""

import os
import shutil
import stat

import pytest

from tests.integration.runtime.daemon.test_daemon_containers_cli import docker

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (Debian docker.io)")

SETUP = ("mkdir -p /data/sub && echo hello > /data/a.txt && chmod 640 /data/a.txt && "
         "echo deep > /data/sub/deep && ln -s a.txt /data/link && ln -s / /toroot && "
         "ln -s ../../.. /escape && ")


@pytest.fixture(scope="module")
def image(stackyard_daemon, busybox_ref):
    docker(stackyard_daemon, "pull", "-q", busybox_ref)
    return busybox_ref


@pytest.fixture
def running(stackyard_daemon, image):
    cid = docker(stackyard_daemon, "run", "-d", image, "sh", "-c", SETUP + "touch /ready; sleep 300").stdout.strip()
    try:
        for _ in range(100):
            if docker(stackyard_daemon, "exec", cid, "test", "-e", "/ready", check=False).returncode == 0:
                break
        yield cid
    finally:
        docker(stackyard_daemon, "rm", "-f", cid, check=False)


@pytest.fixture
def stopped(stackyard_daemon, image):
    cid = docker(stackyard_daemon, "run", "-d", image, "sh", "-c", SETUP + "true").stdout.strip()
    try:
        docker(stackyard_daemon, "wait", cid, timeout=30)
        yield cid
    finally:
        docker(stackyard_daemon, "rm", "-f", cid, check=False)


def _check_copied_out(daemon, cid, out):
    docker(daemon, "cp", f"{cid}:/data/a.txt", str(out / "a.txt"))
    assert (out / "a.txt").read_text() == "hello\n"
    assert stat.S_IMODE((out / "a.txt").stat().st_mode) == 0o640
    docker(daemon, "cp", f"{cid}:/data", str(out / "tree"))
    assert (out / "tree" / "sub" / "deep").read_text() == "deep\n"
    assert os.readlink(out / "tree" / "link") == "a.txt"
    docker(daemon, "cp", f"{cid}:/toroot/data/sub/deep", str(out / "via-link"))  # "/" in the container
    assert (out / "via-link").read_text() == "deep\n"


def test_cp_out_of_running_container(stackyard_daemon, running, tmp_path):
    _check_copied_out(stackyard_daemon, running, tmp_path)
    docker(stackyard_daemon, "exec", running, "sh", "-c", "echo later > /data/late")
    docker(stackyard_daemon, "cp", f"{running}:/data/late", str(tmp_path / "late"))
    assert (tmp_path / "late").read_text() == "later\n"


def test_cp_out_of_stopped_container(stackyard_daemon, stopped, tmp_path):
    _check_copied_out(stackyard_daemon, stopped, tmp_path)
    leftovers = [l for l in open("/proc/self/mountinfo") if "/archive/" in l]
    assert leftovers == []  # the snapshot mount of the call is gone


def test_cp_into_running_container(stackyard_daemon, running, tmp_path):
    (tmp_path / "in.txt").write_text("from host\n")
    (tmp_path / "dir" / "nested").mkdir(parents=True)
    (tmp_path / "dir" / "nested" / "f").write_text("nested file\n")
    docker(stackyard_daemon, "cp", str(tmp_path / "in.txt"), f"{running}:/data/")
    docker(stackyard_daemon, "cp", str(tmp_path / "dir"), f"{running}:/data/dir")
    got = docker(stackyard_daemon, "exec", running, "sh", "-c",
                 "cat /data/in.txt /data/dir/nested/f; stat -c %u /data/in.txt").stdout
    assert got == "from host\nnested file\n0\n"


def test_cp_into_stopped_container_then_start(stackyard_daemon, image, tmp_path):
    cid = docker(stackyard_daemon, "create", image, "cat", "/etc/greeting").stdout.strip()
    try:
        (tmp_path / "greeting").write_text("copied before start\n")
        docker(stackyard_daemon, "cp", str(tmp_path / "greeting"), f"{cid}:/etc/greeting")
        docker(stackyard_daemon, "start", "-a", cid, timeout=30)
        assert docker(stackyard_daemon, "logs", cid).stdout == "copied before start\n"
    finally:
        docker(stackyard_daemon, "rm", "-f", cid, check=False)


@pytest.mark.parametrize("via", ["/toroot/", "/escape/", "/data/../../../escape/"])
def test_cp_into_through_symlinks_stays_inside(stackyard_daemon, running, tmp_path, via):
    canary = tmp_path / "canary"
    canary.write_text("host canary\n")
    payload = tmp_path / "payload"
    payload.mkdir()
    (payload / "canary").write_text("from cp\n")
    (payload / "tmp").mkdir()
    host_root_file = f"/sy-cp-{os.getpid()}"
    (payload / host_root_file.lstrip("/")).write_text("x")
    docker(stackyard_daemon, "cp", str(payload) + "/.", f"{running}:{via}")
    try:
        assert canary.read_text() == "host canary\n"
        assert not os.path.exists(host_root_file)  # it would be on the host's "/" if it escaped
        inside = docker(stackyard_daemon, "exec", running, "cat", "/canary", host_root_file).stdout
        assert inside == "from cp\nx"
    finally:
        if os.path.exists(host_root_file):
            os.unlink(host_root_file)


def test_cp_missing_path_and_container(stackyard_daemon, running, tmp_path):
    missing = docker(stackyard_daemon, "cp", f"{running}:/no/such", str(tmp_path / "x"), check=False)
    assert missing.returncode == 1
    assert f"Could not find the file /no/such in container {running}" in missing.stderr
    assert "Traceback" not in stackyard_daemon.log_text()
    nobody = docker(stackyard_daemon, "cp", "nosuchcontainer:/etc/hosts", str(tmp_path / "x"), check=False)
    assert nobody.returncode == 1 and "No such container: nosuchcontainer" in nobody.stderr
    (tmp_path / "f").write_text("f")
    into_file = docker(stackyard_daemon, "cp", str(tmp_path / "f"), f"{running}:/data/a.txt/", check=False)
    assert into_file.returncode == 1
    assert docker(stackyard_daemon, "exec", running, "cat", "/data/a.txt").stdout == "hello\n"


def test_cp_stopped_container_sees_its_named_volume(stackyard_daemon, image, tmp_path):
    vol = f"sycpvol{os.getpid()}"
    cid = docker(stackyard_daemon, "run", "-d", "-v", f"{vol}:/vol", image, "sh", "-c",
                 "echo in volume > /vol/f").stdout.strip()
    try:
        docker(stackyard_daemon, "wait", cid, timeout=30)
        docker(stackyard_daemon, "cp", f"{cid}:/vol/f", str(tmp_path / "f"))
        assert (tmp_path / "f").read_text() == "in volume\n"
        (tmp_path / "g").write_text("written while stopped\n")
        docker(stackyard_daemon, "cp", str(tmp_path / "g"), f"{cid}:/vol/g")
        out = docker(stackyard_daemon, "run", "--rm", "-v", f"{vol}:/vol", image, "cat", "/vol/g").stdout
        assert out == "written while stopped\n"
    finally:
        docker(stackyard_daemon, "rm", "-f", cid, check=False)
        docker(stackyard_daemon, "volume", "rm", vol, check=False)


def test_docker_py_archive_stat_and_bad_tar(stackyard_daemon, running):
    import docker as docker_py
    client = docker_py.DockerClient(base_url=stackyard_daemon.host, version="1.41", timeout=60)
    try:
        container = client.containers.get(running)
        chunks, stat_ = container.get_archive("/data/link")
        assert stat_["name"] == "link" and stat_["linkTarget"] == "/data/a.txt"
        assert stat_["mode"] & (1 << 27)
        assert b"".join(chunks)[:4] == b"link"
        with pytest.raises(docker_py.errors.APIError) as bad:
            container.put_archive("/data", b"this is not a tar archive" * 40)
        assert bad.value.status_code == 400 and "malformed tar" in str(bad.value)
        with pytest.raises(docker_py.errors.NotFound):
            container.put_archive("/no/such/dir", b"\0" * 1024)
    finally:
        client.close()
