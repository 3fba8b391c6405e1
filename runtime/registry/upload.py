"""Blob uploads: skip what exists, mount across repositories, monolithic or chunked upload.

Called by `RegistryClient.push_blob` (registry-spec api.md "Pushing An Image"): HEAD the
blob; with `mount_from`, `POST …/blobs/uploads/?mount=<digest>&from=<repo>` (201: done, 202:
not mountable, upload to the session it opened); otherwise `POST` opens a session and either
one `PUT ?digest=` carries the body, or `PATCH`es with `Content-Range` carry chunks and an
empty `PUT ?digest=` closes it. Uploads go to the registry itself, never a mirror.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Iterable, Iterator

import httpx

from runtime import errdefs
from runtime.registry.endpoints import Endpoint
from runtime.registry.retry import is_retryable_status, retry_delay

if TYPE_CHECKING:
    from runtime.registry.client import RegistryClient

PUSH = ("pull", "push")


def iter_source(source: Iterable[bytes] | bytes | BinaryIO, chunk_size: int) -> Iterator[bytes]:
    """The bytes of an upload source (bytes, a binary file, or an iterable of bytes)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield bytes(source)
    elif hasattr(source, "read"):
        while True:
            data = source.read(chunk_size)  # type: ignore[union-attr]
            if not data:
                return
            yield data
    else:
        yield from source  # type: ignore[misc]


def rechunk(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Pieces of any size regrouped into `size`-byte chunks (the last one shorter)."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def _location(endpoint: Endpoint, response: httpx.Response, what: str) -> str:
    location = response.headers.get("Location")
    if not location:
        raise errdefs.InvalidArgument(f"{what}: the registry opened an upload without a Location")
    return str(httpx.URL(endpoint.base_url + "/").join(location))


def _with_digest(location: str, digest: str) -> str:
    return str(httpx.URL(location).copy_merge_params({"digest": digest}))


class _FileBody:
    """A seekable file as an upload body that httpx can send again (it seeks back each time)."""

    def __init__(self, handle: BinaryIO, size: int, chunk_size: int, what: str) -> None:
        self.handle, self.start, self.size, self.chunk_size, self.what = handle, handle.tell(), size, chunk_size, what

    def __iter__(self) -> Iterator[bytes]:
        self.handle.seek(self.start)
        yield from _Counted(iter_source(self.handle, self.chunk_size), self.size, self.what)


def _is_seekable(source) -> bool:
    try:
        return bool(source.seekable())
    except (AttributeError, OSError, ValueError):
        return False


class _Counted:
    """Counts what goes out, so a source shorter or longer than `size` is our error, not the registry's."""

    def __init__(self, pieces: Iterable[bytes], size: int, what: str) -> None:
        self.pieces, self.size, self.what, self.count = pieces, size, what, 0

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.pieces:
            self.count += len(piece)
            if self.count > self.size:
                raise errdefs.InvalidArgument(f"{self.what}: more than the {self.size} bytes announced")
            yield piece
        if self.count != self.size:
            raise errdefs.InvalidArgument(f"{self.what}: {self.count} bytes, {self.size} announced")


class UploadSessionLost(errdefs.Unavailable):
    """The registry no longer accepts the upload session (after a PATCH whose answer was lost)."""


def push_blob(client: "RegistryClient", host: str, repository: str, digest: str, size: int,
              source: Iterable[bytes] | bytes | BinaryIO, *, mount_from: str | None, chunked: bool) -> None:
    what = f"registry {host} repository {repository} blob {digest}"
    if client.blob_exists(host, repository, digest, push=True) is not None:
        return
    # A source we can read again (bytes, a seekable file) gets one fresh session if the first
    # one is lost; a stream cannot be replayed, so the caller has to push again.
    restartable = isinstance(source, (bytes, bytearray, memoryview)) or _is_seekable(source)
    start = source.tell() if restartable and not isinstance(source, (bytes, bytearray, memoryview)) else 0
    for attempt in (1, 2):
        endpoint, response = _open_session(client, host, repository, digest, mount_from, what)
        if response.status_code == 201:
            return  # mounted from `mount_from`: nothing to send
        location = _location(endpoint, response, what)
        pieces = iter_source(source, client.config.upload_chunk_size)
        try:
            if chunked:
                _upload_chunked(client, host, repository, endpoint, location, digest, size, pieces, what)
            else:
                _upload_monolithic(client, host, repository, endpoint, location, digest, size, source, pieces, what)
            return
        except UploadSessionLost:
            if not restartable or attempt == 2:
                raise
            if start or hasattr(source, "seek"):
                source.seek(start)  # type: ignore[union-attr]


def _open_session(client: "RegistryClient", host: str, repository: str, digest: str,
                  mount_from: str | None, what: str) -> tuple[Endpoint, httpx.Response]:
    target = f"/v2/{repository}/blobs/uploads/"
    extra: tuple[str, ...] = ()
    if mount_from and mount_from != repository:
        target += "?" + str(httpx.QueryParams({"mount": digest, "from": mount_from}))
        # The token must also allow pulling the source repository, or the registry will not mount.
        extra = (f"repository:{mount_from}:pull",)
    endpoint, response = client._request(host, repository, "POST", target, actions=PUSH, push=True,
                                         extra_scopes=extra, headers={"Content-Length": "0"})
    if response.status_code not in (201, 202):
        raise client._fail(response, what, host)
    return endpoint, response


def _upload_monolithic(client, host, repository, endpoint, location, digest, size, source, pieces, what) -> None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        content, replayable = bytes(source), True
        if len(content) != size:
            raise errdefs.InvalidArgument(f"{what}: {len(content)} bytes, {size} announced")
    elif _is_seekable(source):
        content, replayable = _FileBody(source, size, client.config.upload_chunk_size, what), True
    else:
        # A stream cannot be replayed: one attempt (the caller may push again).
        content, replayable = _Counted(pieces, size, what), False
    _, response = client._request(host, repository, "PUT", _with_digest(location, digest), actions=PUSH,
                                  push=True, endpoint=endpoint, content=content, replayable=replayable,
                                  headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
    if response.status_code not in (201, 204):
        raise client._fail(response, what, host)


def _upload_chunked(client, host, repository, endpoint, location, digest, size, pieces, what) -> None:
    offset = 0
    for chunk in rechunk(_Counted(pieces, size, what), client.config.upload_chunk_size):
        location = _patch_chunk(client, host, repository, endpoint, location, chunk, offset, what)
        offset += len(chunk)
    _, response = client._request(host, repository, "PUT", _with_digest(location, digest), actions=PUSH,
                                  push=True, endpoint=endpoint, headers={"Content-Length": "0"})
    if response.status_code not in (201, 204):
        raise client._fail(response, what, host)


def upload_offset(range_header: str | None, expected: int) -> int | None:
    """Bytes an upload session holds, from its `Range: 0-<last>` header (None if unreadable).

    Distribution answers "0-0" both for an empty session and for one byte; `expected`
    (where we think it is) breaks the tie.
    """
    first, sep, last = (range_header or "").partition("-")
    if not sep or first.strip() != "0" or not last.strip().isdigit():
        return None
    end = int(last)
    return 0 if end == 0 and expected == 0 else end + 1


def _patch_chunk(client, host, repository, endpoint, location, chunk: bytes, offset: int, what: str) -> str:
    """PATCH one chunk starting at byte `offset`; returns the session's next location.

    Not retried blindly: a PATCH that failed may have left part of the chunk in the session,
    and sending it all again would corrupt the blob. After a failure we ask the session how
    many bytes it has (`GET <location>`, `Range: 0-<last>`) and send the rest from there.
    """
    policy = client._transport.policy
    attempt, waited, sent = 0, 0.0, 0
    while True:
        attempt += 1
        start = offset + sent
        failure: errdefs.StackyardError
        try:
            _, response = client._request(
                host, repository, "PATCH", location, actions=PUSH, push=True, endpoint=endpoint,
                content=chunk[sent:], retry=False,
                headers={"Content-Type": "application/octet-stream",
                         "Content-Range": f"{start}-{offset + len(chunk) - 1}",
                         "Content-Length": str(len(chunk) - sent)})
            if response.status_code == 202:
                return _location(endpoint, response, what)
            retryable = is_retryable_status(response.status_code)
            failure = client._fail(response, f"{what} (chunk at byte {start})", host)
            if not retryable:
                raise failure
        except errdefs.Unavailable as exc:
            failure = exc
        delay = retry_delay(policy, attempt, waited=waited)
        if delay is None:
            raise failure
        client._transport._sleep(delay)
        waited += delay
        held, location = _upload_status(client, host, repository, endpoint, location, start, what)
        if held is None or not offset <= held <= offset + len(chunk):
            raise failure
        sent = held - offset
        if sent == len(chunk):
            return location


def _upload_status(client, host, repository, endpoint, location, expected, what) -> tuple[int | None, str]:
    """(bytes the upload session holds, its location) from `GET <location>`."""
    _, response = client._request(host, repository, "GET", location, actions=PUSH, push=True, endpoint=endpoint)
    if response.status_code != 204:
        # Distribution cancels a session whose state token no longer matches what it holds,
        # which is exactly what a lost PATCH answer leaves behind.
        error = client._fail(response, f"{what} (upload status)", host)
        raise UploadSessionLost(f"{what}: upload session lost after a failed PATCH at byte {expected} ({error})")
    new_location = _location(endpoint, response, what) if response.headers.get("Location") else location
    return upload_offset(response.headers.get("Range"), expected), new_location
