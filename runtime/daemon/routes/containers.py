"""Container and exec routes (create … prune, logs, attach, exec, archive).

Thin: parse → `Services` (in worker threads: the container manager talks to the supervisor) →
JSON, a stream, or a hijacked connection. Logs are multiplexed unless the container has a TTY;
`wait` sends its headers at once and the status when the condition is met, as Docker does,
because clients (docker run) start waiting before they start the container.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from typing import Any, AsyncIterator

from runtime import errdefs
from runtime.daemon import shapes, validate
from runtime.daemon.hijack import pump
from runtime.daemon.http import Hijack, JSONResponse, Request, Response, StreamResponse
from runtime.daemon.router import Router
from runtime.daemon.routes.system import parse_filters
from runtime.events import parse_timestamp
from runtime.daemon.streams import frame, from_thread, iterate_in_thread, json_line

LIST_FILTERS = frozenset({"ancestor", "before", "expose", "exited", "health", "id", "isolation",
                          "is-task", "label", "name", "network", "publish", "since", "status", "volume"})
PRUNE_FILTERS = frozenset({"label", "label!", "until"})
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


async def _object_body(request: Request, kind: validate.Body) -> dict[str, Any]:
    return validate.body(await request.json(default={}), kind)


def _check_log_options(request: Request) -> None:
    tail = request.arg("tail") or "all"
    if tail != "all":
        try:
            int(tail)
        except ValueError:
            raise errdefs.InvalidArgument(f"invalid tail value {tail!r}: expected a number or all") from None
    for name in ("since", "until"):
        if request.arg(name) not in (None, "", "0"):
            parse_timestamp(request.arg(name))


def _archive_path(request: Request) -> str:
    path = request.arg("path") or ""
    if not path:
        raise errdefs.InvalidArgument("path is required: the file or directory in the container")
    return path


def _no_content() -> Response:
    return Response(204, b"", "")


def register(router: Router, services: Any) -> None:
    call = asyncio.to_thread

    async def create(request: Request) -> Response:
        body = await _object_body(request, validate.CONTAINER_CREATE)
        name = request.arg("name") or ""
        created = await call(services.container_create, name, body, request.arg("platform") or None)
        return JSONResponse(created, 201)

    async def list_containers(request: Request) -> Response:
        filters = parse_filters(request.json_arg("filters"), LIST_FILTERS, "containers")
        return JSONResponse(await call(services.container_list, request.flag("all"),
                                       request.int_arg("limit", -1), request.flag("size"), filters))

    async def inspect(request: Request) -> Response:
        info = await call(services.container_inspect, request.params["id"], request.flag("size"))
        return JSONResponse(shapes.container_inspect(info))

    async def start(request: Request) -> Response:
        await call(services.container_start, request.params["id"])
        return _no_content()

    async def stop(request: Request) -> Response:
        await call(services.container_stop, request.params["id"], request.int_arg("t"))
        return _no_content()

    async def restart(request: Request) -> Response:
        await call(services.container_restart, request.params["id"], request.int_arg("t"))
        return _no_content()

    async def kill(request: Request) -> Response:
        await call(services.container_kill, request.params["id"], request.arg("signal") or "SIGKILL")
        return _no_content()

    async def wait(request: Request) -> StreamResponse:
        condition = request.arg("condition") or "not-running"
        if condition not in WAIT_CONDITIONS:
            raise errdefs.InvalidArgument(f"invalid condition {condition!r}: expected one of {', '.join(WAIT_CONDITIONS)}")
        ident = request.params["id"]
        waiter = await call(services.container_wait_prepare, ident, condition)  # 404 before headers

        async def body() -> AsyncIterator[bytes]:
            # A wait lasts as long as the container, and `docker run -d` leaves one behind: it
            # runs on its own daemon thread, never one of the default pool's few workers (six on
            # two cores: six detached runs would stall every other request, and the shutdown).
            result = None
            try:
                async for result in from_thread(lambda _emit: waiter()):
                    pass
            except errdefs.StackyardError as exc:
                result = {"StatusCode": -1, "Error": {"Message": str(exc)}}
            yield json_line(shapes.wait_result(result))
        return StreamResponse(body())

    async def remove(request: Request) -> Response:
        await call(services.container_remove, request.params["id"], request.flag("force"), request.flag("v"))
        return _no_content()

    async def rename(request: Request) -> Response:
        name = request.arg("name")
        if not name:
            raise errdefs.InvalidArgument("new name is required")
        await call(services.container_rename, request.params["id"], name)
        return _no_content()

    async def pause(request: Request) -> Response:
        await call(services.container_pause, request.params["id"])
        return _no_content()

    async def unpause(request: Request) -> Response:
        await call(services.container_unpause, request.params["id"])
        return _no_content()

    async def logs(request: Request) -> StreamResponse:
        ident = request.params["id"]
        stdout, stderr = request.flag("stdout"), request.flag("stderr")
        if not (stdout or stderr):
            raise errdefs.InvalidArgument("you must choose at least one stream")
        _check_log_options(request)  # a bad value is a 400, before the stream's 200
        tty = await call(services.container_tty, ident)
        options = dict(follow=request.flag("follow"), stdout=stdout, stderr=stderr,
                       since=request.arg("since"), until=request.arg("until"),
                       timestamps=request.flag("timestamps"), tail=request.arg("tail") or "all")
        lines = iterate_in_thread(lambda: services.container_logs(ident, **options))

        async def chunks() -> AsyncIterator[bytes]:
            async for stream, data in lines:
                yield data if tty else frame(stream, data)
        return StreamResponse(chunks(), content_type=RAW if tty else MULTIPLEXED)

    async def attach(request: Request) -> Hijack:
        ident = request.params["id"]
        io = await call(services.container_attach, ident, request.flag("stdin"), request.flag("stdout"),
                        request.flag("stderr"), request.flag("stream"), request.flag("logs"))
        return Hijack(lambda reader, writer: pump(io, reader, writer), RAW if io.tty else MULTIPLEXED)

    async def resize(request: Request) -> Response:
        await call(services.container_resize, request.params["id"], request.int_arg("h", 0), request.int_arg("w", 0))
        return Response(200, b"", "")

    async def top(request: Request) -> Response:
        return JSONResponse(await call(services.container_top, request.params["id"], request.arg("ps_args") or "-ef"))

    async def stats(request: Request) -> StreamResponse | Response:
        ident = request.params["id"]
        streaming = request.flag("stream", True) and not request.flag("one-shot")
        if not streaming:
            return JSONResponse(await call(services.container_stats_once, ident))
        await call(services.container_inspect, ident, False)  # 404 before headers
        samples = iterate_in_thread(lambda: services.container_stats_stream(ident))

        async def chunks() -> AsyncIterator[bytes]:
            async for sample in samples:
                yield json_line(sample)
        return StreamResponse(chunks())

    async def update(request: Request) -> Response:
        body = await _object_body(request, validate.CONTAINER_UPDATE)
        await call(services.container_inspect, request.params["id"], False)  # 404 before anything else
        return JSONResponse(await call(services.container_update, request.params["id"], body))

    async def archive_head(request: Request) -> Response:
        await call(services.container_inspect, request.params["id"], False)  # 404 first, as Docker
        stat = await call(services.container_path_stat, request.params["id"], _archive_path(request))
        header = base64.b64encode(json.dumps(stat).encode()).decode()
        return Response(200, b"", "", {"X-Docker-Container-Path-Stat": header})

    async def archive_get(request: Request) -> StreamResponse:
        await call(services.container_inspect, request.params["id"], False)  # 404 first, as Docker
        ident, path = request.params["id"], _archive_path(request)
        stat = await call(services.container_path_stat, ident, path)
        chunks = await call(services.container_archive_stream, ident, path)
        header = base64.b64encode(json.dumps(stat).encode()).decode()
        # Streamed with a short queue: a large file never sits in the daemon's memory.
        return StreamResponse(iterate_in_thread(lambda: chunks, maxsize=4), content_type="application/x-tar",
                              headers={"X-Docker-Container-Path-Stat": header})

    async def archive_put(request: Request) -> Response:
        ident, path = request.params["id"], _archive_path(request)
        await call(services.container_inspect, ident, False)  # 404 before reading the upload
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        with spool:
            await call(services.container_extract, ident, path, spool,
                       request.flag("noOverwriteDirNonDir"), request.flag("copyUIDGID"))
        return Response(200, b"", "")

    async def prune(request: Request) -> Response:
        filters = parse_filters(request.json_arg("filters"), PRUNE_FILTERS, "containers prune")
        return JSONResponse(await call(services.container_prune, filters))

    async def exec_create(request: Request) -> Response:
        body = await _object_body(request, validate.EXEC_CREATE)
        if not body.get("Cmd"):
            raise errdefs.InvalidArgument("no exec command specified")
        return JSONResponse(await call(services.exec_create, request.params["id"], body), 201)

    async def exec_start(request: Request) -> Response | Hijack:
        body = await _object_body(request, validate.EXEC_START)
        ident = request.params["id"]
        if body.get("Detach"):
            await call(services.exec_start_detached, ident)
            return Response(200, b"", "")
        tty = await call(services.exec_check_startable, ident, bool(body.get("Tty")))

        async def run(reader, writer) -> None:
            # Start the process only once the 101 is on the wire: clients (docker-py) read the
            # headers through a buffered reader and then the raw socket, so output sent in the
            # same packet as the headers would be lost to them.
            try:
                io = await call(services.exec_start, ident, tty)
            except errdefs.StackyardError as exc:
                writer.write(frame("stderr", f"{exc}\n".encode()) if not tty else f"{exc}\r\n".encode())
                await writer.drain()
                writer.close()
                return
            await pump(io, reader, writer)
        return Hijack(run, RAW if tty else MULTIPLEXED)

    async def exec_resize(request: Request) -> Response:
        await call(services.exec_resize, request.params["id"], request.int_arg("h", 0), request.int_arg("w", 0))
        return Response(200, b"", "")

    async def exec_inspect(request: Request) -> Response:
        return JSONResponse(await call(services.exec_inspect, request.params["id"]))

    router.add("POST", "/containers/create", create)
    router.add("GET", "/containers/json", list_containers)
    router.add("POST", "/containers/prune", prune)
    router.add("GET", "/containers/{id}/json", inspect)
    router.add("POST", "/containers/{id}/start", start)
    router.add("POST", "/containers/{id}/stop", stop)
    router.add("POST", "/containers/{id}/restart", restart)
    router.add("POST", "/containers/{id}/kill", kill)
    router.add("POST", "/containers/{id}/wait", wait)
    router.add("DELETE", "/containers/{id}", remove)
    router.add("POST", "/containers/{id}/rename", rename)
    router.add("POST", "/containers/{id}/pause", pause)
    router.add("POST", "/containers/{id}/unpause", unpause)
    router.add("GET", "/containers/{id}/logs", logs)
    router.add("POST", "/containers/{id}/attach", attach)
    router.add("POST", "/containers/{id}/resize", resize)
    router.add("GET", "/containers/{id}/top", top)
    router.add("GET", "/containers/{id}/stats", stats)
    router.add("POST", "/containers/{id}/update", update)
    router.add("HEAD", "/containers/{id}/archive", archive_head)
    router.add("GET", "/containers/{id}/archive", archive_get)
    router.add("PUT", "/containers/{id}/archive", archive_put)
    router.add("POST", "/containers/{id}/exec", exec_create)
    router.add("POST", "/exec/{id}/start", exec_start)
    router.add("POST", "/exec/{id}/resize", exec_resize)
    router.add("GET", "/exec/{id}/json", exec_inspect)
