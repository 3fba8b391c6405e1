"""Pumping a hijacked connection (attach, exec start) to and from a process's stdio fds.

Called by the container routes once `http.Hijack` owns the connection. Output fds are read on
the event loop (non-blocking) and written to the client, framed with the multiplexed header
unless the process has a TTY (then raw bytes, as Docker does); client bytes go to the stdin fd.
When stdin reaches EOF the stdin fd is closed, so `cat`-like processes end, and when every
output reaches EOF the connection is closed: that is how the client learns the process ended.
"""

from __future__ import annotations

import asyncio
import os

from runtime.daemon.streams import frame
from runtime.services.stdio import ProcessIO

READ_SIZE = 64 * 1024


async def _read_fd(fd: int) -> bytes:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bytes] = loop.create_future()

    def ready() -> None:
        loop.remove_reader(fd)
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            loop.add_reader(fd, ready)
            return
        except OSError:  # EIO on a pty master when the last slave closes: that is EOF
            data = b""
        if not future.done():
            future.set_result(data)
    loop.add_reader(fd, ready)
    try:
        return await future
    finally:
        loop.remove_reader(fd)


async def _write_fd(fd: int, data: bytes) -> None:
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
            view = view[written:]
        except BlockingIOError:
            future: asyncio.Future[None] = loop.create_future()
            loop.add_writer(fd, lambda: future.done() or future.set_result(None))
            try:
                await future
            finally:
                loop.remove_writer(fd)


async def pump(io: ProcessIO, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for _, fd in io.outputs:
        os.set_blocking(fd, False)
    if io.stdin is not None:
        os.set_blocking(io.stdin, False)

    async def copy_out(stream: str, fd: int) -> None:
        while True:
            data = await _read_fd(fd)
            if not data:
                return
            writer.write(data if io.tty else frame(stream, data))
            await writer.drain()

    async def copy_in() -> None:
        assert io.stdin is not None
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                await _write_fd(io.stdin, data)
        except (ConnectionError, BrokenPipeError, OSError):
            pass
        finally:
            try:
                os.close(io.stdin)
            except OSError:
                pass
            io.stdin = None

    stdin_task = asyncio.ensure_future(copy_in()) if io.stdin is not None else None
    seen: set[int] = set()
    outputs = []
    for stream, fd in io.outputs:
        if fd not in seen:  # a TTY's one fd carries both streams
            seen.add(fd)
            outputs.append(copy_out(stream, fd))
    try:
        await asyncio.gather(*outputs)
    except (ConnectionError, BrokenPipeError):
        pass
    finally:
        if stdin_task is not None:
            stdin_task.cancel()
        if io.wait is not None:
            try:
                await asyncio.to_thread(io.wait)
            except Exception:  # the exit code is the client's to ask for; closing matters more
                pass
        io.close()
        try:
            if writer.can_write_eof():
                writer.write_eof()
            await writer.drain()
        except (ConnectionError, OSError):
            pass
