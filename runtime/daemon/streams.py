"""Stream shapes the Engine API uses, and the bridge from blocking runtime calls to async streams.

Called by the route modules. `frame` is Docker's multiplexed stdout/stderr framing (an 8-byte
header: stream id, three zero bytes, big-endian length); `json_lines` renders progress and
stats; `from_thread` runs a blocking producer (a pull reporting progress through a callback, a
follow-mode log reader) in a worker thread and yields what it produces on the event loop, with
a bounded queue so a slow client slows the producer rather than growing memory.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from typing import Any, AsyncIterator, Callable, Iterable

STDIN, STDOUT, STDERR = 0, 1, 2
STREAM_IDS = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR}

_DONE = object()


def frame(stream: int | str, data: bytes) -> bytes:
    stream_id = STREAM_IDS[stream] if isinstance(stream, str) else stream
    return struct.pack(">BxxxL", stream_id, len(data)) + data


def json_line(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def error_line(message: str) -> bytes:
    """How Docker reports a failure after a stream has started (status 200 already sent)."""
    return json_line({"errorDetail": {"message": message}, "error": message})


class Cancelled(Exception):
    """Raised inside a producer's callback when the client has gone away."""


async def from_thread(produce: Callable[[Callable[[Any], None]], Any], *, maxsize: int = 256,
                      on_error: Callable[[BaseException], Any] | None = None) -> AsyncIterator[Any]:
    """Run `produce(emit)` in a thread; yield each emitted item, then the return value if it is
    not None. An exception in the producer is re-raised here unless `on_error` turns it into a
    final item. When the consumer stops early, the next `emit` raises `Cancelled` in the thread.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
    stopped = threading.Event()

    def emit(item: Any) -> None:
        if stopped.is_set():
            raise Cancelled()
        future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while True:
            try:
                future.result(timeout=0.5)
                return
            except TimeoutError:
                if stopped.is_set():
                    future.cancel()
                    raise Cancelled() from None

    def run() -> None:
        outcome: Any = _DONE
        try:
            result = produce(emit)
            outcome = ("ok", result)
        except Cancelled:
            outcome = ("cancelled", None)
        except BaseException as exc:  # handed to the consumer
            outcome = ("error", exc)
        if not stopped.is_set():
            asyncio.run_coroutine_threadsafe(queue.put((_DONE, outcome)), loop)

    thread = threading.Thread(target=run, name="stream-producer", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if isinstance(item, tuple) and len(item) == 2 and item[0] is _DONE:
                kind, value = item[1]
                if kind == "error":
                    if on_error is None:
                        raise value
                    final = on_error(value)
                    if final is not None:
                        yield final
                elif kind == "ok" and value is not None:
                    yield value
                return
            yield item
    finally:
        stopped.set()


async def iterate_in_thread(iterable_factory: Callable[[], Iterable[Any]], **kwargs: Any) -> AsyncIterator[Any]:
    """A blocking iterator (e.g. follow-mode logs) consumed on the event loop."""
    def produce(emit: Callable[[Any], None]) -> None:
        iterator = iter(iterable_factory())
        try:
            for item in iterator:
                emit(item)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
    async for item in from_thread(produce, **kwargs):
        yield item
