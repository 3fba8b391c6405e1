"""Fixtures: a real supervisor process (python3 -m runtime.supervisor) over a temp root, and a
ContainerManager on it whose containers run the busybox rootfs (tests/integration/runtime/rootfs.py)
through the native executor, with network_mode none.

Cleanup, even on failure: every container is force-removed through the supervisor, the
supervisor is stopped by PID, leftover container cgroups are killed and removed, temp dirs go.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from runtime import errdefs
from tests.integration.runtime.rootfs import cached_busybox_rootfs, missing_requirement


def _skip_reason() -> str | None:
    reason = missing_requirement()
    if reason:
        return reason
    try:
        import runtime.executor.native  # noqa: F401  (skip with the reason if it cannot load)
    except ImportError as exc:
        return f"native executor not importable: {exc}"
    return None


class Env:
    """One isolated root/run root with its supervisor and manager."""

    def __init__(self, base: str) -> None:
        from runtime.containers.hooks import DirectoryImageHook
        from runtime.containers.manager import ContainerManager
        self.base = base
        self.root = os.path.join(base, "root")
        self.run_root = os.path.join(base, "run")
        self.socket = os.path.join(self.run_root, "supervisor.sock")
        self.hook = DirectoryImageHook(str(cached_busybox_rootfs()), os.path.join(base, "snapshots"))
        self.manager = ContainerManager(self.root, self.run_root, self.socket, image_hook=self.hook)
        self.pids: list[int] = []

    def start_supervisor(self) -> int:
        from runtime.supervisor.client import start_supervisor
        pid = start_supervisor(self.root, self.run_root)
        self.pids.append(pid)
        return pid

    def stop_supervisor(self, pid: int, sig: int = signal.SIGTERM) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid if not os.path.exists(f"/proc/{pid}") else 0
            if done:
                return
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    def create(self, cmd: list[str], *, name: str | None = None, **body) -> str:
        host = {"NetworkMode": "none", **body.pop("HostConfig", {})}
        return self.manager.create(name, {"Image": "busybox", "Cmd": cmd, "HostConfig": host, **body})

    def run(self, cmd: list[str], **body) -> str:
        cid = self.create(cmd, **body)
        self.manager.start(cid)
        return cid

    def cleanup(self) -> None:
        from runtime.executor.native import NativeExecutor
        ids = self.manager.store.ids()
        for cid in ids:
            try:
                self.manager.remove(cid, force=True, volumes=True)
            except errdefs.StackyardError:
                pass
        for pid in self.pids:
            self.stop_supervisor(pid)
        executor = NativeExecutor()
        for cid in ids:  # whatever the supervisor could not clean
            handle = executor.adopt(cid)
            from runtime.executor import cgroups
            handle = handle or cgroups.find(f"stackyard/{cid}")
            if handle is not None:
                executor.cleanup({}, handle)
        for target in mounts_under(self.base):  # e.g. a shareable /dev/shm a failed test left
            subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def mounts_under(base: str) -> list[str]:
    """Mount points at or below `base` in our mount namespace, deepest first."""
    real = os.path.realpath(base).rstrip("/") + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        targets = [line.split()[4].replace("\\040", " ") for line in f]
    return sorted((t for t in targets if (t + "/").startswith(real)), key=len, reverse=True)


@pytest.fixture
def env():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    # A run killed by `timeout` (SIGTERM) still cleans up: SIGTERM becomes KeyboardInterrupt,
    # which pytest turns into fixture teardown.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    e = Env(tempfile.mkdtemp(prefix="sy-ctr-"))
    try:
        e.start_supervisor()
        yield e
    finally:
        e.cleanup()
        signal.signal(signal.SIGTERM, previous)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
