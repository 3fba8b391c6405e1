"""Byte-stream plumbing for layers: decompression with a running diff-id hash, and prefetch.

Who calls it: `runtime.images.unpacker` (pull, load, import). One pass over a layer computes the
blob digest (of the compressed bytes, in the content store's ingest), the diff id (sha256 of
the decompressed tar, here) and feeds the tar to the snapshot, so nothing is read twice.
`prefetch` runs the network side (receive, blob hash, ingest write) in its own thread, so that
on two cores it overlaps with decompression and file writes (zlib, hashlib and os.write all
release the GIL on large buffers); with a `BufferPool` the two sides pass 1 MiB buffers back
and forth instead of allocating new bytes for every megabyte.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import zlib
from typing import Callable, Iterable, Iterator, Optional

from runtime import errdefs

# Bound on what one compressed chunk may inflate to at once (a "zip bomb" stays bounded).
MAX_INFLATE = 4 << 20


class DecompressError(Exception):
    """The compressed stream is corrupt."""


def _all_zero(data) -> bool:
    return bytes(data).count(0) == len(data)


def _gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for chunk in chunks:
        data = chunk
        while True:
            if d.eof:
                if _all_zero(data):
                    break  # end, or zero padding after the last member
                # Concatenated gzip members (pigz, some builders) continue the same tar.
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out = d.decompress(data, MAX_INFLATE)
            except zlib.error as exc:
                raise DecompressError(f"gzip: {exc}") from None
            if out:
                yield out
            if d.eof:
                data = d.unused_data
                continue
            data = d.unconsumed_tail
            # Input all taken and the output not cut short: nothing is pending inside zlib.
            if not data and len(out) < MAX_INFLATE:
                break
    if not d.eof:
        raise DecompressError("gzip: stream ends before its end marker (truncated)")


_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 0x02, 0x04, 0x08, 0x10
MAX_GZIP_HEADER = 1 << 16


def gzip_header_length(data: bytes) -> Optional[int]:
    """Length of the gzip member header at the start of `data` (RFC 1952); None if `data` ends
    inside it.

    Raises:
        DecompressError: not a gzip header (magic, method or reserved flags).
    """
    if len(data) >= 1 and data[0] != 0x1F or len(data) >= 2 and data[1] != 0x8B:
        raise DecompressError("gzip: incorrect header check")
    if len(data) < 10:
        return None
    if data[2] != 8:
        raise DecompressError("gzip: unknown compression method")
    flags = data[3]
    if flags & 0xE0:
        raise DecompressError("gzip: reserved header flags set")
    pos = 10
    if flags & _FEXTRA:
        if len(data) < pos + 2:
            return None
        pos += 2 + int.from_bytes(data[pos:pos + 2], "little")
    for flag in (_FNAME, _FCOMMENT):
        if flags & flag:
            end = data.find(b"\0", pos)
            if end < 0:
                return None
            pos = end + 1
    if flags & _FHCRC:
        pos += 2
    return pos if pos <= len(data) else None


def _gunzip_unchecked(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """gunzip without the CRC-32 of each member: for a layer whose diff id (the sha256 of all
    of its output) is checked afterwards, the CRC proves nothing more and costs about 40% of
    inflating a layer that does not compress (stored blocks). Headers and trailers are parsed
    here (members may be concatenated, zero padding may follow); the trailer's length is
    still checked. Same output and DecompressError cases as `_gunzip`."""
    state, pending, members = "header", b"", 0
    d = None
    size = 0
    for chunk in chunks:
        data = chunk
        if pending:
            data, pending = pending + bytes(data), b""
        while True:
            if state == "header":
                if not len(data):
                    break
                if members and _all_zero(data):
                    break   # zero padding after the last member
                n = gzip_header_length(bytes(data[:MAX_GZIP_HEADER]))
                if n is None:
                    if len(data) >= MAX_GZIP_HEADER:
                        raise DecompressError("gzip: header too long")
                    pending = bytes(data)
                    break
                data = data[n:]
                d, size, state = zlib.decompressobj(-zlib.MAX_WBITS), 0, "body"
            elif state == "body":
                try:
                    out = d.decompress(data, MAX_INFLATE)
                except zlib.error as exc:
                    raise DecompressError(f"gzip: {exc}") from None
                if out:
                    size += len(out)
                    yield out
                if d.eof:
                    data, state = d.unused_data, "trailer"
                    continue
                data = d.unconsumed_tail
                # Input all taken and the output not cut short: nothing is pending inside zlib.
                if not data and len(out) < MAX_INFLATE:
                    break
            else:  # trailer: CRC-32 (not checked, see above) and the length mod 2**32
                if len(data) < 8:
                    pending = bytes(data)
                    break
                if int.from_bytes(bytes(data[4:8]), "little") != size & 0xFFFFFFFF:
                    raise DecompressError("gzip: incorrect length check")
                data, state, members = data[8:], "header", members + 1
    if state != "header" or pending or not members:
        raise DecompressError("gzip: stream ends before its end marker (truncated)")


def _unzstd(chunks: Iterable[bytes]) -> Iterator[bytes]:
    import zstandard  # imported only for zstd layers

    def new():
        return zstandard.ZstdDecompressor().decompressobj()

    d = new()
    for chunk in chunks:
        data = chunk
        while data:
            try:
                out = d.decompress(data)
            except zstandard.ZstdError as exc:
                raise DecompressError(f"zstd: {exc}") from None
            if out:
                yield out
            data = d.unused_data if d.eof else b""
            if data:
                d = new()


def decompress(chunks: Iterable[bytes], compression: str, *, checked_after: bool = False) -> Iterator[bytes]:
    """Decompressed bytes of `chunks`; compression is "gzip", "zstd" or "" (plain tar).

    `checked_after`: the caller verifies a digest of the whole output (a layer's diff id), so
    gzip's own CRC-32 is skipped (see `_gunzip_unchecked`)."""
    if compression == "gzip":
        return _gunzip_unchecked(chunks) if checked_after else _gunzip(chunks)
    if compression == "zstd":
        return _unzstd(chunks)
    if compression == "":
        return iter(chunks)
    raise errdefs.Unsupported(f"unsupported layer compression {compression!r}")


def hashed(chunks: Iterable[bytes], hasher) -> Iterator[bytes]:
    """Pass chunks through, updating `hasher` (the diff id's sha256)."""
    for chunk in chunks:
        hasher.update(chunk)
        yield chunk


def detect_compression(head: bytes) -> str:
    """Compression of a tarball from its first bytes (for import/load, which have no media type)."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return ""


_DONE = object()


class Halted(Exception):
    """The reader of a `prefetch` went away: the producer stops."""


class BufferPool:
    """Up to `count` reusable buffers of `size` bytes, handed from a `prefetch` producer to its
    reader and back: the network side fills one while the unpack side still works on others,
    and no bytes object is allocated (and page-faulted in) per megabyte. Buffers are made on
    first need, so a small layer costs one. `take` waits for a free one."""

    def __init__(self, count: int = 8, size: int = 1 << 20, *, halt: Optional[threading.Event] = None) -> None:
        self.size = size
        self._free: queue.Queue = queue.Queue()
        self._unmade = count
        self._lock = threading.Lock()
        self.halt = halt or threading.Event()   # pass the same event as prefetch's `stop`

    def take(self) -> memoryview:
        """A free buffer. Raises Halted once the reader has gone away."""
        while True:
            try:
                return self._free.get_nowait()
            except queue.Empty:
                pass
            with self._lock:
                if self._unmade:
                    self._unmade -= 1
                    return memoryview(bytearray(self.size))
            try:
                return self._free.get(timeout=0.1)
            except queue.Empty:
                if self.halt.is_set():
                    raise Halted() from None

    def give(self, buf: memoryview) -> None:
        self._free.put(buf)


class Lease:
    """A filled part of a pool buffer: `prefetch` yields `view` and gives `buf` back to `pool`
    when the reader asks for the next chunk. So the reader must be done with a chunk by then
    (`_gunzip` is: zlib copies what it keeps; plain tar and zstd readers get copies)."""

    __slots__ = ("view", "buf", "pool")

    def __init__(self, view: memoryview, buf: memoryview, pool: BufferPool) -> None:
        self.view, self.buf, self.pool = view, buf, pool


def prefetch(chunks: Iterator, *, depth: int = 16,
             stop: Optional[threading.Event] = None) -> Iterator:
    """Run `chunks` in a thread `depth` items ahead; exceptions are re-raised in the reader.

    Items may be bytes or `Lease`s (the reader gets the lease's view; the buffer goes back to
    its pool when the reader asks for the next item). Closing the returned generator (or the
    reader failing) stops the producer.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    halt = stop or threading.Event()

    def produce() -> None:
        try:
            _produce()
        finally:
            # Close the source here, in its own thread, before the reader's join returns: its
            # cleanup (e.g. saving a partial download) must not run later, at garbage collection.
            close = getattr(chunks, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # already failed; the reader reports the first error
                    pass

    def _produce() -> None:
        try:
            for chunk in chunks:
                while not halt.is_set():
                    try:
                        q.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if halt.is_set():
                    return
            item = _DONE
        except BaseException as exc:  # handed to the consumer, which re-raises it
            item = exc
        while not halt.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=produce, name="layer-fetch", daemon=True)
    thread.start()
    lease: Optional[Lease] = None
    try:
        while True:
            if lease is not None:  # the reader asked for more: it is done with the last one
                lease.pool.give(lease.buf)
                lease = None
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                if isinstance(item, Halted):
                    return
                raise item
            if isinstance(item, Lease):
                lease = item
                yield item.view
            else:
                yield item
    finally:
        halt.set()
        thread.join()
        if lease is not None:
            lease.pool.give(lease.buf)


def new_diff_hasher():
    return hashlib.sha256()


def read_file_chunks(path: str, chunk: int = 1 << 20,
                     on_chunk: Optional[Callable[[int], None]] = None) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as f:
        while True:
            data = f.read(chunk)
            if not data:
                return
            if on_chunk:
                on_chunk(len(data))
            yield data
