"""One client connection of the supervisor: reads JSON-line requests (with their fds) and
writes replies without ever blocking the loop.

Used by server.py. Output that a client does not read is queued up to
MAX_SUBSCRIBER_BACKLOG bytes (an event subscriber that stopped reading), then the connection
is dropped: the supervisor never waits for a client.
"""

from __future__ import annotations

import os
import socket

from runtime.supervisor.protocol import MAX_LINE, encode, error_reply, recv_with_fds

MAX_SUBSCRIBER_BACKLOG = 4 * 1024 * 1024


class Connection:
    def __init__(self, server, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = b""
        self.outbuf = b""
        self.fds: list[int] = []
        self.closed = False
        sock.setblocking(False)
        server.loop.add_reader(self.fd, self.on_readable)

    def on_readable(self) -> None:
        try:
            data, fds = recv_with_fds(self.sock)
        except BlockingIOError:
            return
        except OSError:
            data, fds = b"", []
        self.fds.extend(fds)
        if not data:
            self.close()
            return
        self.inbuf += data
        if len(self.inbuf) > MAX_LINE:
            self.send(error_reply("InvalidArgument", "request too large"))
            self.close()
            return
        while b"\n" in self.inbuf and not self.closed:
            line, self.inbuf = self.inbuf.split(b"\n", 1)
            fds, self.fds = self.fds, []
            self.server.dispatch(self, line, fds)

    def send(self, message: dict) -> None:
        if self.closed:
            return
        self.outbuf += encode(message)
        self.flush()

    def flush(self) -> None:
        try:
            while self.outbuf:
                sent = self.sock.send(self.outbuf)
                self.outbuf = self.outbuf[sent:]
        except BlockingIOError:
            if len(self.outbuf) > MAX_SUBSCRIBER_BACKLOG:
                self.close()  # never let a slow reader make us buffer without bound
                return
            self.server.loop.add_writer(self.fd, self.flush)
            return
        except OSError:
            self.close()
            return
        self.server.loop.remove_writer(self.fd)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.server.loop.remove_reader(self.fd)
        self.server.loop.remove_writer(self.fd)
        self.server.subscribers.discard(self)
        for fd in self.fds:
            os.close(fd)
        self.sock.close()
