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
