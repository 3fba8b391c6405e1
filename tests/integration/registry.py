"""A private Docker registry (Debian's `docker-registry`, distribution 2.8) on 127.0.0.1.

Used by the `registry` fixture: storage in a temp dir, HTTP on a free loopback port (dockerd
treats 127.0.0.0/8 registries as insecure, so no TLS is needed), stopped by PID.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def missing_registry() -> str | None:
    if shutil.which("docker-registry") is None:
        return "needs docker-registry (Debian package docker-registry)"
    return None


class PrivateRegistry:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sy-registry-", dir="/tmp"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> None:
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.root / 'data'}\nhttp:\n  addr: {self.address}\n")
        with open(self.root / "registry.log", "wb") as log:
            self.process = subprocess.Popen(["docker-registry", "serve", str(config)],
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"docker-registry did not start: {(self.root / 'registry.log').read_text()[-2000:]}")

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
