"""System routes: `/_ping`, `/version`, `/info`, `/events`, `/system/df`, `/auth`.

Called by the router; asks `runtime.services.Services` for everything it returns.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

from runtime import errdefs
from runtime.daemon import validate
from runtime.daemon.http import JSONResponse, Request, Response, StreamResponse
from runtime.daemon.router import API_VERSION, MIN_API_VERSION, Router
from runtime.events import FILTER_KEYS, parse_timestamp

PING_HEADERS = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
                "Builder-Version": "1"}


def parse_filters(raw: Any, allowed: frozenset[str], what: str) -> dict[str, list[str]]:
    """Docker's filters: {"key": ["v", …]} or the older {"key": {"v": true}}."""
    if raw in (None, "", {}):
        return {}
    if not isinstance(raw, dict):
        raise errdefs.InvalidArgument("invalid filter: expected a JSON object")
    result: dict[str, list[str]] = {}
    for key, values in raw.items():
        if key not in allowed:
            raise errdefs.InvalidArgument(f"invalid filter '{key}'")
        if isinstance(values, dict):
            values = [v for v, on in values.items() if on]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise errdefs.InvalidArgument(f"invalid filter '{key}': expected a list of strings")
        result[key] = values
    return result


def register(router: Router, services: Any) -> None:
    async def ping(request: Request) -> Response:
        return Response(200, b"OK", "text/plain; charset=utf-8", dict(PING_HEADERS))

    async def version(request: Request) -> Response:
        return JSONResponse(services.version(API_VERSION, MIN_API_VERSION))

    async def info(request: Request) -> Response:
        return JSONResponse(services.info())

    async def events(request: Request) -> StreamResponse:
        filters = parse_filters(request.json_arg("filters"), FILTER_KEYS, "events")
        since = parse_timestamp(request.arg("since"))
        until = parse_timestamp(request.arg("until"))

        async def lines() -> AsyncIterator[bytes]:
            async for event in services.events.subscribe(filters, since, until):
                yield json.dumps(event).encode() + b"\n"
        return StreamResponse(lines())

    async def system_df(request: Request) -> Response:
        return JSONResponse(services.disk_usage())

    async def auth(request: Request) -> Response:
        body = validate.body(await request.json(default={}), validate.AUTH)
        return JSONResponse(await services.check_auth(body))

    router.add("GET", "/_ping", ping)
    router.add("HEAD", "/_ping", ping)
    router.add("GET", "/version", version)
    router.add("GET", "/info", info)
    router.add("GET", "/events", events)
    router.add("GET", "/system/df", system_df)
    router.add("POST", "/auth", auth)
