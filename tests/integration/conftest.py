"""Fixtures for tests that need a real engine: a private `dockerd` and a busybox image in it.

`dockerd` (session): the daemon of tests/integration/dockerd.py; its address is also exported
as STACKYARD_TEST_DOCKER_HOST for tests that read the environment. `busybox_image` (session):
`sytest/busybox:1`, imported from the host's busybox-static (tests never pull from a registry).
Tests marked `dockerd` are skipped, with the reason, where the daemon cannot run.
"""

import os

import pytest

from tests.integration.dockerd import PrivateDockerd, import_busybox, missing_requirement
from tests.integration.registry import PrivateRegistry, missing_registry


def pytest_configure(config):
    config.addinivalue_line("markers", "dockerd: needs a private dockerd (root, Debian docker.io, busybox-static)")


def pytest_collection_modifyitems(config, items):
    reason = missing_requirement()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=f"dockerd tests skipped: {reason}")
    for item in items:
        if "dockerd" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def dockerd():
    reason = missing_requirement()
    if reason is not None:
        pytest.skip(reason)
    daemon = PrivateDockerd()
    previous = os.environ.get("STACKYARD_TEST_DOCKER_HOST")
    try:
        daemon.start()
        os.environ["STACKYARD_TEST_DOCKER_HOST"] = daemon.host
        yield daemon
    finally:
        if previous is None:
            os.environ.pop("STACKYARD_TEST_DOCKER_HOST", None)
        else:
            os.environ["STACKYARD_TEST_DOCKER_HOST"] = previous
        daemon.stop()


@pytest.fixture(scope="session")
def builtin_engine():
    """(address, busybox image) of a private stackyard daemon: the built-in engine under test."""
    from tests.integration.runtime.daemon.daemon import PrivateStackyardDaemon
    if os.geteuid() != 0:
        pytest.skip("the built-in engine needs root")
    daemon = PrivateStackyardDaemon()
    try:
        daemon.start()
        yield daemon.host, import_busybox(daemon.host)
    finally:
        daemon.stop()


@pytest.fixture(scope="module", params=["dockerd", "builtin"])
def engine(request):
    """(engine address, busybox image in it) for e2e tests that run on both engines: the
    private dockerd (the reference) and our private daemon (`builtin`)."""
    if request.param == "dockerd":
        return request.getfixturevalue("dockerd").host, request.getfixturevalue("busybox_image")
    return request.getfixturevalue("builtin_engine")


@pytest.fixture(scope="session")
def busybox_image(dockerd):
    return import_busybox(dockerd.host)


@pytest.fixture(scope="session")
def registry():
    """A private registry on 127.0.0.1 (Debian docker-registry), for pull and push tests."""
    reason = missing_registry()
    if reason is not None:
        pytest.skip(reason)
    server = PrivateRegistry()
    try:
        server.start()
        yield server
    finally:
        server.stop()
