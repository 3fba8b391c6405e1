"""The engine's read-only list calls over a Unix socket with the standard library alone.

Used only by `orchestrator.converged`, whose whole job is to answer a converged `up -d` in a
few tens of milliseconds: the full client (`client.EngineClient`) costs ~45 ms of imports
(httpx, httpcore, ssl, email, urllib.request) before its first byte, more than the four list
calls `observe` makes. `LiteEngine` has the same method names and results as `EngineClient`
for those calls, so `observe.observe` takes either. One HTTP/1.1 request per connection
(`Connection: close`), so a call is thread-safe and a reply ends at EOF. Any failure raises
`LiteError`; the converged check then takes the full path, which reports it properly.
"""

from __future__ import annotations

import json
import socket
from typing import Any, Mapping
from urllib.parse import urlencode

from orchestrator.engine.query import clean_params

TIMEOUT = 10.0
MAX_REPLY = 64 * 1024 * 1024


class LiteError(Exception):
    """The engine could not be asked or answered something other than 200 with JSON."""


def socket_path(url: str) -> str | None:
    """The socket of a `unix://` (or bare path) engine address; None for any other kind."""
    if url.startswith("/"):
        return url
    if url.startswith("unix://"):
        return url[len("unix://"):] or None
    return None


class LiteEngine:
    """`EngineClient`'s list calls against the engine listening on `path`, at API `version`
    (unversioned paths when None)."""

    def __init__(self, path: str, *, version: str | None = None):
        self.path = path
        self.prefix = f"/v{version.lstrip('v')}" if version else ""

    def __enter__(self) -> "LiteEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def list_containers(self, *, all: bool = False, filters: Mapping[str, Any] | None = None) -> list[dict]:
        return self.get_json("/containers/json", {"all": all, "filters": filters}) or []

    def list_networks(self, *, filters: Mapping[str, Any] | None = None) -> list[dict]:
        return self.get_json("/networks", {"filters": filters}) or []

    def list_volumes(self, *, filters: Mapping[str, Any] | None = None) -> list[dict]:
        return (self.get_json("/volumes", {"filters": filters}) or {}).get("Volumes") or []

    def list_images(self, *, all: bool = False, filters: Mapping[str, Any] | None = None) -> list[dict]:
        return self.get_json("/images/json", {"filters": filters, "all": all}) or []

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        query = urlencode(clean_params(params) or {})
        target = f"{self.prefix}{path}{'?' + query if query else ''}"
        request = f"GET {target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: stackyard\r\nConnection: close\r\n\r\n"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(TIMEOUT)
                conn.connect(self.path)
                conn.sendall(request.encode("ascii"))
                reply = _read_all(conn)
        except OSError as exc:
            raise LiteError(f"cannot ask the engine at {self.path}: {exc}") from exc
        status, body = parse_reply(reply)
        if status != 200:
            raise LiteError(f"GET {target} answered {status}")
        try:
            return json.loads(body) if body.strip() else None
        except ValueError as exc:
            raise LiteError(f"GET {target} answered invalid JSON") from exc


def _read_all(conn: socket.socket) -> bytes:
    chunks, size = [], 0
    while True:
        chunk = conn.recv(262144)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REPLY:
            raise LiteError(f"the engine's reply is larger than {MAX_REPLY} bytes")


def parse_reply(reply: bytes) -> tuple[int, bytes]:
    """(status, body) of a whole HTTP/1.1 reply read to EOF: chunked or Content-Length."""
    head, sep, rest = reply.partition(b"\r\n\r\n")
    if not sep:
        raise LiteError("the engine's reply has no end of headers")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise LiteError(f"the engine's reply starts with {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return int(parts[1]), _dechunk(rest)
    if "content-length" in headers:
        length = int(headers["content-length"])
        if len(rest) < length:
            raise LiteError("the engine's reply ended early")
        return int(parts[1]), rest[:length]
    return int(parts[1]), rest


def _dechunk(data: bytes) -> bytes:
    out, position = [], 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            raise LiteError("the engine's chunked reply ended early")
        try:
            size = int(data[position:line_end].split(b";", 1)[0], 16)
        except ValueError as exc:
            raise LiteError("the engine's chunked reply has a bad chunk size") from exc
        if size == 0:
            return b"".join(out)
        start = line_end + 2
        if start + size > len(data):
            raise LiteError("the engine's chunked reply ended early")
        out.append(data[start:start + size])
        position = start + size + 2
