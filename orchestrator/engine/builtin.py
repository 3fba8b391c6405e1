"""Reaching the built-in engine: start its daemon in the background when nothing answers.

Called by the stack commands when the engine is `builtin`. The daemon is a separate program
(`stackyard daemon`), started as a detached process — never imported here, so the orchestrator
keeps its layering (it never imports `runtime`). A lock file makes two CLIs started together
share one daemon; the daemon's output goes to a log file whose tail is shown if it fails.
Paths come from STACKYARD_BUILTIN_ROOT / STACKYARD_BUILTIN_EXEC_ROOT (tests run private daemons).
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from runtime import errdefs

READY_TIMEOUT = 15.0


class BuiltinEngineError(errdefs.Unavailable):
    """The built-in daemon could not be reached or started; the message says why."""


@dataclass(frozen=True)
class BuiltinPaths:
    root: str
    exec_root: str

    @property
    def socket(self) -> str:
        return os.path.join(self.exec_root, "stackyard.sock")

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"


def builtin_paths(environ: Mapping[str, str]) -> BuiltinPaths:
    return BuiltinPaths(environ.get("STACKYARD_BUILTIN_ROOT", "/var/lib/stackyard"),
                        environ.get("STACKYARD_BUILTIN_EXEC_ROOT", "/run/stackyard"))


def answers(socket_path: str, timeout: float = 2.0) -> bool:
    """True when something on the socket replies to GET /_ping with 200."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: stackyard\r\nConnection: close\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def ensure_daemon(paths: BuiltinPaths) -> str:
    """The URL of a running built-in daemon, starting one if needed."""
    if answers(paths.socket):
        return paths.url
    if os.geteuid() != 0:
        raise BuiltinEngineError("the built-in engine needs root to start its daemon; run as root, "
                                 "or use --engine docker or a URL")
    Path(paths.exec_root).mkdir(parents=True, exist_ok=True)
    Path(paths.root).mkdir(parents=True, exist_ok=True)
    with open(os.path.join(paths.exec_root, "start.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the second CLI waits here, then finds the daemon up
        if answers(paths.socket):
            return paths.url
        log_path = Path(paths.root) / "daemon.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "stackyard.main", "daemon", "--root", paths.root,
                 "--exec-root", paths.exec_root, "--host", paths.url],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if answers(paths.socket, timeout=0.5):
                return paths.url
            code = process.poll()
            if code is not None:
                raise BuiltinEngineError(f"the built-in daemon exited with status {code} while starting "
                                         f"(log {log_path}):\n{_log_tail(log_path)}")
            time.sleep(0.02)
        raise BuiltinEngineError(f"the built-in daemon did not answer on {paths.socket} within "
                                 f"{READY_TIMEOUT:g} s (log {log_path})")
