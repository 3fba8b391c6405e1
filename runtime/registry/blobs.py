"""Streaming blob downloads that survive dropped connections: BlobStream and download_blob.

`RegistryClient.open_blob` returns a BlobStream; runtime/images (through the content store)
reads it. When the connection drops mid-body, the stream asks again from the byte it reached
(`Range: bytes=N-`) and carries on, so callers see one uninterrupted byte sequence. It does
not check the digest: callers hash what they store (`DigestVerifier`, or `download_blob`
which does both).
"""

from __future__ import annotations

import os
import re
import socket
import ssl
from typing import BinaryIO, Callable, Iterator, Optional

import httpx

from runtime import errdefs
from runtime.registry.descriptor import DigestVerifier
from runtime.registry.transport import describe_transport_error

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
# Bodies at least this long are read from the socket directly (`readinto`). That connection is
# then closed rather than pooled, so small blobs keep going through httpx: a new connection
# (a TLS handshake, even) costs nothing next to 8 MiB, but would for many small layers.
RAW_BODY_MIN = 8 << 20

# Opens the blob from a byte offset: the response (status 200 or 206, body unread).
Opener = Callable[[int], httpx.Response]


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """(first, last, total) of `bytes first-last/total`; None if absent or malformed."""
    match = _CONTENT_RANGE.match((value or "").strip())
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total


class BlobStream:
    """The bytes of one blob from `offset` on; `total_size` is the whole blob's size if known."""

    def __init__(self, opener: Opener, offset: int, *, where: str, resume_attempts: int) -> None:
        self._opener = opener
        self.where = where
        self.offset = offset
        self.position = offset
        self.resume_attempts = resume_attempts
        self.resumes = 0
        self.direct_bytes = 0   # of them, read by `readinto` from the socket itself
        self.total_size: int | None = None
        self._response: httpx.Response | None = None
        self._skip = 0
        self._raw: Optional[_RawBody] = None           # readinto's socket reader
        self._fallback: Optional[Iterator[bytes]] = None  # readinto over iter_bytes
        self._leftover = memoryview(b"")
        self._ended = False
        self._failed: Optional[errdefs.StackyardError] = None
        self._open(offset)

    def _open(self, offset: int) -> None:
        response = self._opener(offset)
        self._skip = 0
        self._raw = None
        if response.status_code == 416:
            # Nothing left to send: fine exactly when we already have the whole blob.
            total = (response.headers.get("Content-Range") or "").rpartition("/")[2]
            if not total.isdigit() or int(total) != offset:
                response.close()
                raise errdefs.InvalidArgument(
                    f"{self.where}: cannot resume at byte {offset}: range not satisfiable "
                    f"(Content-Range {response.headers.get('Content-Range')!r})")
            self.total_size = offset
            response.close()
            self._response = None
            return
        elif response.status_code == 206:
            parsed = parse_content_range(response.headers.get("Content-Range"))
            if parsed is None or parsed[0] != offset:
                response.close()
                raise errdefs.InvalidArgument(
                    f"{self.where}: asked for bytes from {offset}, got Content-Range "
                    f"{response.headers.get('Content-Range')!r}")
            self.total_size = parsed[2] if parsed[2] is not None else self.total_size
        else:
            # 200: the server ignored Range; drop what we already have.
            self._skip = offset
            length = response.headers.get("Content-Length")
            if length and length.isdigit():
                self.total_size = int(length)
        self._response = response

    def iter_bytes(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The remaining bytes as they arrive, resuming with Range after a dropped connection.

        Pieces are at most `chunk_size` bytes (and at most what one socket read returned).

        Raises:
            errdefs.Unavailable: the connection kept dropping (more than `resume_attempts` times).
        """
        while self._response is not None:
            try:
                # No chunk size for httpx: it would hold back what arrived until a chunk is
                # full, and lose it when the connection drops. Pieces go out as they arrive.
                for data in self._response.iter_raw():
                    if self._skip:
                        cut = min(self._skip, len(data))
                        data, self._skip = data[cut:], self._skip - cut
                        if not data:
                            continue
                    self.position += len(data)
                    if len(data) <= chunk_size:
                        yield data
                    else:
                        yield from (data[i:i + chunk_size] for i in range(0, len(data), chunk_size))
                if self.total_size is None or self.position >= self.total_size:
                    return
                reason = f"connection closed at byte {self.position} of {self.total_size}"
            except httpx.TransportError as exc:
                reason = describe_transport_error(exc)
            self._response.close()
            self.resumes += 1
            if self.resumes > self.resume_attempts:
                raise errdefs.Unavailable(
                    f"{self.where}: download interrupted {self.resumes} times, last at byte "
                    f"{self.position}: {reason}")
            self._open(self.position)

    def readinto(self, buf: memoryview) -> int:
        """Fill `buf` with the next bytes (fewer only at the end of the blob); 0 at the end.

        The fast path for big blobs: once the response headers are in, the body is read from
        the connection's socket straight into `buf` (one copy, from the kernel) instead of in
        httpx's 64 KiB pieces, which h11 and httpcore copy three more times. It is taken only
        for an HTTP/1.1 Content-Length body on a direct connection (`_RawBody.attach`); any
        other reply goes through `iter_bytes`. A dropped connection resumes with Range, as
        `iter_bytes` does, and the caller's digest check covers every byte either way.

        Raises:
            errdefs.Unavailable: the connection kept dropping (more than `resume_attempts` times).
        """
        if self._failed is not None:
            raise self._failed
        filled, want = 0, len(buf)
        try:
            while filled < want:
                if self._leftover:
                    n = min(len(self._leftover), want - filled)
                    buf[filled:filled + n] = self._leftover[:n]
                    self._leftover = self._leftover[n:]
                    filled += n
                    continue
                if self._response is None or self._ended:
                    break
                if self._fallback is not None:
                    piece = next(self._fallback, None)
                    if piece is None:
                        self._ended = True
                    else:
                        self._leftover = memoryview(piece)
                    continue
                try:
                    if self._raw is None:
                        self._raw = _RawBody.attach(self._response) if self._skip == 0 else None
                        if self._raw is None:
                            self._fallback = self.iter_bytes(max(want, 1 << 16))
                            continue
                    n = self._raw.readinto(buf[filled:])
                except (OSError, httpx.TransportError) as exc:
                    self._resume(describe_transport_error(exc))
                    continue
                if n:
                    filled += n
                    self.position += n
                    self.direct_bytes += n
                elif self._raw.remaining == 0 and (self.total_size is None or self.position >= self.total_size):
                    self._finish()
                else:
                    self._resume(f"connection closed at byte {self.position} of {self.total_size}")
        except errdefs.Unavailable as exc:
            if not filled:
                raise
            # Hand over what did arrive (the caller stores it for a resumed pull); fail next call.
            self._failed = exc
        return filled

    def _finish(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._response is not None:
            self._response.close()
        self._ended = True

    def _resume(self, reason: str) -> None:
        """Reopen from `position` after a drop, or give up (errdefs.Unavailable)."""
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._response is not None:
            self._response.close()
        self.resumes += 1
        if self.resumes > self.resume_attempts:
            self._ended = True
            raise errdefs.Unavailable(
                f"{self.where}: download interrupted {self.resumes} times, last at byte "
                f"{self.position}: {reason}")
        self._open(self.position)

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._response is not None:
            self._response.close()

    def __enter__(self) -> "BlobStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _RawBody:
    """The rest of a Content-Length body, read from the connection's socket with recv_into.

    httpx exposes the connection as the response's `network_stream` extension. h11 may hold
    the first body bytes (read along with the headers), so exactly one piece is taken through
    httpx first: h11 hands over everything it buffered as one piece (or, with nothing
    buffered, reads one fresh piece), after which the socket holds the rest. The httpx
    iterator stays open until `close` (closing it closes the connection, which is then not
    reused: h11 never saw the bytes read past it).
    """

    def __init__(self, sock: socket.socket, pieces: Iterator[bytes], head: bytes, remaining: int) -> None:
        self._sock, self._pieces = sock, pieces
        self._head = memoryview(head)
        self.remaining = remaining

    @classmethod
    def attach(cls, response: httpx.Response) -> Optional["_RawBody"]:
        """A raw reader for `response`'s body, or None when the body must go through httpx
        (not HTTP/1.1, chunked or without a length, or a TLS stream inside a TLS proxy tunnel,
        whose socket carries the outer encryption)."""
        length = response.headers.get("Content-Length", "")
        if (response.http_version != "HTTP/1.1" or not length.isdigit() or int(length) < RAW_BODY_MIN
                or "Transfer-Encoding" in response.headers or response.is_stream_consumed):
            return None
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return None
        ssl_object = stream.get_extra_info("ssl_object")
        if isinstance(sock, ssl.SSLSocket):
            if ssl_object is None or getattr(sock, "_sslobj", None) is not ssl_object:
                return None
        elif ssl_object is not None or response.url.scheme != "http":
            return None
        pieces = response.iter_raw()
        head = next(pieces, b"")
        return cls(sock, pieces, head, int(length) - len(head))

    def readinto(self, buf: memoryview) -> int:
        """Up to len(buf) bytes of the body; 0 at its end or when the peer closed early
        (`remaining` tells which). Raises OSError (timeouts included) like the socket."""
        if self._head:
            n = min(len(self._head), len(buf))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        if self.remaining <= 0:
            return 0
        n = self._sock.recv_into(buf, min(len(buf), self.remaining))
        self.remaining -= n
        return n

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close is not None:
            try:
                close()
            except httpx.TransportError:
                pass


def download_blob(client, host: str, repository: str, digest: str, sink: BinaryIO, offset: int = 0, *,
                  size: int | None = None, chunk_size: int = 1 << 20,
                  progress: Callable[[int, int | None], None] | None = None) -> int:
    """Write the blob from `offset` into `sink` (positioned at `offset`), then check the digest.

    For a resumed download (`offset > 0`) the bytes already in `sink` (its first `offset`
    bytes, read with pread from its file descriptor) are hashed first, so the check covers
    the whole blob. `progress(done, total)` is called after every chunk. Returns the size.

    Raises:
        errdefs.InvalidArgument: digest or size mismatch (the message names the blob and where).
        errdefs.NotFound / Unauthenticated / Unavailable: as `open_blob`.
    """
    where = f"registry {host} repository {repository}"
    verifier = DigestVerifier(digest, size=size, where=where)
    if offset:
        fd, done = sink.fileno(), 0
        sink.flush()
        while done < offset:
            data = os.pread(fd, min(chunk_size, offset - done), done)
            if not data:
                raise errdefs.InvalidArgument(f"{where}: blob {digest}: resume offset {offset} beyond the {done} bytes on disk")
            verifier.update(data)
            done += len(data)
    with client.open_blob(host, repository, digest, offset) as stream:
        for data in stream.iter_bytes(chunk_size):
            sink.write(data)
            verifier.update(data)
            if progress is not None:
                progress(verifier.count, stream.total_size)
    verifier.verify()
    return verifier.count
