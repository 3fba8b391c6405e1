"""A converged `up -d` run again is answered from its stamp (orchestrator/converged.py) without
loading or planning, and every kind of change since the stamp still takes the full path.

Runs the real `stackyard` entry point (stackyard.main) in a subprocess against a private
engine, under `python -X importtime` (which reports each import on stderr as it happens):
whether the loader was imported tells whether the shortcut was taken.
"""

import os
import sys
import time
from pathlib import Path

import pytest

from orchestrator.engine import EngineClient, lite

pytestmark = pytest.mark.dockerd

ROOT = Path(__file__).resolve().parents[2]
RUNNER = "import sys\nfrom stackyard.main import main\nmain(sys.argv[1:])\n"
STACK = """\
name: conv
services:
  app:
    image: ${IMAGE}
    command: ["sleep", "3600"]
    init: true
    environment:
      GREETING: ${GREETING:-hello}
    configs: [settings]
  side:
    image: ${IMAGE}
    command: ["sleep", "3600"]
    init: true
    depends_on: [app]
configs:
  settings:
    file: ./settings.conf
"""


@pytest.fixture
def stack(tmp_path, engine):
    host, image = engine
    project = tmp_path / "conv"
    project.mkdir()
    (project / "compose.yaml").write_text(STACK)
    (project / "settings.conf").write_text("level=1\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT), "STACKYARD_ENGINE": host, "IMAGE": image}

    def up(extra_env=None):
        import subprocess
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", RUNNER, "up", "-d", "-t", "1"],
                              cwd=project, env={**env, **(extra_env or {})}, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "stackyard.main" in imported, proc.stderr[-2000:]
        up.imported = imported
        return "orchestrator.loader" in imported

    client = EngineClient(host)
    try:
        yield project, up, client
    finally:
        import subprocess
        subprocess.run([sys.executable, "-m", "stackyard.main", "down", "-t", "1"], cwd=project,
                       env=env, capture_output=True, timeout=120)
        client.close()


def _ids(client):
    return {c["Labels"]["com.docker.compose.service"]: c["Id"]
            for c in client.list_containers(all=True, filters={"label": ["com.docker.compose.project=conv"]})}


def test_converged_reapply_skips_loading_and_writes_nothing(stack):
    project, up, client = stack
    assert up() is True                      # cold: loads, plans, applies, stamps
    before = _ids(client)
    time.sleep(1.1)                          # `since` has one-second resolution
    since = int(time.time())
    assert up() is False                     # converged: answered from the stamp
    # ... asking a local engine without the HTTP stack's ~45 ms of imports (engine/lite.py)
    assert "httpx" not in up.imported
    assert up() is False
    events = client.events(since=since, until=int(time.time()) + 1,
                           filters={"type": ["container", "network", "volume"]})
    try:
        writes = [e.get("Action") for e in events if e.get("Action") not in ("top", "attach")]
    finally:
        events.close()
    assert writes == []
    assert _ids(client) == before


def test_the_light_client_lists_what_the_full_client_lists(stack):
    project, up, client = stack
    up()
    path = lite.socket_path(client.base_url)
    assert path is not None
    selector = {"label": ["com.docker.compose.project=conv"]}
    light = lite.LiteEngine(path, version=client.api_version)
    assert light.list_containers(all=True, filters=selector) == client.list_containers(all=True, filters=selector)
    assert light.list_networks(filters=selector) == client.list_networks(filters=selector)
    assert light.list_volumes(filters=selector) == client.list_volumes(filters=selector)
    assert light.list_images() == client.list_images()
    with pytest.raises(lite.LiteError, match="404"):
        light.get_json("/containers/conv-nothing-1/json")


def _edit_compose(project, client):
    path = project / "compose.yaml"
    path.write_text(path.read_text().replace('command: ["sleep", "3600"]\n    init: true\n    depends_on',
                                              'command: ["sleep", "3601"]\n    init: true\n    depends_on'))


def _edit_config_file(project, client):
    (project / "settings.conf").write_text("level=2\n")


def _add_dotenv(project, client):
    (project / ".env").write_text("GREETING=bonjour\n")


def _add_override(project, client):
    (project / "compose.override.yaml").write_text("services:\n  side:\n    environment:\n      EXTRA: '1'\n")


def _remove_container(project, client):
    client.remove_container("conv-side-1", force=True)


def _stop_container(project, client):
    client.stop_container("conv-side-1", timeout=1)


@pytest.mark.parametrize("change, expect_new", [
    (_edit_compose, {"side"}),
    (_edit_config_file, {"app"}),
    (_add_dotenv, {"app"}),
    (_add_override, {"side"}),
    (_remove_container, {"side"}),
    (_stop_container, set()),
])
def test_a_change_after_the_stamp_takes_the_full_path(stack, change, expect_new):
    project, up, client = stack
    up()
    assert up() is False
    before = _ids(client)
    change(project, client)
    assert up() is True
    after = _ids(client)
    assert {s for s in after if after[s] != before.get(s)} == expect_new
    states = {c["Labels"]["com.docker.compose.service"]: c["State"]
              for c in client.list_containers(all=True, filters={"label": ["com.docker.compose.project=conv"]})}
    assert states == {"app": "running", "side": "running"}
    assert up() is False                     # converged again, stamped again


def test_a_changed_environment_variable_takes_the_full_path(stack):
    project, up, client = stack
    up()
    assert up() is False
    before = _ids(client)
    assert up({"GREETING": "hola"}) is True
    assert _ids(client)["app"] != before["app"]


def test_the_shortcut_can_be_turned_off(stack):
    project, up, client = stack
    off = {"STACKYARD_NO_CONVERGED_CACHE": "1"}
    up(off)
    assert up(off) is True
