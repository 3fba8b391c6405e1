"""Network routes: list, inspect, create, remove, connect, disconnect, prune.

Thin: parse the request, call `Services` (in a worker thread: the network manager talks netlink
and writes state), answer JSON. Bodies are Docker's; errors come from the services as errdefs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from runtime import errdefs
from runtime.daemon import shapes, validate
from runtime.daemon.http import JSONResponse, Request, Response
from runtime.daemon.router import Router
from runtime.daemon.routes.system import parse_filters

LIST_FILTERS = frozenset({"driver", "id", "label", "name", "scope", "type", "dangling"})
PRUNE_FILTERS = frozenset({"label", "label!", "until"})


async def _object_body(request: Request, kind: validate.Body) -> dict[str, Any]:
    return validate.body(await request.json(default={}), kind)


def register(router: Router, services: Any) -> None:
    async def list_networks(request: Request) -> Response:
        filters = parse_filters(request.json_arg("filters"), LIST_FILTERS, "networks")
        networks = await asyncio.to_thread(services.network_list, filters)
        return JSONResponse([shapes.network(network) for network in networks])

    async def inspect(request: Request) -> Response:
        return JSONResponse(shapes.network(await asyncio.to_thread(services.network_inspect, request.params["id"])))

    async def create(request: Request) -> Response:
        body = await _object_body(request, validate.NETWORK_CREATE)
        name = body.get("Name")
        if not isinstance(name, str) or not name:
            raise errdefs.InvalidArgument("network name is required")
        created = await asyncio.to_thread(services.network_create, body)
        return JSONResponse({"Id": created["Id"], "Warning": created.get("Warning", "")}, 201)

    async def remove(request: Request) -> Response:
        await asyncio.to_thread(services.network_remove, request.params["id"])
        return Response(204, b"", "")

    async def connect(request: Request) -> Response:
        body = await _object_body(request, validate.NETWORK_CONNECT)
        container = body.get("Container")
        if not isinstance(container, str) or not container:
            raise errdefs.InvalidArgument("container is required")
        await asyncio.to_thread(services.network_connect, request.params["id"], container,
                                body.get("EndpointConfig") or {})
        return Response(200, b"", "")

    async def disconnect(request: Request) -> Response:
        body = await _object_body(request, validate.NETWORK_DISCONNECT)
        container = body.get("Container")
        if not isinstance(container, str) or not container:
            raise errdefs.InvalidArgument("container is required")
        await asyncio.to_thread(services.network_disconnect, request.params["id"], container,
                                bool(body.get("Force")))
        return Response(200, b"", "")

    async def prune(request: Request) -> Response:
        filters = parse_filters(request.json_arg("filters"), PRUNE_FILTERS, "networks prune")
        deleted = await asyncio.to_thread(services.network_prune, filters)
        return JSONResponse({"NetworksDeleted": deleted})

    router.add("GET", "/networks", list_networks)
    router.add("POST", "/networks/create", create)
    router.add("POST", "/networks/prune", prune)
    router.add("GET", "/networks/{id}", inspect)
    router.add("DELETE", "/networks/{id}", remove)
    router.add("POST", "/networks/{id}/connect", connect)
    router.add("POST", "/networks/{id}/disconnect", disconnect)
