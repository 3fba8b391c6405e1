"""`stackyard exec -T` on both engines, as `docker compose exec -T`: our stdin reaches the
process and is closed when ours ends, its stdout and stderr come back apart and intact, its
exit code is ours; `-e`, `-u` and `-w` reach the process."""

import hashlib
import os

import pytest

from tests.integration.stack_cli import StackCLI

pytestmark = pytest.mark.dockerd

STACK = """\
name: execpipe
services:
  box:
    image: ${IMAGE}
    init: true
    command: ["sleep", "3600"]
"""


@pytest.fixture
def cli(tmp_path, engine):
    (tmp_path / "compose.yaml").write_text(STACK)
    run = StackCLI(tmp_path, *engine, FROM_HOST="passed on")
    run("up", "-d", "--progress", "quiet", check=True)
    try:
        yield run
    finally:
        run("down", "-t", "1", "--progress", "quiet")


def test_stdin_goes_in_and_output_comes_back_apart(cli):
    proc = cli("exec", "-T", "box", "sh", "-c", "wc -l; echo oops >&2; exit 3", stdin=b"one\ntwo\nthree\n")
    assert proc.returncode == 3
    assert proc.stdout.strip() == b"3"
    assert proc.stderr.strip() == b"oops"


def test_a_large_input_and_output_arrive_intact(cli):
    data = os.urandom(8 * 1024 * 1024)
    proc = cli("exec", "-T", "box", "sh", "-c", "cat > /tmp/blob && md5sum /tmp/blob", stdin=data)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0].decode() == hashlib.md5(data).hexdigest()
    back = cli("exec", "-T", "box", "cat", "/tmp/blob")
    assert back.returncode == 0 and back.stdout == data


def test_environment_user_and_workdir_reach_the_process(cli):
    proc = cli("exec", "-T", "-e", "GREETING=hi", "-e", "FROM_HOST", "-e", "NOT_SET_ANYWHERE", "-u", "1000",
               "-w", "/tmp", "box", "sh", "-c", 'echo "$GREETING|$FROM_HOST|${NOT_SET_ANYWHERE-unset}|$(id -u)|$(pwd)"')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == "hi|passed on|unset|1000|/tmp"
