"""The client side of the supervisor protocol, used by runtime.containers.manager (and tests).

Blocking, one connection per request: requests are rare and short, and a request that waits
(stop, wait, exec_wait) then holds only its own connection. `start_supervisor` launches the
process detached (new session, stdio to a log file) so it outlives the daemon that started it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Iterator

from runtime import errdefs
from runtime.supervisor.protocol import encode, send_with_fds


def _error(payload: dict) -> errdefs.StackyardError:
    kind = getattr(errdefs, payload.get("kind", ""), None)
    if not (isinstance(kind, type) and issubclass(kind, errdefs.StackyardError)):
        kind = errdefs.Internal
    return kind(payload.get("message", "supervisor error"))


class SupervisorClient:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    def _connect(self, timeout: float | None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.settimeout(timeout)
        try:
            sock.connect(self.socket_path)
        except OSError as exc:
            sock.close()
            raise errdefs.Unavailable(f"supervisor at {self.socket_path} is not reachable: {exc.strerror or exc}") from exc
        return sock

    def call(self, op: str, *, fds: list[int] | tuple = (), timeout: float | None = 30.0, **fields) -> dict:
        """One request, one reply. Raises the errdefs error the supervisor reported, or Unavailable."""
        sock = self._connect(timeout)
        try:
            send_with_fds(sock, encode({"op": op, **fields}), list(fds))
            reply = self._read_line(sock)
        except (socket.timeout, OSError) as exc:
            raise errdefs.Unavailable(f"supervisor op {op}: {exc}") from exc
        finally:
            sock.close()
        if not reply.get("ok"):
            raise _error(reply.get("error") or {})
        return reply

    @staticmethod
    def _read_line(sock: socket.socket, buf: bytearray | None = None) -> dict:
        buf = buf if buf is not None else bytearray()
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise errdefs.Unavailable("supervisor closed the connection")
            buf += chunk
        line, _, rest = bytes(buf).partition(b"\n")
        buf[:] = rest
        return json.loads(line)

    def stream(self, op: str, *, timeout: float | None = None, **fields) -> Iterator[dict]:
        """A streaming request (events). Subscribes now, before returning, so nothing that
        happens after the call is missed; the iterator yields each later message. `timeout`
        bounds the wait for one message (Unavailable when it passes)."""
        sock = self._connect(timeout)
        buf = bytearray()
        try:
            send_with_fds(sock, encode({"op": op, **fields}), [])
            first = self._read_line(sock, buf)
        except BaseException:
            sock.close()
            raise
        if not first.get("ok"):
            sock.close()
            raise _error(first.get("error") or {})
        return self._messages(sock, buf)

    def _messages(self, sock: socket.socket, buf: bytearray) -> Iterator[dict]:
        try:
            while True:
                try:
                    yield self._read_line(sock, buf)
                except (socket.timeout, OSError) as exc:
                    raise errdefs.Unavailable(f"supervisor event stream: {exc}") from exc
        finally:
            sock.close()

    def ping(self) -> dict:
        return self.call("ping", timeout=5.0)


def start_supervisor(root: str, run_root: str, *, timeout: float = 10.0) -> int:
    """Launches `python3 -m runtime.supervisor` detached and waits until it answers; its pid.

    Raises Unavailable (with the tail of its log) if it does not come up.
    """
    os.makedirs(run_root, mode=0o700, exist_ok=True)
    log_file = os.path.join(run_root, "supervisor.log")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    with open(log_file, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "runtime.supervisor", "--root", root, "--run-root", run_root],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                env=env, close_fds=True)
    client = SupervisorClient(os.path.join(run_root, "supervisor.sock"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if client.ping()["pid"] == proc.pid:
                return proc.pid
        except errdefs.Unavailable:
            pass
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    with open(log_file, "rb") as fh:
        tail = fh.read()[-2000:].decode(errors="replace")
    raise errdefs.Unavailable(f"supervisor did not start (exit {proc.returncode}): {tail}")


def ensure_supervisor(root: str, run_root: str) -> int:
    """The pid of the supervisor answering on `<run_root>/supervisor.sock`, started if none does.

    Called by the daemon at start-up (runtime/services.py). Raises Unavailable.
    """
    try:
        return SupervisorClient(os.path.join(run_root, "supervisor.sock")).ping()["pid"]
    except errdefs.Unavailable:
        return start_supervisor(root, run_root)
