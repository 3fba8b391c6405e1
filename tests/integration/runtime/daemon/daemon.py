"""A private stackyard daemon for tests: temp root, exec root and socket; stopped by PID.

Used by the daemon tests' fixture (conftest.py). Started as the user starts it
(`stackyard daemon --root … --exec-root … -H unix://…`), in its own process group.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.engine.builtin import answers


class PrivateStackyardDaemon:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="sy-daemon-", dir="/tmp"))
        self.root = self.base / "root"
        self.exec_root = self.base / "run"
        self.socket = self.exec_root / "stackyard.sock"
        self.host = f"unix://{self.socket}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0, extra: tuple[str, ...] = ()) -> None:
        self.log = open(self.base / "daemon.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stackyard.main", "daemon", "--root", str(self.root),
             "--exec-root", str(self.exec_root), "-H", self.host, "--log-level", "debug", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.process.returncode}: {self.log_text()}")
            if self.socket.exists() and answers(str(self.socket), timeout=0.5):
                return
            time.sleep(0.02)
        raise RuntimeError(f"daemon did not listen within {timeout} s: {self.log_text()}")

    def log_text(self) -> str:
        try:
            return (self.base / "daemon.log").read_text()
        except OSError:
            return ""

    def remove_containers(self) -> None:
        """Force-remove every container the tests left (through the API, as a user would)."""
        import httpx
        if self.process is None or self.process.poll() is not None:
            return
        transport = httpx.HTTPTransport(uds=str(self.socket))
        try:
            with httpx.Client(transport=transport, base_url="http://stackyard", timeout=60) as api:
                for container in api.get("/containers/json", params={"all": "1"}).json():
                    api.delete(f"/containers/{container['Id']}", params={"force": "1", "v": "1"})
        except (httpx.HTTPError, ValueError):
            pass

    def stop_supervisor(self) -> None:
        """The supervisor outlives the daemon by design; a test's supervisor is stopped by PID."""
        from runtime import errdefs
        from runtime.supervisor.client import SupervisorClient
        try:
            pid = SupervisorClient(str(self.exec_root / "supervisor.sock")).ping()["pid"]
        except errdefs.StackyardError:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                pass
            time.sleep(0.02)

    def stop(self) -> None:
        self.remove_containers()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()
        self.stop_supervisor()
        self.purge_kernel_state()
        shutil.rmtree(self.base, ignore_errors=True)

    def purge_kernel_state(self) -> None:
        """A stopped daemon leaves bridges, namespaces and rules for its next start (restore);
        a test's daemon has no next start, so remove what it made."""
        if (self.root / "network").exists():
            from runtime.network import NetworkManager
            NetworkManager(str(self.root / "network"), str(self.exec_root)).purge()
