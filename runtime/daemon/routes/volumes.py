"""Volume routes: list, create, inspect, remove, prune. Thin: parse → `Services` → JSON."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime.daemon import validate
from runtime.daemon.http import JSONResponse, Request, Response
from runtime.daemon.router import Router
from runtime.daemon.routes.system import parse_filters

LIST_FILTERS = frozenset({"dangling", "driver", "label", "name"})
PRUNE_FILTERS = frozenset({"label", "label!", "all"})


def register(router: Router, services: Any) -> None:
    async def list_volumes(request: Request) -> Response:
        filters = parse_filters(request.json_arg("filters"), LIST_FILTERS, "volumes")
        volumes = await asyncio.to_thread(services.volume_list, filters)
        return JSONResponse({"Volumes": volumes, "Warnings": []})

    async def create(request: Request) -> Response:
        body = validate.body(await request.json(default={}), validate.VOLUME_CREATE)
        return JSONResponse(await asyncio.to_thread(services.volume_create, body), 201)

    async def inspect(request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(services.volume_inspect, request.params["name"]))

    async def remove(request: Request) -> Response:
        await asyncio.to_thread(services.volume_remove, request.params["name"], request.flag("force"))
        return Response(204, b"", "")

    async def prune(request: Request) -> Response:
        filters = parse_filters(request.json_arg("filters"), PRUNE_FILTERS, "volumes prune")
        return JSONResponse(await asyncio.to_thread(services.volume_prune, filters, request.api_version))

    router.add("GET", "/volumes", list_volumes)
    router.add("POST", "/volumes/create", create)
    router.add("POST", "/volumes/prune", prune)
    router.add("GET", "/volumes/{name}", inspect)
    router.add("DELETE", "/volumes/{name}", remove)
