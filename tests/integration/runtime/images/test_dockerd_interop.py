"""Archives and registries shared with a real dockerd (Debian docker.io 20.10, private instance).

`docker save` → our load; our save → `docker load` (same image id); our push → `docker pull`
(same layers). The dockerd fixture is the session one other tests use (no internet, no Hub).
"""

import io
import os
import subprocess
import uuid

import pytest

from tests.integration.runtime.images.conftest import mounted_view

pytestmark = pytest.mark.dockerd


def docker(daemon, *args, stdin=None):
    result = subprocess.run(["docker", *args], input=stdin, capture_output=True, timeout=120,
                            env=dict(os.environ, DOCKER_HOST=daemon.host))
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def test_docker_save_loads_here_and_our_save_loads_in_docker(service, dockerd, busybox_image, tmp_path):
    archive = docker(dockerd, "save", busybox_image)
    assert service.load(io.BytesIO(archive)) == [f"Loaded image: {busybox_image}"]
    image = service.get(busybox_image)
    docker_id = docker(dockerd, "image", "inspect", "--format", "{{.Id}}", busybox_image).decode().strip()
    assert image.id == docker_id
    with mounted_view(service, image.chain_id, tmp_path) as root:
        assert open(os.path.join(root, "bin/busybox"), "rb").read() == open("/bin/busybox", "rb").read()

    tag = f"sytest/roundtrip-{uuid.uuid4().hex[:8]}:1"
    service.tag(image.id, tag)
    ours = io.BytesIO()
    service.save([tag], ours, format="docker")
    try:
        loaded = docker(dockerd, "load", stdin=ours.getvalue()).decode()
        assert f"Loaded image: {tag}" in loaded
        assert docker(dockerd, "image", "inspect", "--format", "{{.Id}}", tag).decode().strip() == image.id
    finally:
        subprocess.run(["docker", "rmi", tag], capture_output=True, env=dict(os.environ, DOCKER_HOST=dockerd.host))


def test_image_we_push_is_pulled_by_dockerd(service, dockerd, busybox_image, registry, tmp_path):
    service.load(io.BytesIO(docker(dockerd, "save", busybox_image)))
    target = f"{registry.address}/sytest/from-us-{uuid.uuid4().hex[:8]}:v1"
    service.tag(busybox_image, target)
    digest = service.push(target)
    try:
        docker(dockerd, "pull", target)
        layers = docker(dockerd, "image", "inspect", "--format", "{{json .RootFS.Layers}}", target).decode()
        assert all(d in layers for d in service.get(target).diff_ids)
        repo_digests = docker(dockerd, "image", "inspect", "--format", "{{json .RepoDigests}}", target).decode()
        assert digest in repo_digests
    finally:
        subprocess.run(["docker", "rmi", target], capture_output=True, env=dict(os.environ, DOCKER_HOST=dockerd.host))
