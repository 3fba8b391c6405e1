"""prefetch with lent buffers (BufferPool/Lease) and gunzip over memoryviews: the plumbing the
pull's fetch and unpack threads share. Pure logic (threads and queues, no I/O)."""

import gzip
import os
import threading
import time

import pytest

from runtime.images.stream import BufferPool, Lease, decompress, prefetch


def _leased(pool, pieces, produced):
    for piece in pieces:
        buf = pool.take()
        buf[:len(piece)] = piece
        produced.append(piece)
        yield Lease(buf[:len(piece)], buf, pool)


def test_lent_buffers_come_back_and_bound_how_far_the_producer_runs_ahead():
    pool = BufferPool(2, 4)
    produced = []
    pieces = [bytes([i]) * 4 for i in range(10)]
    reader = prefetch(_leased(pool, pieces, produced), stop=pool.halt)
    first = next(reader)
    assert bytes(first) == pieces[0]
    time.sleep(0.3)
    # One buffer is with the reader, one filled and queued: the producer waits for a third.
    assert len(produced) == 2
    got = [bytes(first)] + [bytes(view) for view in reader]
    assert got == pieces


def test_closing_the_reader_stops_a_producer_waiting_for_a_buffer():
    pool = BufferPool(1, 4)
    finished = threading.Event()

    def endless():
        try:
            while True:
                buf = pool.take()
                yield Lease(buf, buf, pool)
        finally:
            finished.set()

    reader = prefetch(endless(), stop=pool.halt)
    next(reader)
    start = time.monotonic()
    reader.close()   # the producer is blocked in take(): it must notice and end
    assert finished.wait(2) and time.monotonic() - start < 2


def test_a_producer_error_reaches_the_reader_and_buffers_are_returned():
    pool = BufferPool(2, 4)

    def failing():
        buf = pool.take()
        yield Lease(buf, buf, pool)
        raise OSError("disk full")

    reader = prefetch(failing(), stop=pool.halt)
    next(reader)
    with pytest.raises(OSError, match="disk full"):
        next(reader)
    assert pool.take() is not None and pool.take() is not None  # both free again (or never made)


def test_pool_makes_buffers_only_when_needed():
    pool = BufferPool(8, 16)
    first = pool.take()
    pool.give(first)
    assert pool.take() is first   # reused, not a second allocation


def test_gunzip_over_memoryviews_with_concatenated_members_and_zero_padding():
    one, two = os.urandom(300_000), b"hello " * 50_000
    parts = [gzip.compress(one, compresslevel=1), gzip.compress(two), b"\0" * 1024]
    # Chunks that end exactly where a member does: the next member (and the padding) start a
    # fresh memoryview chunk, not the decompressor's leftover bytes.
    views = [memoryview(p)[i:i + 65536] for p in parts for i in range(0, len(p), 65536)]
    assert b"".join(decompress(iter(views), "gzip")) == one + two
