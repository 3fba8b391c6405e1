"""Fixtures for executor tests: root + busybox required (visible skip otherwise); a Runner per test."""

from __future__ import annotations

import pytest

from tests.integration.runtime.probe.build import missing_reason, probe_binary
from tests.integration.runtime.rootfs import missing_requirement


@pytest.fixture(scope="session")
def probe_path():
    reason = missing_reason()
    if reason:
        pytest.skip(f"probe cannot be built: {reason}")
    return str(probe_binary())


@pytest.fixture
def native():
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    from runtime.executor.native import NativeExecutor
    from tests.integration.runtime.executor.harness import Runner
    runner = Runner(NativeExecutor())
    try:
        yield runner
    finally:
        runner.close()
