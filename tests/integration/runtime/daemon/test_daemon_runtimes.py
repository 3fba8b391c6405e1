"""`docker run --runtime crun|runc|native` and the daemon's `default-runtime`, through our daemon
with the real docker CLI: the container runs under that runtime (its own state directory lists
it), exec / logs / stop / pause / stats / update / restart policies work as for native ones, the
choice survives a daemon restart and the supervisor's re-adoption, unknown names are refused
in Docker's words."""

import json
import os
import shutil
import subprocess
import time

import httpx
import pytest

from tests.integration.runtime.daemon.daemon import PrivateStackyardDaemon
from tests.integration.runtime.daemon.test_daemon_containers_cli import docker

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (Debian docker.io)")


def need(runtime_name: str) -> None:
    if shutil.which(runtime_name) is None:
        pytest.skip(f"needs the {runtime_name} binary (Debian package {runtime_name})")


@pytest.fixture(scope="module")
def image(stackyard_daemon, busybox_ref):
    docker(stackyard_daemon, "pull", "-q", busybox_ref)
    return busybox_ref


def runtime_list(daemon, runtime_name: str) -> list[str]:
    """The container ids the runtime itself knows, in the daemon's state directory for it."""
    root = daemon.exec_root / "oci" / runtime_name
    if not root.exists():
        return []
    out = subprocess.run([runtime_name, "--root", str(root), "list", "-q"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def inspect(daemon, ref: str) -> dict:
    return json.loads(docker(daemon, "inspect", ref).stdout)[0]


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def mounts_under(path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


@pytest.mark.parametrize("runtime_name", ["crun", "runc"])
def test_run_exec_logs_pause_stats_update_stop_on_an_oci_runtime(stackyard_daemon, image, runtime_name):
    need(runtime_name)
    d = stackyard_daemon
    cid = docker(d, "run", "-d", "--runtime", runtime_name, "--name", f"on-{runtime_name}", image,
                 "sh", "-c", "echo hello-from-$(hostname); exec sleep 60").stdout.strip()
    try:
        info = inspect(d, cid)
        assert info["State"]["Running"] is True and info["HostConfig"]["Runtime"] == runtime_name
        assert cid in runtime_list(d, runtime_name)  # the runtime runs it, not the native executor
        wait_for(lambda: "hello-from-" in docker(d, "logs", cid).stdout, what="the container's output in logs")
        assert docker(d, "logs", cid).stdout == f"hello-from-{cid[:12]}\n"
        ran = docker(d, "exec", "-e", "X=42", "-w", "/tmp", cid, "sh", "-c", "echo $X $(pwd); exit 3", check=False)
        assert ran.returncode == 3 and ran.stdout.split() == ["42", "/tmp"], ran.stderr
        # exec joins the container: it sees the container's init as its PID 1
        assert docker(d, "exec", cid, "cat", "/proc/1/cmdline").stdout.startswith("sleep")
        docker(d, "pause", cid)
        assert inspect(d, cid)["State"]["Status"] == "paused"
        docker(d, "unpause", cid)
        stats = json.loads(docker(d, "stats", "--no-stream", "--format", "{{json .}}", cid).stdout)
        assert stats["MemUsage"] and stats["PIDs"] == "1"
        docker(d, "update", "--memory", "64m", "--memory-swap", "64m", cid)
        assert inspect(d, cid)["HostConfig"]["Memory"] == 64 * 1024 * 1024
        assert "67108864" in docker(d, "exec", cid, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    check=False).stdout + _unified_max(d, cid)
        docker(d, "stop", "-t", "1", cid)
        state = inspect(d, cid)["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 137  # sleep as PID 1 ignores SIGTERM
        assert cid not in runtime_list(d, runtime_name)  # deleted from the runtime on exit
        assert mounts_under(d.exec_root / "oci") == []  # its host-side rootfs mount is gone
        docker(d, "start", cid)  # a second run under the same runtime
        assert inspect(d, cid)["State"]["Running"] and cid in runtime_list(d, runtime_name)
    finally:
        docker(d, "rm", "-f", cid, check=False)
    assert cid not in runtime_list(d, runtime_name)
    assert not (d.exec_root / "oci" / "bundles" / cid).exists()


def _unified_max(daemon, cid: str) -> str:
    """memory.max on a cgroup v2 host (the v1 file above is absent there)."""
    return docker(daemon, "exec", cid, "cat", "/sys/fs/cgroup/memory.max", check=False).stdout


@pytest.mark.parametrize("runtime_name", ["crun", "runc"])
def test_restart_policy_and_kill_on_an_oci_runtime(stackyard_daemon, image, runtime_name):
    need(runtime_name)
    d = stackyard_daemon
    cid = docker(d, "run", "-d", "--runtime", runtime_name, "--restart", "on-failure:2", image,
                 "sh", "-c", "echo run; exit 3").stdout.strip()
    try:
        wait_for(lambda: inspect(d, cid)["RestartCount"] == 2 and inspect(d, cid)["State"]["Status"] == "exited",
                 timeout=30, what="two policy restarts")
        state = inspect(d, cid)["State"]
        assert state["ExitCode"] == 3
        assert docker(d, "logs", cid).stdout == "run\nrun\nrun\n"
    finally:
        docker(d, "rm", "-f", cid, check=False)
    killed = docker(d, "run", "-d", "--runtime", runtime_name, image, "sleep", "60").stdout.strip()
    try:
        docker(d, "kill", "-s", "KILL", killed)
        assert docker(d, "wait", killed).stdout.strip() == "137"
        assert killed not in runtime_list(d, runtime_name)
    finally:
        docker(d, "rm", "-f", killed, check=False)


def test_native_runtime_is_still_the_default_and_named_in_inspect(stackyard_daemon, image):
    d = stackyard_daemon
    cid = docker(d, "run", "-d", image, "sleep", "60").stdout.strip()
    try:
        assert inspect(d, cid)["HostConfig"]["Runtime"] == "native"
        assert all(cid not in runtime_list(d, name) for name in ("crun", "runc") if shutil.which(name))
        explicit = docker(d, "run", "--rm", "--runtime", "native", image, "echo", "ok").stdout
        assert explicit == "ok\n"
    finally:
        docker(d, "rm", "-f", cid, check=False)


def test_info_lists_the_installed_runtimes_and_the_default(stackyard_daemon):
    info = json.loads(docker(stackyard_daemon, "info", "--format", "{{json .}}").stdout)
    expected = {"native"} | {name for name in ("crun", "runc") if shutil.which(name)}
    assert set(info["Runtimes"]) == expected
    assert info["DefaultRuntime"] == "native"
    for name in expected - {"native"}:
        assert info["Runtimes"][name]["path"] == shutil.which(name)


def test_unknown_runtime_is_refused_at_create_with_dockers_words(stackyard_daemon, image):
    d = stackyard_daemon
    transport = httpx.HTTPTransport(uds=str(d.socket))
    with httpx.Client(transport=transport, base_url="http://stackyard", timeout=30) as api:
        reply = api.post("/v1.41/containers/create", json={"Image": image, "HostConfig": {"Runtime": "kata"}})
        assert reply.status_code == 400
        assert reply.json()["message"] == "unknown or invalid runtime name: kata"
    out = docker(d, "run", "--rm", "--runtime", "nosuch", image, "true", check=False)
    assert out.returncode != 0 and "unknown or invalid runtime name: nosuch" in out.stderr
    assert docker(d, "ps", "-aq").stdout.strip() == ""  # nothing half-created


@pytest.fixture(params=["crun", "runc"])
def oci_default_daemon(request, busybox_ref):
    """A daemon whose daemon.json says "default-runtime": "crun" (or "runc")."""
    if os.geteuid() != 0:
        pytest.skip("the stackyard daemon needs root")
    need(request.param)
    daemon = PrivateStackyardDaemon()
    daemon.default_runtime = request.param
    try:
        config = daemon.base / "daemon.json"
        config.write_text(json.dumps({"default-runtime": request.param}))
        daemon.start(extra=("--config-file", str(config)))
        docker(daemon, "pull", "-q", busybox_ref)
        yield daemon
    finally:
        daemon.stop()


def test_default_runtime_from_daemon_json_survives_daemon_restart_and_readoption(oci_default_daemon, busybox_ref):
    d = oci_default_daemon
    rt = d.default_runtime
    info = json.loads(docker(d, "info", "--format", "{{json .}}").stdout)
    assert info["DefaultRuntime"] == rt
    cid = docker(d, "run", "-d", busybox_ref, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done").stdout.strip()
    native = docker(d, "run", "-d", "--runtime", "native", busybox_ref, "sleep", "60").stdout.strip()
    assert inspect(d, cid)["HostConfig"]["Runtime"] == rt
    assert runtime_list(d, rt) == [cid]  # the native one is not the runtime's
    pid = inspect(d, cid)["State"]["Pid"]
    # A new daemon and a new supervisor: the container keeps running and is re-adopted as its runtime's.
    d.process.terminate()
    d.process.wait(10)
    d.log.close()
    d.stop_supervisor()
    assert os.path.exists(f"/proc/{pid}")
    d.start()
    state = inspect(d, cid)["State"]
    assert state["Running"] is True and state["Pid"] == pid
    assert inspect(d, native)["State"]["Running"] is True
    assert docker(d, "exec", cid, "echo", "still-there").stdout == "still-there\n"
    assert docker(d, "exec", native, "echo", "native-too").stdout == "native-too\n"
    docker(d, "stop", "-t", "5", cid)
    state = inspect(d, cid)["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 143  # our SIGTERM, inferred after re-adoption
    assert runtime_list(d, rt) == []
    docker(d, "start", cid)  # the record still names the runtime
    assert runtime_list(d, rt) == [cid]
    docker(d, "rm", "-f", cid, native)
    assert mounts_under(d.exec_root / "oci") == []


@pytest.mark.parametrize("runtime_name", ["crun", "runc"])
def test_tty_container_on_an_oci_runtime_has_a_terminal_and_logs(stackyard_daemon, image, runtime_name):
    need(runtime_name)
    d = stackyard_daemon
    out = docker(d, "run", "--rm", "-t", "--runtime", runtime_name, image, "sh", "-c", "tty; [ -t 1 ] && echo is-a-tty")
    assert out.stdout.replace("\r", "").split("\n")[:2] == ["/dev/pts/0", "is-a-tty"]
    cid = docker(d, "run", "-d", "-t", "--runtime", runtime_name, image, "sh", "-c", "echo started; exec sleep 60").stdout.strip()
    try:
        wait_for(lambda: "started" in docker(d, "logs", cid).stdout, what="a TTY container's output in logs")
        docker(d, "stop", "-t", "1", cid)
    finally:
        docker(d, "rm", "-f", cid, check=False)
    assert mounts_under(d.exec_root / "oci") == []


@pytest.mark.parametrize("runtime_name", ["crun", "runc"])
def test_healthcheck_and_exec_user_on_an_oci_runtime(stackyard_daemon, image, runtime_name):
    """Probes are execs through the runtime; exec -u resolves names in the container's passwd."""
    need(runtime_name)
    d = stackyard_daemon
    cid = docker(d, "run", "-d", "--runtime", runtime_name, "--health-cmd", "test -e /tmp/ok",
                 "--health-interval", "300ms", "--health-retries", "1", image, "sh", "-c",
                 "touch /tmp/ok; exec sleep 60").stdout.strip()
    try:
        wait_for(lambda: (inspect(d, cid)["State"].get("Health") or {}).get("Status") == "healthy",
                 what="a healthy probe")
        docker(d, "exec", cid, "rm", "/tmp/ok")
        wait_for(lambda: inspect(d, cid)["State"]["Health"]["Status"] == "unhealthy", what="an unhealthy probe")
        assert docker(d, "exec", "-u", "nobody", cid, "id", "-u").stdout.strip() == "65534"
    finally:
        docker(d, "rm", "-f", cid, check=False)


@pytest.mark.parametrize("runtime_name", ["crun", "runc"])
def test_exec_it_under_a_pty_on_an_oci_runtime(stackyard_daemon, image, runtime_name):
    import pty
    import select
    need(runtime_name)
    d = stackyard_daemon
    cid = docker(d, "run", "-d", "--runtime", runtime_name, image, "sleep", "60").stdout.strip()
    env = dict(os.environ, DOCKER_HOST=d.host, DOCKER_CONFIG=str(d.base / "docker-config"))
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe("docker", ["docker", "exec", "-it", cid, "sh"], env)
    try:
        output = b""

        def read_until(marker: bytes, timeout: float = 15) -> bytes:
            nonlocal output
            deadline = time.monotonic() + timeout
            while marker not in output and time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    try:
                        output += os.read(fd, 4096)
                    except OSError:
                        break
            return output
        read_until(b"# ")
        os.write(fd, b"[ -t 0 ] && [ -t 1 ] && echo marker-$((6*7)) $(tty)\r")
        assert b"marker-42 /dev/pts/" in read_until(b"marker-42 /dev/pts/")
        os.write(fd, b"exit 5\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 5
    finally:
        os.close(fd)
        docker(d, "rm", "-f", cid, check=False)
