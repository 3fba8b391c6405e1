"""`EngineClient`: one method per Docker Engine API v1.41 endpoint, plain dicts in and out.

The contract is docs/engine-interface.md. `observe`, `executor` and the CLI call it; the
docker-py compatible layer (`highlevel`) is built on it. Every error is a `runtime.errdefs`
category: statuses through `errdefs.from_http_status` with the engine's message, connection
failures as `Unavailable("cannot reach the engine at …")` (both mapped in `transport`), and
an `error` line in a progress stream as the category of its code (Internal without one).
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import socket
import threading
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import quote

import httpx

from orchestrator.engine import streams
from orchestrator.engine.query import split_reference
from orchestrator.engine.transport import DEFAULT_HOST, DEFAULT_TIMEOUT, TLSConfig, Transport
from runtime import errdefs


class Stream:
    """A streamed response as an iterator that `close()` stops, from any thread.

    Closing shuts the socket down first, so a reader blocked in another thread (following
    `/events`, say) wakes up and ends cleanly instead of waiting for the next event.
    """

    def __init__(self, response: httpx.Response, items: Iterator[Any]):
        self._response = response
        self._items = items
        self._closed = False
        self._lock = threading.Lock()

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Any:
        if self._closed:
            raise StopIteration
        try:
            return next(self._items)
        except StopIteration:
            self.close()
            raise
        except (errdefs.StackyardError, httpx.StreamError, OSError):
            if self._closed:  # the read failed because we shut the socket down: that is the end
                raise StopIteration from None
            self.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        stream = self._response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._response.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _q(value: str) -> str:
    """A name or id as a path segment (image references keep their `/` and `:`)."""
    return quote(str(value), safe="/:@")


def _timestamp(value: Any) -> Any:
    """A `since`/`until` value as the engine reads it: Unix seconds, fractions to the nanosecond."""
    if isinstance(value, _dt.datetime):
        value = value.timestamp()
    if isinstance(value, float):
        return f"{value:.9f}"
    return value


def _registry_auth(auth: Mapping[str, Any] | str | None) -> str:
    """The X-Registry-Auth header: base64url of the auth JSON (or a ready-made header value)."""
    if isinstance(auth, str):
        return auth
    return base64.urlsafe_b64encode(json.dumps(dict(auth or {})).encode()).decode()


def _progress(response: httpx.Response, chunks: Iterable[bytes]) -> Iterator[dict]:
    for message in streams.iter_json_lines(chunks):
        error = streams.stream_error(message)
        if error is not None:
            code = (message.get("errorDetail") or {}).get("code")
            raise (errdefs.from_http_status(code, error) if isinstance(code, int) and code >= 400
                   else errdefs.Internal(error))
        yield message


class EngineClient:
    """A Docker Engine API client over one pooled connection (see docs/engine-interface.md)."""

    def __init__(self, base_url: str = DEFAULT_HOST, *, tls: TLSConfig | bool | None = None,
                 version: str | None = None, timeout: float | None = DEFAULT_TIMEOUT,
                 environ: Mapping[str, str] | None = None):
        self._t = Transport(base_url, tls=tls, version=version, timeout=timeout, environ=environ)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> "EngineClient":
        """A client for `DOCKER_HOST` (default the local socket), TLS from the docker variables."""
        environ = os.environ if environ is None else environ
        return cls(environ.get("DOCKER_HOST") or DEFAULT_HOST, environ=environ, **kwargs)

    @property
    def base_url(self) -> str:
        return self._t.url

    @property
    def api_version(self) -> str:
        return self._t.api_version

    def close(self) -> None:
        self._t.close()

    def __enter__(self) -> "EngineClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._t.request_json(method, path, **kwargs)

    def _call(self, method: str, path: str, **kwargs: Any) -> None:
        self._t.send(method, path, **kwargs)

    def _stream(self, method: str, path: str, decode: Callable[[httpx.Response, Iterable[bytes]], Iterator[Any]],
                **kwargs: Any) -> Stream:
        response = self._t.send(method, path, stream=True, **kwargs)
        return Stream(response, decode(response, self._t.iter_chunks(response)))

    # -- system ------------------------------------------------------------------------

    def ping(self) -> str:
        return self._t.send("GET", "/_ping", versioned=False).text

    def version(self) -> dict:
        return self._json("GET", "/version")

    def info(self) -> dict:
        return self._json("GET", "/info")

    def events(self, *, filters: Mapping[str, Any] | None = None, since: Any = None,
               until: Any = None) -> Stream:
        """Engine events as dicts, streamed until `until` (forever without it) or `close()`."""
        params = {"filters": filters, "since": _timestamp(since), "until": _timestamp(until)}
        return self._stream("GET", "/events", lambda _r, chunks: streams.iter_json_lines(chunks),
                            params=params, timeout=None)

    # -- containers --------------------------------------------------------------------

    def list_containers(self, *, all: bool = False, filters: Mapping[str, Any] | None = None) -> list[dict]:
        return self._json("GET", "/containers/json", params={"all": all, "filters": filters}) or []

    def inspect_container(self, id_or_name: str) -> dict:
        return self._json("GET", f"/containers/{_q(id_or_name)}/json")

    def create_container(self, body: Mapping[str, Any], *, name: str | None = None) -> dict:
        return self._json("POST", "/containers/create", params={"name": name}, json_body=dict(body))

    def start_container(self, id: str) -> None:
        self._call("POST", f"/containers/{_q(id)}/start", ok=(304,))

    def stop_container(self, id: str, *, timeout: int | None = None) -> None:
        self._call("POST", f"/containers/{_q(id)}/stop", params={"t": timeout}, ok=(304,),
                   timeout=_grace(timeout))

    def restart_container(self, id: str, *, timeout: int | None = None) -> None:
        self._call("POST", f"/containers/{_q(id)}/restart", params={"t": timeout}, timeout=_grace(timeout))

    def kill_container(self, id: str, *, signal: str | int | None = None) -> None:
        self._call("POST", f"/containers/{_q(id)}/kill", params={"signal": signal})

    def remove_container(self, id: str, *, force: bool = False, volumes: bool = False) -> None:
        self._call("DELETE", f"/containers/{_q(id)}", params={"force": force, "v": volumes})

    def rename_container(self, id: str, new_name: str) -> None:
        self._call("POST", f"/containers/{_q(id)}/rename", params={"name": new_name})

    def wait_container(self, id: str, *, condition: str = "not-running", timeout: float | None = None) -> dict:
        """`{"StatusCode": n, "Error": …}`; waits without limit unless `timeout` (seconds) is given."""
        return self._json("POST", f"/containers/{_q(id)}/wait", params={"condition": condition}, timeout=timeout)

    def container_logs(self, id: str, *, stdout: bool = True, stderr: bool = True, follow: bool = False,
                       tail: str | int = "all", timestamps: bool = False, since: Any = None,
                       until: Any = None) -> Stream:
        """`(stream, bytes)` frames of a container's log; stream is streams.STDOUT or STDERR."""
        # Without a TTY the body is multiplexed; with one it is raw. API 1.41 does not say
        # which in the Content-Type, so ask the container.
        tty = bool((self.inspect_container(id).get("Config") or {}).get("Tty"))
        params = {"stdout": stdout, "stderr": stderr, "follow": follow, "tail": str(tail),
                  "timestamps": timestamps, "since": _timestamp(since), "until": _timestamp(until)}
        return self._stream("GET", f"/containers/{_q(id)}/logs", _frames(tty), params=params,
                            timeout=None if follow else "default")

    # -- exec --------------------------------------------------------------------------

    def exec_create(self, id: str, body: Mapping[str, Any]) -> dict:
        return self._json("POST", f"/containers/{_q(id)}/exec", json_body=dict(body))

    def exec_start(self, exec_id: str, *, detach: bool = False, tty: bool = False) -> Stream | None:
        """Start an exec; its output frames (None when detached). stdin is not attached."""
        path = f"/exec/{_q(exec_id)}/start"
        body = {"Detach": detach, "Tty": tty}
        if detach:
            self._call("POST", path, json_body=body)
            return None
        # dockerd hijacks the connection and sends the output until it closes it.
        return self._stream("POST", path, _frames(tty), json_body=body, timeout=None)

    def exec_attach(self, exec_id: str, *, tty: bool = True) -> tuple[Any, bytes]:
        """Start an exec with stdin attached over a hijacked connection.

        Returns the raw socket (write stdin to it, read output from it: raw bytes with a
        TTY, multiplexed frames without) and the output bytes already received.
        """
        from orchestrator.engine.hijack import open_upgraded

        path = self._t.path(f"/exec/{_q(exec_id)}/start")
        context = self._t.tls.ssl_context() if self._t.tls else None
        return open_upgraded(self._t.endpoint, context, path, {"Detach": False, "Tty": tty})

    def attach_container(self, id: str, *, stdin: bool = True, tty: bool = False) -> tuple[Any, bytes]:
        """Attach to a container's stdio over a hijacked connection (before starting it, so
        nothing is missed). Returns the raw socket (write stdin to it, read output from it: raw
        with a TTY, multiplexed frames without) and the output bytes already received."""
        from urllib.parse import urlencode

        from orchestrator.engine.hijack import open_upgraded

        query = urlencode({"stream": 1, "stdin": int(stdin), "stdout": 1, "stderr": 1})
        path = self._t.path(f"/containers/{_q(id)}/attach?{query}")
        context = self._t.tls.ssl_context() if self._t.tls else None
        return open_upgraded(self._t.endpoint, context, path, None)

    def resize_container(self, id: str, *, height: int, width: int) -> None:
        """Tell a container's TTY its size (rows, columns)."""
        self._call("POST", f"/containers/{_q(id)}/resize", params={"h": height, "w": width})

    def exec_resize(self, exec_id: str, *, height: int, width: int) -> None:
        """Tell the exec's TTY its size (rows, columns)."""
        self._call("POST", f"/exec/{_q(exec_id)}/resize", params={"h": height, "w": width})

    def exec_inspect(self, exec_id: str) -> dict:
        return self._json("GET", f"/exec/{_q(exec_id)}/json")

    # -- networks ----------------------------------------------------------------------

    def list_networks(self, *, filters: Mapping[str, Any] | None = None) -> list[dict]:
        return self._json("GET", "/networks", params={"filters": filters}) or []

    def inspect_network(self, id: str) -> dict:
        return self._json("GET", f"/networks/{_q(id)}")

    def create_network(self, body: Mapping[str, Any]) -> dict:
        return self._json("POST", "/networks/create", json_body=dict(body))

    def remove_network(self, id: str) -> None:
        self._call("DELETE", f"/networks/{_q(id)}")

    def connect_network(self, network: str, container: str, *,
                        endpoint_config: Mapping[str, Any] | None = None) -> None:
        body = {"Container": container, "EndpointConfig": dict(endpoint_config or {})}
        self._call("POST", f"/networks/{_q(network)}/connect", json_body=body)

    def disconnect_network(self, network: str, container: str, *, force: bool = False) -> None:
        self._call("POST", f"/networks/{_q(network)}/disconnect", json_body={"Container": container, "Force": force})

    # -- volumes -----------------------------------------------------------------------

    def list_volumes(self, *, filters: Mapping[str, Any] | None = None) -> list[dict]:
        return (self._json("GET", "/volumes", params={"filters": filters}) or {}).get("Volumes") or []

    def inspect_volume(self, name: str) -> dict:
        return self._json("GET", f"/volumes/{_q(name)}")

    def create_volume(self, body: Mapping[str, Any]) -> dict:
        return self._json("POST", "/volumes/create", json_body=dict(body))

    def remove_volume(self, name: str, *, force: bool = False) -> None:
        self._call("DELETE", f"/volumes/{_q(name)}", params={"force": force})

    # -- images ------------------------------------------------------------------------

    def list_images(self, *, filters: Mapping[str, Any] | None = None, all: bool = False) -> list[dict]:
        return self._json("GET", "/images/json", params={"filters": filters, "all": all}) or []

    def inspect_image(self, ref: str) -> dict:
        return self._json("GET", f"/images/{_q(ref)}/json")

    def pull_image(self, ref: str, *, auth: Mapping[str, Any] | str | None = None,
                   platform: str | None = None) -> Stream:
        """Pull progress messages; iterating raises the error an `error` line reports."""
        repo, tag = split_reference(ref)
        headers = {"X-Registry-Auth": _registry_auth(auth)} if auth else None
        params = {"fromImage": repo, "tag": tag or "latest", "platform": platform}
        return self._stream("POST", "/images/create", _progress, params=params, headers=headers, timeout=None)

    def import_image(self, source: bytes | Iterable[bytes] | Any, *, repo: str, tag: str | None = None) -> Stream:
        """Import a rootfs tarball (bytes, a binary file or an iterable of chunks) as repo:tag."""
        content = _chunked(source) if hasattr(source, "read") else source
        return self._stream("POST", "/images/create", _progress, content=content, timeout=None,
                            params={"fromSrc": "-", "repo": repo, "tag": tag},
                            headers={"Content-Type": "application/x-tar"})

    def tag_image(self, ref: str, repo: str, tag: str | None = None) -> None:
        self._call("POST", f"/images/{_q(ref)}/tag", params={"repo": repo, "tag": tag})

    def push_image(self, ref: str, *, auth: Mapping[str, Any] | str | None = None) -> Stream:
        """Push progress messages; iterating raises the error an `error` line reports."""
        repo, tag = split_reference(ref)
        # dockerd refuses a push without the header, even for a registry without auth.
        return self._stream("POST", f"/images/{_q(repo)}/push", _progress, params={"tag": tag},
                            headers={"X-Registry-Auth": _registry_auth(auth)}, timeout=None)

    def build_image(self, context: Iterable[bytes] | bytes | None, *, params: Mapping[str, Any],
                    registry_config: Mapping[str, Any] | None = None) -> Stream:
        """`POST /build` (the engine's own builder): `context` is the build context as a tar
        (chunks are streamed; None with a `remote` parameter), `params` the query parameters
        (`t` may be a list). Yields the raw JSON messages (`stream`, `aux`, `status`,
        `errorDetail`) without raising on an error line: `engine.build` decodes them and
        names the failing step. A 501 (an engine without a builder) raises Unsupported."""
        headers = {"Content-Type": "application/x-tar"}
        if registry_config:
            headers["X-Registry-Config"] = base64.urlsafe_b64encode(
                json.dumps(dict(registry_config)).encode()).decode()
        return self._stream("POST", "/build", lambda _r, chunks: streams.iter_json_lines(chunks),
                            params=dict(params), content=context, headers=headers, timeout=None)

    def remove_image(self, ref: str, *, force: bool = False, noprune: bool = False) -> list[dict]:
        return self._json("DELETE", f"/images/{_q(ref)}", params={"force": force, "noprune": noprune}) or []


def _grace(timeout: int | None) -> float:
    """HTTP timeout for a stop/restart: the engine's grace period (10 s by default) plus margin."""
    return DEFAULT_TIMEOUT + (timeout if timeout is not None and timeout > 0 else 10)


def _frames(tty: bool) -> Callable[[httpx.Response, Iterable[bytes]], Iterator[tuple[int, bytes]]]:
    decode = streams.raw_frames if tty else streams.iter_frames
    return lambda _response, chunks: decode(chunks)


def _chunked(file: Any, size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := file.read(size):
        yield chunk
