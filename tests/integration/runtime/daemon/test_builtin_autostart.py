"""`--engine builtin`: the CLI starts the daemon when nothing answers, once, even when raced."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from orchestrator.engine.builtin import BuiltinPaths, answers, ensure_daemon


@pytest.fixture
def paths(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the built-in daemon needs root")
    paths = BuiltinPaths(str(tmp_path / "root"), str(tmp_path / "run"))
    yield paths
    from runtime import errdefs
    from runtime.supervisor.client import SupervisorClient
    try:  # the daemon started a supervisor, which outlives it by design: stop it by PID
        supervisor = SupervisorClient(str(Path(paths.exec_root) / "supervisor.sock")).ping()["pid"]
    except errdefs.StackyardError:
        supervisor = None
    pidfile = Path(paths.exec_root) / "stackyard.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text())
        os.kill(pid, signal.SIGTERM)
        try:
            os.waitpid(pid, 0)  # started by ensure_daemon from this process: ours to reap
        except ChildProcessError:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.02)
    if supervisor is not None:
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{supervisor}").exists():
            time.sleep(0.02)


def test_two_racing_clis_start_one_daemon(paths):
    urls, errors = [], []

    def start():
        try:
            urls.append(ensure_daemon(paths))
        except Exception as exc:  # reported below
            errors.append(exc)
    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert urls == [paths.url] * 3
    assert answers(paths.socket)
    pid = int((Path(paths.exec_root) / "stackyard.pid").read_text())
    # Exactly one daemon: the pid file names a live process and a second call reuses it.
    assert ensure_daemon(paths) == paths.url
    assert int((Path(paths.exec_root) / "stackyard.pid").read_text()) == pid
    assert (Path(paths.root) / "daemon.log").exists()
