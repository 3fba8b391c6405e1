"""`stackyard logs --since/--until` on both engines: the window a user gives (a duration, an
RFC 3339 time or Unix seconds, converted on the client as the docker CLI does) selects the
lines written in it; a value in none of those forms is refused before anything is asked."""

import time
from datetime import datetime, timezone

import pytest

from tests.integration.stack_cli import StackCLI

pytestmark = pytest.mark.dockerd

STACK = """\
name: logwin
services:
  talker:
    image: ${IMAGE}
    init: true
    command: ["sh", "-c", "echo early; sleep 3; echo late; sleep 3600"]
"""


@pytest.fixture
def stack(tmp_path, engine):
    (tmp_path / "compose.yaml").write_text(STACK)
    cli = StackCLI(tmp_path, *engine)
    cli("up", "-d", "--progress", "quiet", check=True)
    try:
        yield lambda *args, check=True: cli(*args, check=check)
    finally:
        cli("down", "-t", "1", "--progress", "quiet")


def lines(proc):
    return [line.split("|", 1)[1].strip() for line in proc.stdout.decode().splitlines() if "|" in line]


def test_since_and_until_cut_the_log_where_the_user_says(stack):
    deadline = time.monotonic() + 30
    while "late" not in lines(stack("logs")) and time.monotonic() < deadline:
        time.sleep(0.3)
    stamped = {text.split(" ", 1)[1]: text.split(" ", 1)[0] for text in lines(stack("logs", "-t"))}
    assert set(stamped) == {"early", "late"}
    early = datetime.fromisoformat(stamped["early"][:26].rstrip("Z") + "+00:00")
    late = datetime.fromisoformat(stamped["late"][:26].rstrip("Z") + "+00:00")
    assert (late - early).total_seconds() > 2
    middle = early + (late - early) / 2
    rfc3339 = middle.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert lines(stack("logs", "--since", rfc3339)) == ["late"]
    assert lines(stack("logs", "--until", rfc3339)) == ["early"]
    assert lines(stack("logs", "--since", f"{middle.timestamp():.3f}")) == ["late"]
    assert lines(stack("logs", "--since", "1h")) == ["early", "late"]
    assert lines(stack("logs", "--until", "1h")) == []


def test_a_time_in_no_known_form_is_refused(stack):
    proc = stack("logs", "--since", "yesterday", check=False)
    assert proc.returncode == 2
    assert b"--since" in proc.stderr and b"duration like 10m" in proc.stderr
    assert b"Traceback" not in proc.stderr
