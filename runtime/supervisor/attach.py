"""Attached readers: a client's fd that receives a container's output as it is produced.

Used by supervised.py (the pumps tee into these) for `docker attach` / `docker run` without
-d. The client (the daemon) passes the write end of a pipe or socket with SCM_RIGHTS. Writes
are non-blocking: up to MAX_BACKLOG bytes wait for a slow reader, beyond that the attachment
is dropped, so an attached client can never stall the container (the log still has it all).
The fd is closed when the container exits, which is the reader's end of stream.
"""

from __future__ import annotations

import os

MAX_BACKLOG = 4 * 1024 * 1024


class Attachment:
    def __init__(self, loop, fd: int, streams: frozenset[str]) -> None:
        self.loop = loop
        self.fd = fd
        self.streams = streams
        self.backlog = bytearray()
        self.finishing = False
        os.set_blocking(fd, False)

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def write(self, stream: str, data: bytes) -> None:
        if self.closed or stream not in self.streams or self.finishing:
            return
        if self.backlog:
            self.backlog += data
            if len(self.backlog) > MAX_BACKLOG:
                self.close()
            return
        try:
            sent = os.write(self.fd, data)
        except BlockingIOError:
            sent = 0
        except OSError:  # the reader went away (EPIPE): detach quietly
            self.close()
            return
        if sent < len(data):
            self.backlog += data[sent:]
            self.loop.add_writer(self.fd, self._flush)

    def _flush(self) -> None:
        try:
            sent = os.write(self.fd, self.backlog)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        del self.backlog[:sent]
        if not self.backlog:
            self.loop.remove_writer(self.fd)
            if self.finishing:
                self.close()

    def finish(self) -> None:
        """The container exited: close once the backlog is delivered."""
        self.finishing = True
        if not self.backlog:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            self.loop.remove_writer(self.fd)
            os.close(self.fd)
            self.fd = -1
            self.backlog.clear()
