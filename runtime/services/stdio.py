"""ProcessIO: the daemon's ends of a process's stdio, handed from the services to the daemon.

Made by the containers part (exec, attach); pumped by `runtime.daemon.hijack` over a hijacked
connection, which closes it when the process is done.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass
class ProcessIO:
    """The daemon's ends of a process's stdio. `outputs` are (stream name, fd) pairs."""

    stdin: Optional[int]
    outputs: list[tuple[str, int]]
    tty: bool
    on_close: Optional[Callable[[], None]] = None
    # Blocks until the process has exited; the connection closes only then, so a client that
    # inspects the exec after reading EOF sees its exit code (dockerd behaves the same).
    wait: Optional[Callable[[], object]] = None
    closed: bool = field(default=False)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        fds = {fd for _, fd in self.outputs}
        if self.stdin is not None:
            fds.add(self.stdin)
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if self.on_close is not None:
            self.on_close()
