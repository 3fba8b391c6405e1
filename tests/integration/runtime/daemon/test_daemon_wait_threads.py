"""`docker run -d` (CLI 20.10) leaves a container wait open on the daemon until the container
exits. Those waits must not hold the daemon's worker threads: more detached runs than the pool
has workers (six on two cores) once stalled every later request."""

import os
import shutil

import pytest

from tests.integration.runtime.daemon.test_daemon_containers_cli import docker

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (Debian docker.io)")


@pytest.fixture(scope="module")
def image(stackyard_daemon, busybox_ref):
    docker(stackyard_daemon, "pull", "-q", busybox_ref)
    return busybox_ref


def test_many_detached_runs_leave_the_daemon_responsive(stackyard_daemon, image):
    d = stackyard_daemon
    count = min(32, (os.cpu_count() or 1) + 4) + 3  # more than the default thread pool's workers
    ids = []
    try:
        for _ in range(count):
            ids.append(docker(d, "run", "-d", image, "sleep", "60", timeout=15).stdout.strip())
        running = docker(d, "ps", "-q", "--no-trunc", timeout=15).stdout.split()
        assert set(ids) <= set(running)
    finally:
        if ids:
            docker(d, "rm", "-f", *ids, check=False, timeout=60)
