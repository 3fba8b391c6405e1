"""`stackyard logs --since/--until` on both engines: the window a user gives (a duration, an
RFC 3339 time or Unix seconds, converted on the client as the docker CLI does) selects the
lines written in it; a value in none of those forms is refused before anything is asked."""

import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.dockerd

ROOT = Path(__file__).resolve().parents[2]
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
    host, image = engine
    (tmp_path / "compose.yaml").write_text(STACK)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "STACKYARD_ENGINE": host, "IMAGE": image}

    def cli(*args, check=True):
        proc = subprocess.run([sys.executable, "-m", "stackyard.main", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert not check or proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    cli("up", "-d", "--progress", "quiet")
    try:
        yield cli
    finally:
        cli("down", "-t", "1", "--progress", "quiet", check=False)


def lines(proc):
    return [line.split("|", 1)[1].strip() for line in proc.stdout.splitlines() if "|" in line]


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
    assert "--since" in proc.stderr and "duration like 10m" in proc.stderr
    assert "Traceback" not in proc.stderr
