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
from typing import BinaryIO, Callable, Iterator

import httpx

from runtime import errdefs
from runtime.registry.descriptor import DigestVerifier
from runtime.registry.transport import describe_transport_error

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")

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
        self.total_size: int | None = None
        self._response: httpx.Response | None = None
        self._skip = 0
        self._open(offset)

    def _open(self, offset: int) -> None:
        response = self._opener(offset)
        self._skip = 0
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

    def close(self) -> None:
        if self._response is not None:
            self._response.close()

    def __enter__(self) -> "BlobStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
