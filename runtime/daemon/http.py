"""HTTP/1.1 on asyncio streams with h11: requests in, responses (whole, streamed or hijacked) out.

Called by `app.serve`. Handlers receive a `Request` and return one of `Response`,
`JSONResponse`, `StreamResponse` (chunked; JSON lines, logs, events, pull progress) or `Hijack`
(attach/exec: after `101 UPGRADED` — or `200` when the client did not ask to upgrade — the
handler owns the raw connection, as Docker's `Upgrade: tcp` protocol expects).
Why h11 rather than aiohttp: hijacking the connection mid-request is a first-class state in h11
(SWITCHED_PROTOCOL), while aiohttp needs private attributes for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Optional
from urllib.parse import parse_qs, urlsplit

import h11

log = logging.getLogger("stackyard.daemon.http")

MAX_BODY = 64 * 1024 * 1024  # bodies larger than this must be read as a stream
READ_CHUNK = 256 * 1024
LINGER_SECONDS = 2.0  # reading what a refused client still sends, so it sees our answer, not a reset


class BodyTooLarge(Exception):
    """413: a request body over MAX_BODY where the whole body is needed (JSON)."""


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    api_version: str = ""
    params: dict[str, str] = field(default_factory=dict)
    _connection: "Optional[_Connection]" = None
    _body: Optional[bytes] = None

    def arg(self, name: str, default: Optional[str] = None) -> Optional[str]:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """Docker's boolean query parameters: 1/true/True/yes are true, 0/false/'' are false."""
        value = self.arg(name)
        if value is None:
            return default
        return value.strip().lower() in ("1", "true", "yes", "on")

    def int_arg(self, name: str, default: Optional[int] = None) -> Optional[int]:
        from runtime import errdefs
        value = self.arg(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise errdefs.InvalidArgument(f"invalid value for {name}: {value!r} is not an integer") from None

    def json_arg(self, name: str, default: Any = None) -> Any:
        from runtime import errdefs
        value = self.arg(name)
        if value in (None, ""):
            return default
        try:
            return json.loads(value)
        except ValueError as exc:
            raise errdefs.InvalidArgument(f"invalid JSON in query parameter {name}: {exc}") from None

    async def stream(self) -> AsyncIterator[bytes]:
        """The request body as chunks (for uploads: image load/import, archive PUT)."""
        if self._body is not None:
            if self._body:
                yield self._body
            return
        assert self._connection is not None
        async for chunk in self._connection.body_chunks():
            yield chunk

    async def body(self) -> bytes:
        if self._body is None:
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY:
                raise BodyTooLarge(f"request body too large: {declared} bytes, the limit is {MAX_BODY}")
            parts, size = [], 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > MAX_BODY:
                    raise BodyTooLarge(f"request body too large: over the limit of {MAX_BODY} bytes")
                parts.append(chunk)
            self._body = b"".join(parts)
        return self._body

    async def json(self, *, default: Any = None) -> Any:
        from runtime import errdefs
        raw = await self.body()
        if not raw.strip():
            return default
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise errdefs.InvalidArgument(f"invalid JSON in request body: {exc}") from None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def JSONResponse(obj: Any, status: int = 200, headers: Optional[dict[str, str]] = None) -> Response:
    return Response(status, json.dumps(obj).encode() + b"\n", "application/json", dict(headers or {}))


@dataclass
class StreamResponse:
    chunks: AsyncIterator[bytes]
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hijack:
    """Take over the connection. `run(reader, writer)` gets the raw stream after the headers."""

    run: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
    content_type: str = "application/vnd.docker.raw-stream"


Handler = Callable[[Request], Awaitable[Any]]


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1024 * 1024)

    async def next_event(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                data = await self.reader.read(READ_CHUNK)
                self.conn.receive_data(data)
                continue
            return event

    async def body_chunks(self) -> AsyncIterator[bytes]:
        while True:
            event = await self.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            elif isinstance(event, h11.ConnectionClosed):
                return
            else:  # pragma: no cover - h11 guarantees Data/EndOfMessage here
                raise h11.RemoteProtocolError(f"unexpected event {event!r}")

    async def send(self, event: Any) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()


async def _linger(connection: _Connection) -> None:
    """After an early answer, half-close and discard what the client still sends for a moment:
    closing with unread data makes the kernel reset the connection, and the client would see
    the reset instead of our message."""
    try:
        if connection.writer.can_write_eof():
            connection.writer.write_eof()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_SECONDS
        while (left := deadline - loop.time()) > 0:
            if not await asyncio.wait_for(connection.reader.read(READ_CHUNK), left):
                return
    except (asyncio.TimeoutError, OSError):
        pass


def _headers(pairs: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in pairs}


class Server:
    """Accepts connections and feeds requests to `dispatch` (the router)."""

    def __init__(self, dispatch: Callable[[Request], Awaitable[Any]],
                 on_error: Callable[[BaseException, Request], Response],
                 server_header: str = "stackyard") -> None:
        self.dispatch = dispatch
        self.on_error = on_error
        self.server_header = server_header

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(reader, writer)
        try:
            while True:
                if not await self._one_request(connection):
                    break
                if connection.conn.our_state is h11.MUST_CLOSE:
                    break
                try:
                    connection.conn.start_next_cycle()
                except h11.LocalProtocolError:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except h11.RemoteProtocolError as exc:
            log.debug("bad request: %s", exc)
            try:
                status = exc.error_status_hint if 400 <= exc.error_status_hint < 500 else 400
                await self._send_whole(connection, JSONResponse({"message": f"bad request: {exc}"}, status,
                                                                {"Connection": "close"}))
                await _linger(connection)
            except Exception:
                pass
        except asyncio.CancelledError:
            raise
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def _one_request(self, connection: _Connection) -> bool:
        event = await connection.next_event()
        if isinstance(event, h11.ConnectionClosed):
            return False
        if not isinstance(event, h11.Request):
            return False
        target = event.target.decode("latin-1")
        split = urlsplit(target)
        request = Request(
            method=event.method.decode("ascii").upper(),
            target=target,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=_headers(event.headers),
            _connection=connection,
        )
        try:
            result = await self.dispatch(request)
        except (asyncio.CancelledError, h11.RemoteProtocolError):
            raise  # a broken body (bad chunk) is the peer's protocol error: 400 in `handle`
        except BaseException as exc:  # every failure becomes an HTTP error, never a dropped socket
            result = self.on_error(exc, request)
        if isinstance(result, Hijack):
            await self._hijack(connection, request, result)
            return False
        closing = isinstance(result, Response) and result.headers.get("Connection", "").lower() == "close"
        if closing:  # refused without reading the body (413): answer, then let the client finish
            await self._send_whole(connection, result, head=request.method == "HEAD")
            await _linger(connection)
            return False
        # Drain an unread request body so the connection can be reused.
        if request._body is None and connection.conn.their_state is h11.SEND_BODY:
            async for _ in connection.body_chunks():
                pass
        if isinstance(result, StreamResponse):
            await self._send_stream(connection, request, result)
            return False  # a streamed response ends the connection: simple and what clients expect
        else:
            await self._send_whole(connection, result, head=request.method == "HEAD")
        return True

    def _base_headers(self, content_type: str, extra: dict[str, str]) -> list[tuple[str, str]]:
        headers = [("Server", self.server_header), ("Api-Version", "1.41"),
                   ("Docker-Experimental", "false"), ("Ostype", "linux")]
        if content_type:
            headers.append(("Content-Type", content_type))
        headers.extend(extra.items())
        return headers

    async def _send_whole(self, connection: _Connection, response: Response, head: bool = False) -> None:
        headers = self._base_headers(response.content_type, response.headers)
        headers.append(("Content-Length", str(len(response.body))))
        await connection.send(h11.Response(status_code=response.status, headers=headers))
        if response.body and not head:
            await connection.send(h11.Data(data=response.body))
        await connection.send(h11.EndOfMessage())

    async def _send_stream(self, connection: _Connection, request: Request, response: StreamResponse) -> None:
        headers = self._base_headers(response.content_type, response.headers)
        # The connection ends with the stream (see _one_request); saying so keeps pooling
        # clients (httpx, requests) from sending their next request into a closing socket.
        headers.append(("Connection", "close"))
        # h11 picks chunked transfer encoding for HTTP/1.1 peers without a Content-Length.
        await connection.send(h11.Response(status_code=response.status, headers=headers))
        watcher = asyncio.ensure_future(connection.reader.read(1))  # noticed when the client goes away
        iterator = response.chunks.__aiter__()
        try:
            while True:
                step = asyncio.ensure_future(iterator.__anext__())
                done, _ = await asyncio.wait({step, watcher}, return_when=asyncio.FIRST_COMPLETED)
                if step not in done:
                    step.cancel()
                    raise ConnectionResetError("client went away")
                try:
                    chunk = step.result()
                except StopAsyncIteration:
                    break
                if chunk:
                    await connection.send(h11.Data(data=chunk))
            await connection.send(h11.EndOfMessage())
        finally:
            watcher.cancel()
            step_cancel = locals().get("step")
            if step_cancel is not None and not step_cancel.done():
                step_cancel.cancel()
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    pass

    async def _hijack(self, connection: _Connection, request: Request, hijack: Hijack) -> None:
        upgrade = request.headers.get("upgrade", "").lower() == "tcp"
        if upgrade:
            headers = [("Content-Type", hijack.content_type), ("Connection", "Upgrade"), ("Upgrade", "tcp")]
            head = "HTTP/1.1 101 UPGRADED\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        else:
            head = ("HTTP/1.1 200 OK\r\nContent-Type: " + hijack.content_type + "\r\n"
                    "Connection: close\r\n\r\n")
        # Bytes the client already sent past the request (stdin typed early) must not be lost.
        leftover = connection.conn.trailing_data[0] if connection.conn.their_state in (
            h11.DONE, h11.MIGHT_SWITCH_PROTOCOL, h11.SWITCHED_PROTOCOL) else b""
        if request._body is None and connection.conn.their_state is h11.SEND_BODY:
            async for _ in connection.body_chunks():
                pass
            leftover = connection.conn.trailing_data[0]
        connection.writer.write(head.encode("latin-1"))
        await connection.writer.drain()
        reader = connection.reader
        if leftover:
            prefixed = asyncio.StreamReader()
            prefixed.feed_data(bytes(leftover))

            async def pump() -> None:
                while True:
                    data = await connection.reader.read(READ_CHUNK)
                    if not data:
                        prefixed.feed_eof()
                        return
                    prefixed.feed_data(data)
            asyncio.ensure_future(pump())
            reader = prefixed
        await hijack.run(reader, connection.writer)
