"""An HTTP proxy between the client under test and a real registry, that injects faults.

Used by test_faults.py. It forwards every request to the registry (keeping Range and auth
headers) and, according to the rules the test sets, answers with an error status first,
cuts a blob body mid-stream, or flips a byte in it. It records what it saw (method, path,
Range) so tests can check the client's behaviour, e.g. that a resumed download asked for the
right byte.
"""

from __future__ import annotations

import http.client
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}


@dataclass
class Rules:
    # (status, extra headers) answered, one per matching request, before forwarding again;
    # status 0 forwards that request (to place a fault on a later step).
    statuses: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    status_path: str = "/v2/"           # requests whose path contains this get the statuses
    status_method: str | None = None    # ... and have this method (None: any)
    cut_blob_at: list[int] = field(default_factory=list)   # per blob GET: bytes sent before cutting
    corrupt_blobs: bool = False
    drop_headers: set[str] = field(default_factory=set)  # reply headers (lower case) never passed on
    # per PATCH: forward only this many bytes of the chunk, then drop the client's connection
    # unanswered (the registry holds part of the chunk; the client does not know how much).
    truncate_patches: list[int | None] = field(default_factory=list)  # None: forward that one whole


@dataclass
class Seen:
    method: str
    path: str
    range: str | None


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rules = Rules()
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                proxy.forward(self)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.stopped = False

    def start(self) -> "FaultProxy":
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent: a test may stop it early to play a dead server)."""
        if self.stopped:
            return
        self.stopped = True
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def requests(self, method: str | None = None, contains: str = "") -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if (method is None or s.method == method) and contains in s.path]

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.seen.append(Seen(handler.command, handler.path, handler.headers.get("Range")))
            injected = None
            if (self.rules.statuses and self.rules.status_path in handler.path
                    and self.rules.status_method in (None, handler.command)):
                injected = self.rules.statuses.pop(0)
                if injected[0] == 0:
                    injected = None
            is_blob_get = handler.command == "GET" and "/blobs/sha256:" in handler.path
            cut = self.rules.cut_blob_at.pop(0) if is_blob_get and self.rules.cut_blob_at else None
            corrupt = is_blob_get and self.rules.corrupt_blobs
            truncate = (self.rules.truncate_patches.pop(0)
                        if handler.command == "PATCH" and self.rules.truncate_patches else None)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if injected is not None:
            status, headers = injected
            payload = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' if status == 429 else b"injected"
            handler.send_response(status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(payload)
            return
        host, port = self.upstream.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
            headers["Host"] = self.upstream
            if truncate is not None:
                start = int(headers.get("Content-Range", "0-0").partition("-")[0])
                body = body[:truncate]
                headers["Content-Length"] = str(len(body))
                headers["Content-Range"] = f"{start}-{start + len(body) - 1}"
            conn.request(handler.command, handler.path, body=body, headers=headers)
            reply = conn.getresponse()
            if truncate is not None:
                reply.read()
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            data = reply.read() if handler.command != "HEAD" else b""
            handler.send_response(reply.status, reply.reason)
            for key, value in reply.getheaders():
                if key.lower() in HOP_BY_HOP or key.lower() == "content-length" or key.lower() in self.rules.drop_headers:
                    continue
                if key.lower() == "location" and value.startswith(f"http://{self.upstream}"):
                    value = value.replace(self.upstream, self.address, 1)
                handler.send_header(key, value)
            length_header = reply.getheader("Content-Length") if handler.command == "HEAD" else str(len(data))
            if length_header is not None:
                handler.send_header("Content-Length", length_header)
            handler.end_headers()
            if corrupt and data:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            if cut is not None and reply.status in (200, 206):
                handler.wfile.write(data[:cut])
                handler.wfile.flush()
                # Close the connection with the body unfinished. A FIN, not a reset: a reset
                # would make the kernel drop the bytes already sent before the client reads them.
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_WR)
                return
            handler.wfile.write(data)
        finally:
            conn.close()
