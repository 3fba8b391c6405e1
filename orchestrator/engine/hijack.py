"""Hijacked connections: the engine's `Upgrade: tcp` streams for interactive exec and attach.

Called by `EngineClient.exec_attach` and `EngineClient.attach_container`. httpx cannot hand over the raw socket after an HTTP
upgrade, so this module opens its own connection to the same endpoint (Unix socket, TCP or
TLS), sends the request, reads the status line and headers, and returns the socket with the
bytes already read past the headers: from then on the socket carries the process's stdin
(what we send) and its output (what we read).
"""

from __future__ import annotations

import json
import socket
import ssl
from urllib.parse import urlsplit

from runtime import errdefs

_MAX_HEADER = 64 * 1024


def open_upgraded(endpoint, tls_context: ssl.SSLContext | None, path: str, body: dict | None,
                  timeout: float = 10.0) -> tuple[socket.socket, bytes]:
    """POST `body` (JSON; None for no body) to `path` with `Upgrade: tcp`; returns (socket,
    bytes read past headers).

    Raises:
        errdefs.Unavailable: the engine cannot be reached.
        errdefs.StackyardError: the engine answered with an error status.
    """
    try:
        sock = _connect(endpoint, tls_context, timeout)
    except OSError as exc:
        raise errdefs.Unavailable(f"cannot reach the engine at {endpoint.url}: {exc}") from exc
    payload = json.dumps(body).encode() if body is not None else b""
    host = urlsplit(endpoint.base_url).netloc or "docker"
    content_type = "Content-Type: application/json\r\n" if body is not None else ""
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: stackyard\r\n"
               f"{content_type}Connection: Upgrade\r\nUpgrade: tcp\r\n"
               f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
    try:
        sock.sendall(request)
        head, rest = _read_head(sock)
    except OSError as exc:
        sock.close()
        raise errdefs.Unavailable(f"connection to the engine at {endpoint.url} failed: {exc}") from exc
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 500
    if status not in (101, 200):
        sock.close()
        try:
            message = json.loads(rest.decode("utf-8", "replace") or "{}").get("message", status_line)
        except ValueError:
            message = rest.decode("utf-8", "replace").strip() or status_line
        raise errdefs.from_http_status(status, message)
    sock.settimeout(None)
    return sock, rest


def _connect(endpoint, tls_context: ssl.SSLContext | None, timeout: float) -> socket.socket:
    if endpoint.socket_path:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(endpoint.socket_path)
        return sock
    parts = urlsplit(endpoint.base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    if parts.scheme == "https":
        context = tls_context or ssl.create_default_context()
        sock = context.wrap_socket(sock, server_hostname=parts.hostname)
    return sock


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > _MAX_HEADER:
            raise OSError("the engine's response headers are too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest
