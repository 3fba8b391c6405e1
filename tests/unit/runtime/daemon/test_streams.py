"""Stream framing and the thread→async bridge used by logs, pulls and stats."""

import asyncio
import threading
import time

import pytest

from runtime.daemon.streams import error_line, frame, from_thread, iterate_in_thread


def test_frames_are_dockers_multiplexed_format():
    assert frame("stdout", b"hi\n") == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    assert frame(2, b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"
    assert frame("stderr", b"x" * 300)[:8] == b"\x02\x00\x00\x00\x00\x00\x01\x2c"
    assert error_line("boom") == b'{"errorDetail":{"message":"boom"},"error":"boom"}\n'


def test_items_arrive_in_order_then_the_result():
    def produce(emit):
        for i in range(5):
            emit(i)
        return "done"

    async def collect():
        return [item async for item in from_thread(produce)]
    assert asyncio.run(collect()) == [0, 1, 2, 3, 4, "done"]


def test_producer_errors_reach_the_consumer_or_become_a_final_item():
    def produce(emit):
        emit("first")
        raise ValueError("layer sha256:abc: digest mismatch")

    async def collect(**kw):
        return [item async for item in from_thread(produce, **kw)]
    with pytest.raises(ValueError, match="digest mismatch"):
        asyncio.run(collect())
    assert asyncio.run(collect(on_error=lambda e: f"error: {e}")) == ["first", "error: layer sha256:abc: digest mismatch"]


def test_a_consumer_that_leaves_stops_the_producer():
    finished = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            finished.set()

    async def take_three():
        got = []
        stream = iterate_in_thread(endless, maxsize=2)
        async for item in stream:
            got.append(item)
            if len(got) == 3:
                break
        await stream.aclose()
        return got
    assert asyncio.run(take_three()) == [0, 1, 2]
    assert finished.wait(3), "the producer thread kept running after the client left"
