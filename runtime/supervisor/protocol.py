"""The supervisor's wire protocol: one JSON object per line on a Unix stream socket.

A request is `{"op": "...", ...}`; file descriptors a request carries (stdio for an exec or an
attach) travel with SCM_RIGHTS on the first bytes of the request. A reply is `{"ok": true, ...}`
or `{"ok": false, "error": {"kind": "Conflict", "message": "..."}}` where kind names an
errdefs class. Streaming ops (events) send many lines on the same connection. Used by
server.py (the supervisor side) and client.py (the manager side).
"""

from __future__ import annotations

import array
import json
import socket

MAX_FDS = 4
MAX_LINE = 8 * 1024 * 1024  # a spec with a seccomp profile is ~100 KB; generous bound

def encode(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def send_with_fds(sock: socket.socket, data: bytes, fds: list[int]) -> None:
    """Blocking send of `data`, the fds attached to its first chunk."""
    if fds:
        sent = sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        data = data[sent:]
    if data:
        sock.sendall(data)


def recv_with_fds(sock: socket.socket, size: int = 65536) -> tuple[bytes, list[int]]:
    """One recvmsg: the bytes and any fds that came with them (now owned by the caller)."""
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(size, socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - (len(payload) % fds.itemsize)])
    return data, list(fds)


def error_reply(kind: str, message: str) -> dict:
    return {"ok": False, "error": {"kind": kind, "message": message}}
