"""`stackyard up/plan/down` driving `examples/webapp` through the CLI, on two engines: a real
dockerd (the reference) and our own daemon (`builtin`), with the same assertions.

Proves the reapply semantics of issue 3: a converged stack is left alone (no engine writes),
one changed service is the only one recreated, a changed config file recreates the service
that mounts it, orphans go with --remove-orphans, and `down -v` leaves nothing behind.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from orchestrator.engine import EngineClient

pytestmark = pytest.mark.dockerd

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def webapp(tmp_path, engine):
    """The example copied to a temp dir, with a CLI runner bound to the engine under test."""
    host, busybox_image = engine
    project = tmp_path / "webapp"
    shutil.copytree(ROOT / "examples" / "webapp", project)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT), "STACKYARD_ENGINE": host,
           "STACKYARD_EXAMPLE_IMAGE": busybox_image, "WEB_PORT": str(_free_port())}

    def run(*args, check=True, extra_env=None):
        proc = subprocess.run([sys.executable, "-m", "orchestrator.cli.app", *args], cwd=project,
                              env={**env, **(extra_env or {})}, capture_output=True, text=True, timeout=180)
        if check and proc.returncode != 0:
            raise AssertionError(f"stackyard {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    client = EngineClient(host)
    try:
        run.host = host
        run.port = int(env["WEB_PORT"])
        run.image = busybox_image
        yield project, run, client
    finally:
        run("down", "-v", "--remove-orphans", "-t", "1", check=False)
        client.close()


def _ids(client):
    return {c["Labels"]["com.docker.compose.service"]: c["Id"]
            for c in client.list_containers(all=True, filters={"label": ["com.docker.compose.project=webapp"]})}


def _writes_between(client, since, until):
    """Container, network and volume events that change something, between two instants."""
    passive = {"exec_create", "exec_start", "exec_die", "health_status", "attach", "top", "archive-path"}
    events = client.events(since=since, until=until,
                           filters={"type": ["container", "network", "volume"]})
    try:
        return [(e.get("Action"), e.get("Actor", {}).get("Attributes", {}).get("name")) for e in events
                if e.get("Action", "").split(":")[0] not in passive]
    finally:
        events.close()


def test_up_brings_the_stack_up_and_serves_on_loopback(webapp):
    project, run, client = webapp
    run("up", "-d", "--wait", "--wait-timeout", "60")
    states = {c["Labels"]["com.docker.compose.service"]: c["State"]
              for c in client.list_containers(all=True, filters={"label": ["com.docker.compose.project=webapp"]})}
    assert states == {"db": "running", "migrate": "exited", "worker": "running", "web": "running"}
    migrate = client.inspect_container("webapp-migrate-1")
    assert migrate["State"]["ExitCode"] == 0
    body = urllib.request.urlopen(f"http://127.0.0.1:{run.port}/index.html", timeout=10).read()
    assert b"webapp" in body
    ps = [json.loads(line) for line in run("ps", "-a", "--format", "json").stdout.splitlines()]
    assert {row["Name"] for row in ps} == {"webapp-db-1", "webapp-migrate-1", "webapp-worker-1", "webapp-web-1"}
    web = next(row for row in ps if row["Service"] == "web")
    assert web["Ports"] == f"127.0.0.1:{run.port}->8080/tcp"
    assert web["Publishers"] == [{"URL": "127.0.0.1", "TargetPort": 8080, "PublishedPort": run.port, "Protocol": "tcp"}]
    assert web["Status"].startswith("Up ") and web["State"] == "running"
    migrate = next(row for row in ps if row["Service"] == "migrate")
    assert migrate["ExitCode"] == 0 and migrate["Status"].startswith("Exited (0)")
    table = run("ps").stdout.splitlines()
    assert table[0].split() == ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    assert [line.split()[0] for line in table[1:]] == ["webapp-db-1", "webapp-web-1", "webapp-worker-1"]
    assert any(line.startswith("webapp-web-1") and line.endswith(f"127.0.0.1:{run.port}->8080/tcp") for line in table)


def test_reapply_of_converged_stack_writes_nothing(webapp):
    project, run, client = webapp
    run("up", "-d", "--wait")
    assert run("plan", "--detailed-exitcode", check=False).returncode == 0
    before = _ids(client)
    # `since` has one-second resolution: let the first up's last second pass before it.
    time.sleep(1.1)
    since = int(time.time())
    run("up", "-d")
    until = int(time.time()) + 1
    assert _writes_between(client, since, until) == []
    assert _ids(client) == before


def test_changing_one_service_recreates_only_it(webapp):
    project, run, client = webapp
    run("up", "-d", "--wait")
    before = _ids(client)
    plan = run("plan", "--detailed-exitcode", check=False, extra_env={"WORKER_QUEUE": "urgent"})
    assert plan.returncode == 2
    assert plan.stdout.splitlines() == ["recreate webapp-worker-1: environment.QUEUE changed"]
    run("up", "-d", extra_env={"WORKER_QUEUE": "urgent"})
    after = _ids(client)
    assert {s for s in before if before[s] != after[s]} == {"worker"}


def test_changing_a_config_file_recreates_the_service_that_mounts_it(webapp):
    project, run, client = webapp
    run("up", "-d", "--wait")
    before = _ids(client)
    (project / "conf" / "site.conf").write_text("greeting = bonjour\n")
    plan = run("plan").stdout
    assert "recreate webapp-web-1: content of" in plan and '(config "site") changed' in plan
    run("up", "-d")
    after = _ids(client)
    assert {s for s in before if before[s] != after[s]} == {"web"}


def test_orphans_are_removed_only_when_asked(webapp):
    project, run, client = webapp
    run("up", "-d", "--wait")
    compose = project / "compose.yaml"
    text = compose.read_text()
    # Drop the worker service (and the dependency on it).
    text = text.replace("      worker: {condition: service_started}\n", "")
    start = text.index("  worker:\n")
    end = text.index("  web:\n")
    compose.write_text(text[:start] + text[end:])
    run("up", "-d")
    assert "worker" in _ids(client)
    run("up", "-d", "--remove-orphans")
    assert "worker" not in _ids(client)


def test_down_removes_containers_networks_and_volumes(webapp):
    project, run, client = webapp
    run("up", "-d", "--wait")
    run("down", "-v", "-t", "1")
    selector = {"label": ["com.docker.compose.project=webapp"]}
    assert client.list_containers(all=True, filters=selector) == []
    assert client.list_networks(filters=selector) == []
    assert client.list_volumes(filters=selector) == []


def test_stop_start_restart_exec_and_logs(webapp):
    project, run, client = webapp
    run("up", "-d", "--wait")
    states = lambda: {c["Labels"]["com.docker.compose.service"]: c["State"]  # noqa: E731
                      for c in client.list_containers(all=True, filters={"label": ["com.docker.compose.project=webapp"]})}
    run("stop", "-t", "1", "web")
    assert states()["web"] == "exited" and states()["db"] == "running"
    assert "start webapp-web-1: stopped, expected running" in run("plan").stdout
    run("start", "web")
    assert states()["web"] == "running"
    before = client.inspect_container("webapp-db-1")["State"]["StartedAt"]
    run("restart", "-t", "1", "db")
    assert client.inspect_container("webapp-db-1")["State"]["StartedAt"] != before
    out = run("exec", "db", "cat", "/data/migrations")
    assert out.stdout.strip() == "migrated"
    failing = run("exec", "db", "sh", "-c", "exit 7", check=False)
    assert failing.returncode == 7
    run("exec", "worker", "sh", "-c", "echo from-worker")
    run("exec", "db", "sh", "-c", "echo hello-from-db > /proc/1/fd/1")
    logs = run("logs", "--tail", "5", "db", "migrate").stdout
    assert "webapp-db-1      | hello-from-db" in logs.splitlines()
    # Following a container that has exited ends by itself.
    assert run("logs", "-f", "migrate").returncode == 0
    run("kill", "worker")
    assert states()["worker"] == "exited"


def test_changed_network_is_recreated_and_changed_volume_refused(webapp):
    project, run, client = webapp
    run("up", "-d", "--wait")
    compose = project / "compose.yaml"
    original = compose.read_text()
    compose.write_text(original.replace("  front: {}\n", "  front: {labels: {tier: web}}\n"))
    plan = run("plan").stdout
    assert "recreate network webapp_front: labels" in plan
    assert "recreate webapp-web-1: network webapp_front recreated" in plan
    run("up", "-d")
    assert client.inspect_network("webapp_front")["Labels"]["tier"] == "web"
    assert client.inspect_container("webapp-web-1")["State"]["Running"]
    compose.write_text(compose.read_text().replace("  db-data: {}\n", "  db-data: {labels: {keep: me}}\n"))
    refused = run("up", "-d", check=False)
    assert refused.returncode == 2
    assert "--recreate-volumes" in refused.stderr and "Traceback" not in refused.stderr
    assert client.inspect_volume("webapp_db-data")["Labels"].get("keep") is None


def test_foreground_up_follows_logs_and_ctrl_c_stops_the_stack(webapp, tmp_path):
    import signal

    project, run, client = webapp
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "STACKYARD_ENGINE": run.host, "STACKYARD_EXAMPLE_IMAGE": run.image,
           "WEB_PORT": str(run.port)}
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli.app", "up", "-t", "1"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            running = [c for c in client.list_containers(filters={"label": ["com.docker.compose.project=webapp"]})
                       if c["State"] == "running"]
            if len(running) == 3:  # db, worker, web (migrate has run to completion)
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.5)
        time.sleep(1)  # let `up` reach its log-following phase
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Gracefully stopping" in err
    states = {c["Labels"]["com.docker.compose.service"]: c["State"]
              for c in client.list_containers(all=True, filters={"label": ["com.docker.compose.project=webapp"]})}
    assert set(states.values()) == {"exited"}



def test_exec_on_a_terminal_is_interactive(webapp, tmp_path):
    import pty
    import select

    project, run, client = webapp
    run("up", "-d", "--wait")
    master, slave = pty.openpty()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "STACKYARD_ENGINE": run.host, "STACKYARD_EXAMPLE_IMAGE": run.image,
           "WEB_PORT": str(run.port)}
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli.app", "exec", "db", "sh"], cwd=project,
                            env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    output = b""
    sent = False
    try:
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    output += os.read(master, 4096)
                except OSError:
                    break
            # busybox's line editor asks the terminal where the cursor is; answer as a
            # terminal would, then type the command.
            if not sent and b"\x1b[6n" in output:
                os.write(master, b"\x1b[1;1R")
                os.write(master, b"echo tty-$((6*7)); test -t 0 && echo is-a-tty; exit 3\r")
                sent = True
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 3, output
    assert b"tty-42" in output and b"is-a-tty" in output
