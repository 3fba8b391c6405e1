"""Decoders for the two stream formats of the Docker Engine API.

Pure functions over iterables of byte chunks (no I/O, no httpx), so they are unit-tested
without a daemon (tests/unit/test_engine_streams.py). `client.EngineClient` feeds them the
chunks of a streamed response:

* JSON lines: `/images/create` (pull, import), `/images/{name}/push` and `/events` send one JSON
  object per line. A chunk boundary can fall anywhere, inside an object or inside a multi-byte
  UTF-8 character, so bytes are buffered until a newline. dockerd also writes objects back to
  back without a newline in some versions, so a line holding `}{` is split with a raw decoder.
* Multiplexed stdout/stderr: logs and exec output of a container without a TTY arrive as frames
  `[stream, 0, 0, 0, size (4 bytes, big endian)]` followed by `size` bytes of payload.
  Stream 0 is stdin, 1 stdout, 2 stderr. With a TTY the body is raw bytes (`raw_frames`).
"""

from __future__ import annotations

import json
import struct
from typing import Iterable, Iterator

from runtime import errdefs

STDIN, STDOUT, STDERR = 0, 1, 2
_HEADER = struct.Struct(">BxxxL")


def iter_json_lines(chunks: Iterable[bytes]) -> Iterator[dict]:
    """Each JSON object of a JSON-lines stream, whatever the chunk boundaries.

    Raises:
        errdefs.Internal: the stream holds something that is not JSON.
    """
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield from _decode_line(line)
    # A last object without a trailing newline is still an object.
    yield from _decode_line(buffer)


def _decode_line(line: bytes) -> Iterator[dict]:
    text = line.decode("utf-8", errors="replace").strip()
    decoder = json.JSONDecoder()
    position = 0
    while position < len(text):
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise errdefs.Internal(f"the engine sent a malformed JSON stream: {text[:200]!r}") from exc
        yield value
        position = end
        while position < len(text) and text[position] in " \t\r":
            position += 1


def stream_error(message: dict) -> str | None:
    """The error a progress message reports (`error` or `errorDetail.message`), else None."""
    detail = message.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"])
    if message.get("error"):
        return str(message["error"])
    return None


def iter_frames(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """`(stream, payload)` for each frame of a multiplexed stdout/stderr stream.

    Raises:
        errdefs.Internal: the stream ends inside a frame header or payload.
    """
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= _HEADER.size:
            stream, size = _HEADER.unpack_from(buffer)
            end = _HEADER.size + size
            if len(buffer) < end:
                break
            payload = bytes(buffer[_HEADER.size:end])
            del buffer[:end]
            # Empty frames carry nothing; dropping them keeps consumers simple.
            if payload:
                yield stream, payload
    if buffer:
        raise errdefs.Internal(f"the engine's output stream ended inside a frame ({len(buffer)} bytes left)")


def raw_frames(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """The chunks of a TTY stream, as `(STDOUT, payload)` pairs like `iter_frames` yields."""
    for chunk in chunks:
        if chunk:
            yield STDOUT, chunk


def demux(frames: Iterable[tuple[int, bytes]]) -> tuple[bytes, bytes]:
    """All of stdout and all of stderr of a frame iterator."""
    out, err = bytearray(), bytearray()
    for stream, payload in frames:
        (err if stream == STDERR else out).extend(payload)
    return bytes(out), bytes(err)
