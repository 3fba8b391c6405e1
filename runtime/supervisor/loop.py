"""A minimal single-threaded event loop: selectors, timers and a signal wake-up fd.

Used only by the supervisor. No asyncio: it would cost memory (fork cost grows with it) and a
thread-free loop keeps forking safe. Callbacks run to completion; nothing here blocks except
`select` itself.
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import signal
import socket
import time
from typing import Callable


class Timer:
    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    def __init__(self, *, on_error: Callable[[BaseException], None] | None = None) -> None:
        # A failing callback (disk full while logging, an executor error in a timer) must not
        # take the supervisor down with every container's output pipe: report and go on.
        self.on_error = on_error or (lambda exc: None)
        self._sel = selectors.DefaultSelector()
        self._handlers: dict[int, list] = {}   # fd -> [on_read, on_write]
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._signal_handlers: dict[int, Callable[[], None]] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.stopping = False

    # -- fds --------------------------------------------------------------------------
    def _update(self, fd: int) -> None:
        on_read, on_write = self._handlers[fd]
        mask = (selectors.EVENT_READ if on_read else 0) | (selectors.EVENT_WRITE if on_write else 0)
        registered = fd in self._sel.get_map()
        if not mask:
            if registered:
                self._sel.unregister(fd)
            del self._handlers[fd]
        elif registered:
            self._sel.modify(fd, mask)
        else:
            self._sel.register(fd, mask)

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        self._handlers.setdefault(fd, [None, None])[0] = callback
        self._update(fd)

    def remove_reader(self, fd: int) -> None:
        if fd in self._handlers:
            self._handlers[fd][0] = None
            self._update(fd)

    def add_writer(self, fd: int, callback: Callable[[], None]) -> None:
        self._handlers.setdefault(fd, [None, None])[1] = callback
        self._update(fd)

    def remove_writer(self, fd: int) -> None:
        if fd in self._handlers:
            self._handlers[fd][1] = None
            self._update(fd)

    # -- timers -------------------------------------------------------------------------
    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + max(delay, 0.0), callback)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    # -- signals ------------------------------------------------------------------------
    def add_signal_handler(self, signum: int, callback: Callable[[], None]) -> None:
        """`callback` runs from the loop (not in signal context) after `signum` arrives."""
        self._signal_handlers[signum] = callback
        signal.signal(signum, lambda *_: None)  # a Python handler so the wake-up fd gets the byte
        signal.siginterrupt(signum, False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        if self._wake_r.fileno() not in self._handlers:
            self.add_reader(self._wake_r.fileno(), self._on_wake)

    def _on_wake(self) -> None:
        try:
            data = self._wake_r.recv(4096)
        except BlockingIOError:
            return
        for signum in sorted(set(data)):
            handler = self._signal_handlers.get(signum)
            if handler is not None:
                handler()

    # -- run ----------------------------------------------------------------------------
    def run(self) -> None:
        while not self.stopping:
            timeout = None
            while self._timers and self._timers[0][2].cancelled:
                heapq.heappop(self._timers)
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            for key, mask in self._sel.select(timeout):
                handlers = self._handlers.get(key.fd)
                if handlers is None:
                    continue
                if mask & selectors.EVENT_READ and handlers[0]:
                    self._call(handlers[0])
                handlers = self._handlers.get(key.fd)
                if handlers and mask & selectors.EVENT_WRITE and handlers[1]:
                    self._call(handlers[1])
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, timer = heapq.heappop(self._timers)
                if not timer.cancelled:
                    self._call(timer.callback)

    def _call(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception as exc:  # the boundary of every callback (see on_error)
            self.on_error(exc)

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
