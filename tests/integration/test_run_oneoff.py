"""`stackyard run` on both engines, as `docker compose run`: the services it depends on come
up (not the service's own containers), the one-off's output and exit code are the command's,
stdin reaches it, `--rm` leaves nothing, `-d` prints its name; `up` never counts a one-off as
a replica or an orphan, and `down` removes it."""

import os
import subprocess

import pytest

from orchestrator.engine import EngineClient
from tests.integration.stack_cli import StackCLI

pytestmark = pytest.mark.dockerd

STACK = """\
name: oneoff
services:
  db:
    image: ${IMAGE}
    init: true
    command: ["sleep", "3600"]
  web:
    image: ${IMAGE}
    init: true
    command: ["sleep", "3600"]
    restart: always
    depends_on: [db]
    environment:
      ROLE: web
"""


@pytest.fixture
def stack(tmp_path, engine):
    (tmp_path / "compose.yaml").write_text(STACK)
    cli = StackCLI(tmp_path, *engine)
    client = EngineClient(engine[0])
    try:
        yield cli, client
    finally:
        cli("down", "-t", "1", "--progress", "quiet")
        client.close()


def containers(client):
    return {c["Names"][0].lstrip("/"): c for c in client.list_containers(
        all=True, filters={"label": ["com.docker.compose.project=oneoff"]})}


def test_an_attached_run_gives_the_commands_output_and_exit_code_and_leaves_nothing(stack):
    cli, client = stack
    proc = cli("run", "--rm", "--progress", "quiet", "web", "sh", "-c", 'echo "out $ROLE"; echo err >&2; exit 5')
    assert proc.returncode == 5, proc.stderr
    assert proc.stdout == b"out web\n" and proc.stderr.endswith(b"err\n")
    # Its dependency runs; the service's own container was never made; the one-off is gone.
    assert {name: c["State"] for name, c in containers(client).items()} == {"oneoff-db-1": "running"}


def test_stdin_is_piped_in_without_a_tty(stack):
    cli, client = stack
    proc = cli("run", "--rm", "-T", "--no-deps", "--progress", "quiet", "web", "wc", "-c", stdin=b"x" * 100000)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == b"100000"
    assert containers(client) == {}  # --no-deps: nothing else started


def test_a_detached_one_off_is_not_a_replica_nor_an_orphan_and_down_removes_it(stack):
    cli, client = stack
    proc = cli("run", "-d", "--name", "oneoff-debug", "-e", "EXTRA=1", "--progress", "quiet", "web", "sleep", "600")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == "oneoff-debug"
    debug = client.inspect_container("oneoff-debug")
    assert debug["Config"]["Labels"]["com.docker.compose.oneoff"] == "True"
    assert "EXTRA=1" in debug["Config"]["Env"] and "ROLE=web" in debug["Config"]["Env"]
    assert debug["HostConfig"]["RestartPolicy"]["Name"] in ("", "no")  # a one-off is not restarted
    assert cli("up", "-d", "--remove-orphans", "--progress", "quiet").returncode == 0
    listed = containers(client)
    assert set(listed) == {"oneoff-db-1", "oneoff-web-1", "oneoff-debug"}
    assert listed["oneoff-debug"]["Id"] == debug["Id"] and listed["oneoff-debug"]["State"] == "running"
    assert cli("plan", "--detailed-exitcode").returncode == 0  # converged: the one-off changes nothing
    assert cli("down", "-t", "1", "--progress", "quiet").returncode == 0
    assert containers(client) == {}


def test_bad_requests_are_refused_before_anything_is_made(stack):
    cli, client = stack
    for args, words in ((("run", "nosuch", "true"), b"no such service"),
                        (("run", "-p", "80/icmp", "web", "true"), b"invalid port mapping")):
        proc = cli(*args)
        assert proc.returncode == 2 and words in proc.stderr and b"Traceback" not in proc.stderr
    assert containers(client) == {}


def test_on_a_terminal_the_one_off_gets_a_tty(stack, tmp_path):
    import pty
    import select
    import time

    cli, client = stack
    master, slave = pty.openpty()
    proc = subprocess.Popen(cli.argv("run", "--rm", "--no-deps", "--progress", "quiet", "web", "sh", "-c",
                                     "read line; test -t 0 && echo is-a-tty; echo got-$line; exit 3"),
                            cwd=tmp_path, env=cli.env, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    # Typed at once: the terminal keeps it until the run reads it and sends it to the container.
    os.write(master, b"hello\r")
    output = b""
    try:
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    output += os.read(master, 4096)
                except OSError:
                    break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 3, output
    assert output.count(b"is-a-tty") == 1 and output.count(b"got-hello") == 1, output
    assert containers(client) == {}


HEALTHY_STACK = """\
name: oneoffwait
services:
  db:
    image: ${IMAGE}
    init: true
    command: ["sh", "-c", "sleep 2; touch /tmp/ready; sleep 3600"]
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ready"], interval: 300ms, retries: 100}
  web:
    image: ${IMAGE}
    init: true
    depends_on:
      db: {condition: service_healthy}
"""


def test_a_one_off_starts_only_once_its_dependency_is_healthy(tmp_path, engine):
    (tmp_path / "compose.yaml").write_text(HEALTHY_STACK)
    cli = StackCLI(tmp_path, *engine)
    client = EngineClient(engine[0])
    try:
        proc = cli("run", "--rm", "-T", "--progress", "quiet", "web", "true")
        assert proc.returncode == 0, proc.stderr
        # the one-off ran after db's healthcheck passed, not as soon as db had started
        assert client.inspect_container("oneoffwait-db-1")["State"]["Health"]["Status"] == "healthy"
    finally:
        cli("down", "-t", "1", "--progress", "quiet")
        client.close()
