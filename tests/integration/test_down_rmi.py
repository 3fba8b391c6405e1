"""`stackyard down --rmi all|local` on dockerd and on the built-in engine: the stack's images
go once its containers are gone; an image still used outside the stack is kept with a
warning, and `down` still succeeds (as Docker Compose does)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.engine import EngineClient
from runtime import errdefs

pytestmark = pytest.mark.dockerd

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack(tmp_path, engine):
    host, image = engine
    client = EngineClient(host)
    alias = f"sytest/rmi-{tmp_path.name[-8:].lower()}"
    client.tag_image(image, alias, "1")
    project = tmp_path / "rmi"
    project.mkdir()
    (project / "compose.yaml").write_text(
        f"name: rmi\nservices:\n  app:\n    image: {alias}:1\n    command: [sleep, '3600']\n    init: true\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT), "STACKYARD_ENGINE": host}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "stackyard.main", *args], cwd=project, env=env,
                              capture_output=True, text=True, timeout=120)

    outsiders = []
    try:
        yield cli, client, f"{alias}:1", image, outsiders
    finally:
        cli("down", "-t", "1")
        for cid in outsiders:
            client.remove_container(cid, force=True)
        try:
            client.remove_image(f"{alias}:1")
        except errdefs.NotFound:
            pass
        client.close()


def test_down_rmi_all_removes_the_stacks_image_after_its_containers(stack):
    cli, client, ref, base, _ = stack
    assert cli("up", "-d").returncode == 0
    down = cli("down", "-t", "1", "--rmi", "all", "--progress", "plain")
    assert down.returncode == 0, down.stderr
    with pytest.raises(errdefs.NotFound):
        client.inspect_image(ref)
    client.inspect_image(base)  # only the stack's reference went, not the image under it


def test_down_rmi_local_keeps_images_named_in_the_stack_file(stack):
    cli, client, ref, _, _ = stack
    assert cli("up", "-d").returncode == 0
    assert cli("down", "-t", "1", "--rmi", "local").returncode == 0
    client.inspect_image(ref)


def test_down_rmi_keeps_an_image_used_outside_the_stack_with_a_warning(stack, engine, tmp_path):
    from tests.integration.dockerd import import_busybox

    cli, client, _, _, outsiders = stack
    # An image whose only reference is the stack's, used by a container outside the stack:
    # the engine refuses to remove it.
    solo = import_busybox(engine[0], f"sytest/rmi-solo-{tmp_path.name[-8:].lower()}:1")
    compose = tmp_path / "rmi" / "compose.yaml"
    compose.write_text(compose.read_text().replace(stack[2], solo))
    outsiders.append(client.create_container({"Image": solo, "Cmd": ["true"]}, name=None)["Id"])
    try:
        assert cli("up", "-d").returncode == 0
        down = cli("down", "-t", "1", "--rmi", "all", "--progress", "plain")
        assert down.returncode == 0, down.stderr
        assert "Kept" in down.stdout + down.stderr
        client.inspect_image(solo)
        assert not client.list_containers(all=True, filters={"label": ["com.docker.compose.project=rmi"]})
    finally:
        client.remove_container(outsiders.pop(), force=True)
        client.remove_image(solo)


def test_down_rmi_refuses_an_unknown_mode(stack):
    cli, *_ = stack
    down = cli("down", "--rmi", "some")
    assert down.returncode == 2
    assert "'--rmi'" in down.stderr and "Traceback" not in down.stderr
