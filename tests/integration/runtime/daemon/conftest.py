"""Fixtures for the daemon tests: `stackyard_daemon` (module scope), a private daemon."""

import os

import pytest

from tests.integration.runtime.daemon.daemon import PrivateStackyardDaemon


@pytest.fixture(scope="module")
def stackyard_daemon():
    if os.geteuid() != 0:
        pytest.skip("the stackyard daemon needs root")
    daemon = PrivateStackyardDaemon()
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def busybox_ref(registry):
    """`127.0.0.1:PORT/sytest/busybox:1` in the session's private registry."""
    import shutil
    if shutil.which("skopeo") is None:
        pytest.skip("needs skopeo (Debian package skopeo) to push the test image")
    from tests.integration.runtime.daemon.images import push_busybox
    return push_busybox(registry.address)
