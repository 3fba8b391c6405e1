"""Output pumps: container stdout/stderr (FIFOs or a pty master) → the json-file writer.

Used by supervised.py. Reads are non-blocking and happen as soon as the fd is readable, so the
container never waits on anyone but this loop; log readers read files, not pipes.

Why FIFOs rather than anonymous pipes: the container gets its stdout/stderr opened O_RDWR on a
named FIFO under the run root. If the supervisor dies, the container's writes do not fail with
EPIPE/SIGPIPE (it holds a read end itself); they buffer (64 KiB) and then block until a
restarted supervisor reopens the FIFO by name and drains it. With a TTY there is no such
trick: the pty master dies with the supervisor and the container sees a hang-up.
"""

from __future__ import annotations

import errno
import os
from typing import Callable

from runtime.containers.logs import JsonFileWriter, LineSplitter

READ_SIZE = 1 << 16


def fifo_paths(run_dir: str) -> dict[str, str]:
    return {"stdout": os.path.join(run_dir, "stdout"), "stderr": os.path.join(run_dir, "stderr")}


def ensure_fifos(run_dir: str) -> dict[str, str]:
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    paths = fifo_paths(run_dir)
    for path in paths.values():
        try:
            os.mkfifo(path, 0o600)
        except FileExistsError:
            pass
    return paths


class Pump:
    """One readable fd feeding one log stream. `on_eof` is called once when it closes."""

    def __init__(self, loop, fd: int, stream: str, writer: JsonFileWriter,
                 tee: Callable[[str, bytes], None] = lambda stream, data: None) -> None:
        self.loop = loop
        self.tee = tee  # attached readers get the raw bytes
        self.fd = fd
        self.stream = stream
        self.writer = writer
        self.splitter = LineSplitter()
        os.set_blocking(fd, False)
        loop.add_reader(fd, self.on_readable)

    def on_readable(self) -> None:
        self._read_once()

    def _read_once(self) -> bool:
        """Reads one chunk; False when nothing more is there now (or ever)."""
        if self.fd < 0:
            return False
        try:
            data = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the pty's other side is gone
                raise
            data = b""
        if not data:
            self.close()
            return False
        self.tee(self.stream, data)
        for line in self.splitter.feed(data):
            self.writer.write(self.stream, line)
        return True

    def drain(self) -> None:
        """Everything still buffered in the kernel, then the partial line (at container exit)."""
        while self._read_once():
            pass
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
        for line in self.splitter.flush():
            self.writer.write(self.stream, line)


class InputPump:
    """Client stdin → the pty master of a TTY container (`docker run -it`).

    Without a TTY the client's fd is the container's stdin directly; with one, the executor
    dup2s the pty slave over stdin, so keystrokes have to go through the master we hold.
    Input is small: a short backlog is kept while the terminal is full, then dropped.
    """

    MAX_BACKLOG = 1 << 20

    def __init__(self, loop, source: int, target: int) -> None:
        self.loop = loop
        self.source = source
        self.target = target
        self.backlog = bytearray()
        os.set_blocking(source, False)
        loop.add_reader(source, self._on_input)

    def _on_input(self) -> None:
        try:
            data = os.read(self.source, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        if len(self.backlog) + len(data) <= self.MAX_BACKLOG:
            self.backlog += data
        self._flush()

    def _flush(self) -> None:
        if self.target < 0:
            return
        try:
            sent = os.write(self.target, self.backlog) if self.backlog else 0
        except BlockingIOError:
            sent = 0
        except OSError:  # the terminal is gone
            self.backlog.clear()
            sent = 0
        del self.backlog[:sent]
        if self.backlog:
            self.loop.add_writer(self.target, self._flush)
        else:
            self.loop.remove_writer(self.target)

    def close(self) -> None:
        if self.source >= 0:
            self.loop.remove_reader(self.source)
            os.close(self.source)
            self.source = -1
        if self.target >= 0 and not self.backlog:
            self.loop.remove_writer(self.target)
