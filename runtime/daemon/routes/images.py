"""Image routes: pull (create), import, list, inspect, history, tag, push, remove, prune, save,
load; `build` answers 501 until a builder exists.

Thin: parse → `Services` in a worker thread → JSON or a stream. Pull and push stream Docker's
JSON progress lines unchanged from the image service; a failure after the stream has started is
a final `{"error": …}` line, as Docker sends it. Uploaded archives (load, import) are spooled to
a temporary file first, so a client that stops halfway leaves nothing half-loaded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from typing import Any, Callable

from runtime import errdefs
from runtime.daemon import shapes
from runtime.daemon.http import JSONResponse, Request, Response, StreamResponse
from runtime.daemon.router import Router
from runtime.daemon.routes.system import parse_filters
from runtime.daemon.streams import error_line, from_thread, json_line

LIST_FILTERS = frozenset({"dangling", "label", "reference", "before", "since"})
PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})
SPOOL_MEMORY = 8 * 1024 * 1024


def registry_auth(request: Request) -> dict[str, Any] | None:
    """X-Registry-Auth: base64url JSON (username/password/serveraddress or identitytoken)."""
    header = request.headers.get("x-registry-auth", "").strip()
    if not header:
        return None
    try:
        padded = header + "=" * (-len(header) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise errdefs.InvalidArgument("invalid X-Registry-Auth header: not base64-encoded JSON") from None
    if not isinstance(value, dict):
        raise errdefs.InvalidArgument("invalid X-Registry-Auth header: expected a JSON object")
    return {key: val for key, val in value.items() if val} or None


def _stream_progress(run: Callable[[Callable[[dict], None]], Any]) -> StreamResponse:
    def produce(emit: Callable[[Any], None]) -> None:
        run(lambda event: emit(json_line(event)))

    def on_error(exc: BaseException) -> bytes:
        if isinstance(exc, errdefs.StackyardError):
            return error_line(str(exc))
        return error_line(f"internal error: {type(exc).__name__}: {exc}")

    return StreamResponse(from_thread(produce, on_error=on_error))


async def _spool(request: Request) -> tempfile.SpooledTemporaryFile:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
    async for chunk in request.stream():
        spool.write(chunk)
    spool.seek(0)
    return spool


class _EmitWriter:
    """A write-only file object whose writes become stream chunks (for `save`)."""

    def __init__(self, emit: Callable[[Any], None]) -> None:
        self.emit = emit

    def write(self, data: bytes) -> int:
        if data:
            self.emit(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def register(router: Router, services: Any) -> None:
    async def create(request: Request) -> Response | StreamResponse:
        source = request.arg("fromSrc")
        if source is not None:
            if source != "-":
                raise errdefs.Unsupported("importing from a URL is not supported; send the archive as the body (fromSrc=-)")
            repo, tag = request.arg("repo") or "", request.arg("tag") or ""
            reference = f"{repo}:{tag}" if repo and tag else (repo or None)
            changes = request.query.get("changes", [])
            spool = await _spool(request)

            def do_import(emit_event: Callable[[dict], None]) -> None:
                with spool:
                    image = services.image_import(spool, reference, changes=changes,
                                                  message=request.arg("message") or "")
                emit_event({"status": image.id})
            return _stream_progress(do_import)
        image = request.arg("fromImage")
        if not image:
            raise errdefs.InvalidArgument("fromImage or fromSrc is required")
        tag = request.arg("tag") or ""
        if tag and "@" not in image:
            image = f"{image}@{tag}" if tag.startswith("sha256:") else f"{image}:{tag}"
        services.image_parse_reference(image)  # a bad name is a 400, before the stream starts
        auth = registry_auth(request)
        platform = request.arg("platform") or None
        return _stream_progress(lambda emit: services.image_pull(image, platform=platform, auth=auth, progress=emit))

    async def list_images(request: Request) -> Response:
        filters = parse_filters(request.json_arg("filters"), LIST_FILTERS, "images")
        return JSONResponse(await asyncio.to_thread(services.image_list, filters, request.flag("all")))

    async def inspect(request: Request) -> Response:
        info = await asyncio.to_thread(services.image_inspect, request.params["name"])
        return JSONResponse(shapes.image_inspect(info))

    async def history(request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(services.image_history, request.params["name"]))

    async def tag(request: Request) -> Response:
        repo = request.arg("repo")
        if not repo:
            raise errdefs.InvalidArgument("repository name is required")
        target = f"{repo}:{request.arg('tag')}" if request.arg("tag") else repo
        await asyncio.to_thread(services.image_tag, request.params["name"], target)
        return Response(201, b"", "")

    async def push(request: Request) -> StreamResponse:
        name = request.params["name"]
        if request.arg("tag"):
            name = f"{name}:{request.arg('tag')}"
        auth = registry_auth(request)
        return _stream_progress(lambda emit: services.image_push(name, auth=auth, progress=emit))

    async def remove(request: Request) -> Response:
        deleted = await asyncio.to_thread(services.image_remove, request.params["name"],
                                          request.flag("force"), request.flag("noprune"))
        return JSONResponse(deleted)

    async def prune(request: Request) -> Response:
        filters = parse_filters(request.json_arg("filters"), PRUNE_FILTERS, "images prune")
        return JSONResponse(shapes.image_prune(await asyncio.to_thread(services.image_prune, filters)))

    def _save(names: list[str]) -> StreamResponse:
        if not names:
            raise errdefs.InvalidArgument("no image names given")
        services.image_check_exist(names)  # fail with 404 before the 200 is sent

        def produce(emit: Callable[[Any], None]) -> None:
            services.image_save(names, _EmitWriter(emit))
        return StreamResponse(from_thread(produce), content_type="application/x-tar")

    async def save_one(request: Request) -> StreamResponse:
        return await asyncio.to_thread(_save, [request.params["name"]])

    async def save_many(request: Request) -> StreamResponse:
        return await asyncio.to_thread(_save, request.query.get("names", []))

    async def load(request: Request) -> StreamResponse:
        spool = await _spool(request)
        quiet = request.flag("quiet")

        def do_load(emit_event: Callable[[dict], None]) -> None:
            with spool:
                loaded = services.image_load(spool, progress=None if quiet else emit_event)
            for line in loaded:
                emit_event({"stream": f"{line}\n"})
        return _stream_progress(do_load)

    async def build(request: Request) -> Response:
        raise errdefs.Unsupported("building images is not supported by the stackyard engine yet; "
                                  "build with another tool and push or load the result")

    router.add("POST", "/images/create", create)
    router.add("GET", "/images/json", list_images)
    router.add("POST", "/images/prune", prune)
    router.add("POST", "/images/load", load)
    router.add("GET", "/images/get", save_many)
    router.add("POST", "/build", build)
    router.add("GET", "/images/{name:path}/json", inspect)
    router.add("GET", "/images/{name:path}/history", history)
    router.add("GET", "/images/{name:path}/get", save_one)
    router.add("POST", "/images/{name:path}/tag", tag)
    router.add("POST", "/images/{name:path}/push", push)
    router.add("DELETE", "/images/{name:path}", remove)
