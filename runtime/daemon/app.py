"""Builds the daemon (router + services) and serves it on its Unix sockets until signalled.

Called by `runtime.cli.daemon`. Errors from the runtime become `{"message": …}` with the status
from the shared errdefs table; anything uncategorised is logged with its traceback and answered
500 with a one-line message, never a dropped connection.
"""

from __future__ import annotations

import asyncio
import errno
import grp
import logging
import os
import signal
import socket
from pathlib import Path
from typing import Optional

from runtime import errdefs
from runtime.config import DaemonConfig
from runtime.daemon import http
from runtime.daemon.router import MethodNotAllowed, Router
from runtime.daemon.routes import containers, images, networks, system, volumes
from runtime.services import Services

log = logging.getLogger("stackyard.daemon")

ROUTE_MODULES = [system, containers, images, networks, volumes]


def error_response(exc: BaseException, request: http.Request) -> http.Response:
    if isinstance(exc, http.BodyTooLarge):
        # The body was not read: the connection cannot carry another request.
        return http.JSONResponse({"message": str(exc)}, 413, {"Connection": "close"})
    if isinstance(exc, MethodNotAllowed):
        status = 405
    elif isinstance(exc, errdefs.StackyardError):
        status = errdefs.http_status(exc)
    else:
        log.exception("internal error on %s %s", request.method, request.path)
        exc = errdefs.Internal(f"internal error: {type(exc).__name__}: {exc}")
        status = 500
    if status == 304:
        return http.Response(304, b"", "")
    message = str(exc) or type(exc).__name__
    return http.JSONResponse({"message": message}, status)


def build_router(services: Services) -> Router:
    router = Router()
    for module in ROUTE_MODULES:
        module.register(router, services)
    return router


def make_server(services: Services) -> http.Server:
    router = build_router(services)

    async def dispatch(request: http.Request):
        handler = router.resolve(request)
        return await handler(request)

    return http.Server(dispatch, error_response, server_header="stackyard/" + services.version("1.41", "1.24")["Version"])


def _prepare_socket(path: str) -> socket.socket:
    """Bind the socket, refusing to steal one a live daemon is serving."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(path)
        except OSError as exc:
            if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
                raise
            os.unlink(path)  # stale socket from a daemon that died
        else:
            raise errdefs.Conflict(f"another daemon is already serving {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    os.chmod(path, 0o660)
    try:
        os.chown(path, 0, grp.getgrnam("stackyard").gr_gid)
    except (KeyError, PermissionError):
        pass
    return sock


async def serve(config: DaemonConfig, *, ready: Optional[asyncio.Event] = None) -> None:
    # Claim the sockets first: a second daemon must fail before it touches anything.
    sockets = [_prepare_socket(path) for path in config.socket_paths]
    services = Services(config)
    for line in await asyncio.to_thread(services.start):
        log.info("restored: %s", line)
    server = make_server(services)
    servers = []
    paths = config.socket_paths
    for sock in sockets:
        servers.append(await asyncio.start_unix_server(server.handle, sock=sock, limit=2 ** 20))
    for host in config.hosts:
        if host.startswith("tcp://"):
            address, _, port = host[len("tcp://"):].rpartition(":")
            servers.append(await asyncio.start_server(server.handle, address or "127.0.0.1", int(port)))
    pidfile = Path(config.exec_root) / "stackyard.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("API listening on %s", ", ".join(config.hosts))
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        for srv in servers:
            srv.close()
        for path in paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        try:
            if pidfile.read_text().strip() == str(os.getpid()):
                pidfile.unlink()
        except FileNotFoundError:
            pass
        await asyncio.gather(*(srv.wait_closed() for srv in servers), return_exceptions=True)
        services.close()


def run(config: DaemonConfig) -> None:
    logging.basicConfig(level=getattr(logging, config.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("pyroute2", "httpcore", "httpx", "hpack"):  # their debug output drowns ours
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger().level))
    asyncio.run(serve(config))
