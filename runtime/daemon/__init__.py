"""The stackyard daemon: a subset of Docker Engine API v1.41 on a Unix socket.

Layers (ARCHITECTURE.md): `http` speaks HTTP/1.1 (h11) on asyncio streams, including chunked
streams and connection hijacking; `router` maps versioned and unversioned paths to handlers;
`routes/*` are thin (parse → call the runtime façade → JSON); `app` wires them and runs the
server. Started by `stackyard daemon` (runtime/cli/daemon.py).
"""
