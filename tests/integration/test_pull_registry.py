"""Pulling a stack's images from a registry the test runs on 127.0.0.1, through the CLI."""

import json
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
def pushed_image(dockerd, busybox_image, registry):
    """busybox pushed to the private registry, then removed locally."""
    ref = f"{registry.address}/sytest/pulled:1"
    with EngineClient(dockerd.host) as client:
        client.tag_image(busybox_image, f"{registry.address}/sytest/pulled", "1")
        for _ in client.push_image(ref):
            pass
        client.remove_image(ref)
        yield ref
        try:
            client.remove_image(ref, force=True)
        except errdefs.NotFound:
            pass


def test_up_pulls_missing_images_with_progress(tmp_path, dockerd, pushed_image):
    (tmp_path / "compose.yaml").write_text(
        f"name: pulltest\nservices:\n  app:\n    image: {pushed_image}\n    command: [sleep, '60']\n"
        "    stop_grace_period: 1s\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "STACKYARD_ENGINE": dockerd.host}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "orchestrator.cli.app", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    try:
        plan = run("plan")
        assert f"pull image {pushed_image}: not present locally" in plan.stdout
        up = run("up", "-d", "--progress", "json")
        assert up.returncode == 0, up.stderr
        events = [json.loads(line) for line in up.stdout.splitlines()]
        assert {"target": f"image {pushed_image}", "status": "done", "text": "Pulled", "detail": ""} in events
        assert "nothing to do" in run("plan").stdout
        again = run("pull", "--progress", "plain")
        assert again.returncode == 0 and "Pulled" in again.stderr
    finally:
        run("down", "-t", "1")
