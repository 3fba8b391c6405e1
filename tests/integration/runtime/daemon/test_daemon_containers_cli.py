"""The real docker CLI drives containers on our daemon: run, ps, logs, exec, stop, rm, volumes,
events, stats — the scripted session of the daemon issue."""

import json
import os
import pty
import select
import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (Debian docker.io)")


def docker(daemon, *args, check=True, timeout=60, input=None):
    env = dict(os.environ, DOCKER_HOST=daemon.host, DOCKER_CONFIG=str(daemon.base / "docker-config"))
    result = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=timeout, input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr}\n"
                             f"daemon log tail:\n{daemon.log_text()[-3000:]}")
    return result


@pytest.fixture(scope="module")
def image(stackyard_daemon, busybox_ref):
    docker(stackyard_daemon, "pull", "-q", busybox_ref)
    return busybox_ref


def test_run_rm_prints_output_and_exit_code(stackyard_daemon, image):
    out = docker(stackyard_daemon, "run", "--rm", image, "sh", "-c", "echo to-out; echo to-err >&2; exit 0")
    assert out.stdout == "to-out\n" and out.stderr == "to-err\n"
    failed = docker(stackyard_daemon, "run", "--rm", image, "sh", "-c", "exit 7", check=False)
    assert failed.returncode == 7
    missing = docker(stackyard_daemon, "run", "--rm", image, "nosuchcommand", check=False)
    assert missing.returncode == 127 and "nosuchcommand" in missing.stderr
    assert docker(stackyard_daemon, "ps", "-aq").stdout.strip() == ""  # --rm removed them


def test_run_rm_gives_back_its_network_namespace_without_another_request(stackyard_daemon, image):
    netns = stackyard_daemon.exec_root / "netns"
    before = set(os.listdir(netns)) if netns.is_dir() else set()
    docker(stackyard_daemon, "run", "--rm", image, "true")
    # No list or create follows: the daemon finishes the removal on the destroy event.
    deadline = time.time() + 5
    while time.time() < deadline and set(os.listdir(netns)) - before:
        time.sleep(0.05)
    assert set(os.listdir(netns)) - before == set()


def test_detached_lifecycle_ps_logs_exec_stop_rm(stackyard_daemon, image):
    cid = docker(stackyard_daemon, "run", "-d", "--name", "ticker", "--label", "role=test", image,
                 "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done").stdout.strip()
    try:
        assert len(cid) == 64
        rows = [json.loads(l) for l in docker(stackyard_daemon, "ps", "--format", "{{json .}}").stdout.splitlines()]
        assert [(r["Names"], r["State"]) for r in rows] == [("ticker", "running")]
        assert docker(stackyard_daemon, "ps", "-q", "--filter", "label=role=test").stdout.strip() == cid[:12]
        time.sleep(0.5)
        logs = docker(stackyard_daemon, "logs", "--tail", "2", "ticker").stdout.splitlines()
        assert len(logs) == 2 and all(l.startswith("tick ") for l in logs)
        assert docker(stackyard_daemon, "logs", "-t", "--tail", "1", "ticker").stdout[:4].isdigit()
        ran = docker(stackyard_daemon, "exec", "-e", "X=42", "-w", "/tmp", "ticker", "sh", "-c",
                     "echo $X $(pwd) $(hostname); exit 3", check=False)
        assert ran.returncode == 3 and ran.stdout.split() == ["42", "/tmp", cid[:12]]
        top = docker(stackyard_daemon, "top", "ticker").stdout
        assert "PID" in top and "sh -c" in top
        stats = json.loads(docker(stackyard_daemon, "stats", "--no-stream", "--format", "{{json .}}", "ticker").stdout)
        assert stats["Name"] == "ticker" and stats["MemUsage"]
        inspect = json.loads(docker(stackyard_daemon, "inspect", "ticker").stdout)[0]
        assert inspect["State"]["Running"] is True and inspect["State"]["Pid"] > 0
        assert inspect["Config"]["Labels"] == {"role": "test"}
        docker(stackyard_daemon, "stop", "-t", "1", "ticker")
        state = json.loads(docker(stackyard_daemon, "inspect", "ticker").stdout)[0]["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 137  # sh as PID 1 ignores SIGTERM
        busy = docker(stackyard_daemon, "rm", "ticker", check=False)
        assert busy.returncode == 0
    finally:
        docker(stackyard_daemon, "rm", "-f", cid, check=False)
    gone = docker(stackyard_daemon, "inspect", "ticker", check=False)
    assert gone.returncode == 1 and "No such" in gone.stderr


def test_logs_follow_sees_new_lines_until_exit(stackyard_daemon, image):
    cid = docker(stackyard_daemon, "run", "-d", image, "sh", "-c",
                 "for i in 1 2 3; do echo line $i; sleep 0.3; done").stdout.strip()
    try:
        followed = docker(stackyard_daemon, "logs", "-f", cid, timeout=30).stdout.split("\n")
        assert followed[:3] == ["line 1", "line 2", "line 3"]
    finally:
        docker(stackyard_daemon, "rm", "-f", cid, check=False)


def test_exec_it_under_a_pty(stackyard_daemon, image):
    cid = docker(stackyard_daemon, "run", "-d", image, "sleep", "30").stdout.strip()
    env = dict(os.environ, DOCKER_HOST=stackyard_daemon.host, DOCKER_CONFIG=str(stackyard_daemon.base / "docker-config"))
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
        os.write(fd, b"[ -t 0 ] && [ -t 1 ] && echo marker-$((6*7))\r")
        assert b"marker-42" in read_until(b"marker-42")
        os.write(fd, b"exit 5\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 5
    finally:
        os.close(fd)
        docker(stackyard_daemon, "rm", "-f", cid, check=False)


def test_volumes_persist_across_containers(stackyard_daemon, image):
    docker(stackyard_daemon, "volume", "create", "--label", "k=v", "sy-data")
    try:
        assert "sy-data" in docker(stackyard_daemon, "volume", "ls", "-q").stdout.split()
        docker(stackyard_daemon, "run", "--rm", "-v", "sy-data:/data", image, "sh", "-c", "echo kept > /data/f")
        out = docker(stackyard_daemon, "run", "--rm", "-v", "sy-data:/data", image, "cat", "/data/f").stdout
        assert out == "kept\n"
        info = json.loads(docker(stackyard_daemon, "volume", "inspect", "sy-data").stdout)[0]
        assert info["Labels"] == {"k": "v"} and info["Driver"] == "local"
    finally:
        docker(stackyard_daemon, "volume", "rm", "sy-data", check=False)
    assert "sy-data" not in docker(stackyard_daemon, "volume", "ls", "-q").stdout.split()


def test_events_report_the_lifecycle(stackyard_daemon, image):
    since = str(int(time.time()) - 1)
    cid = docker(stackyard_daemon, "run", "-d", image, "true").stdout.strip()
    docker(stackyard_daemon, "wait", cid)
    docker(stackyard_daemon, "rm", cid)
    until = str(int(time.time()) + 1)
    events = docker(stackyard_daemon, "events", "--since", since, "--until", until, "--filter", f"container={cid}",
                    "--format", "{{.Action}}").stdout.split()
    for action in ("create", "start", "die", "destroy"):
        assert action in events, events
    assert events.index("create") < events.index("start") < events.index("die") < events.index("destroy")


def test_network_run_and_resolve_by_name(stackyard_daemon, image):
    docker(stackyard_daemon, "network", "create", "sy-cli-net")
    try:
        docker(stackyard_daemon, "run", "-d", "--name", "websrv", "--network", "sy-cli-net", "--network-alias", "web",
               image, "sh", "-c", "mkdir -p /www && echo served > /www/index.html && httpd -f -p 80 -h /www")
        for name in ("websrv", "web"):
            out = docker(stackyard_daemon, "run", "--rm", "--network", "sy-cli-net", image,
                         "wget", "-qO-", f"http://{name}/").stdout
            assert out == "served\n"
    finally:
        docker(stackyard_daemon, "rm", "-f", "websrv", check=False)
        docker(stackyard_daemon, "network", "rm", "sy-cli-net", check=False)


def test_run_interactive_feeds_stdin(stackyard_daemon, image):
    out = docker(stackyard_daemon, "run", "-i", "--rm", image, "sh", "-c", "tr a-z A-Z; echo done",
                 input="piped through\n")
    assert out.stdout == "PIPED THROUGH\ndone\n"


def test_run_it_gets_a_terminal_of_the_clients_size(stackyard_daemon, image):
    env = dict(os.environ, DOCKER_HOST=stackyard_daemon.host, DOCKER_CONFIG=str(stackyard_daemon.base / "docker-config"))
    pid, fd = pty.fork()
    if pid == 0:
        import fcntl
        import struct
        import termios
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        os.execvpe("docker", ["docker", "run", "--rm", "-it", image, "sh", "-c",
                              "sleep 0.5; stty size; [ -t 0 ] && echo tty-$((6*7)); exit 6"], env)
    output = b""
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                output += data
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert output.count(b"tty-42") == 1, output  # once: stdout and stderr of a terminal are one stream
    assert output.count(b"33 101") == 1, output
    assert os.waitstatus_to_exitcode(status) == 6


def test_published_ports_show_everywhere_and_stay_across_stop_start(stackyard_daemon, image):
    cid = docker(stackyard_daemon, "run", "-d", "-p", "127.0.0.1::80", image, "sh", "-c",
                 "mkdir -p /w && echo hi > /w/index.html && exec httpd -f -p 80 -h /w").stdout.strip()
    try:
        for _ in range(3):
            mapping = docker(stackyard_daemon, "port", cid, "80/tcp").stdout.strip()
            host, port = mapping.rsplit(":", 1)
            assert host == "127.0.0.1" and int(port) > 0
            assert f"127.0.0.1:{port}->80/tcp" in docker(stackyard_daemon, "ps", "--format", "{{.Ports}}").stdout
            ports = json.loads(docker(stackyard_daemon, "inspect", cid).stdout)[0]["NetworkSettings"]["Ports"]
            assert ports["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": port}]
            deadline = time.monotonic() + 5
            while True:
                try:
                    import urllib.request
                    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read() == b"hi\n"
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            docker(stackyard_daemon, "stop", "-t", "1", cid)
            assert docker(stackyard_daemon, "port", cid).stdout.strip() == ""
            docker(stackyard_daemon, "start", cid)
            first = docker(stackyard_daemon, "port", cid, "80/tcp").stdout.strip()
            time.sleep(1)  # late events of the previous run must not take the ports away
            assert docker(stackyard_daemon, "port", cid, "80/tcp").stdout.strip() == first
    finally:
        docker(stackyard_daemon, "rm", "-f", cid, check=False)


def test_a_container_with_an_init_shows_its_own_command(stackyard_daemon, image):
    cid = docker(stackyard_daemon, "run", "-d", "--init", image, "sleep", "30").stdout.strip()
    try:
        assert docker(stackyard_daemon, "inspect", "-f", "{{.Path}} {{json .Args}}", cid).stdout.strip() == 'sleep ["30"]'
        assert docker(stackyard_daemon, "ps", "--no-trunc", "-f", f"id={cid}", "--format", "{{.Command}}").stdout.strip() \
            == '"sleep 30"'
        # The init is still asked for; only what Path, Args and Command show is the container's own.
        assert docker(stackyard_daemon, "inspect", "-f", "{{.HostConfig.Init}}", cid).stdout.strip() == "true"
    finally:
        docker(stackyard_daemon, "rm", "-f", cid, check=False)
