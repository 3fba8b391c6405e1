"""HTTP transport to a Docker Engine API endpoint: addresses, TLS, the pooled httpx client,
API version negotiation and the one place where httpx errors become `runtime.errdefs`.

Used only by `client.EngineClient`. Each `Transport` owns one `httpx.Client` (one connection
pool), which is thread-safe: the executor calls the engine from several threads at once.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

import httpx

from orchestrator.engine.query import clean_params
from runtime import errdefs

DEFAULT_HOST = "unix:///var/run/docker.sock"
MAX_API_VERSION = "1.41"
# Calls that finish quickly on a healthy engine; waits, follows and pulls pass timeout=None.
DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class TLSConfig:
    """Client certificate and CA for a `tcp://` endpoint (docker's `DOCKER_CERT_PATH` layout)."""

    ca_cert: str | None = None
    client_cert: tuple[str, str] | None = None
    verify: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "TLSConfig | None":
        """TLS settings as the docker CLI reads them, or None when TLS is not asked for."""
        verify = environ.get("DOCKER_TLS_VERIFY", "") != ""
        cert_path = environ.get("DOCKER_CERT_PATH") or ""
        if not verify and not cert_path:
            return None
        directory = Path(cert_path or Path.home() / ".docker")
        ca, cert, key = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
        return cls(ca_cert=str(ca) if ca.exists() else None,
                   client_cert=(str(cert), str(key)) if cert.exists() and key.exists() else None,
                   verify=verify)

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_cert)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_cert:
            context.load_cert_chain(*self.client_cert)
        return context


@dataclass(frozen=True)
class Endpoint:
    """Where the engine listens: `url` as given, the httpx base URL and the socket path if any."""

    url: str
    base_url: str
    socket_path: str | None = None


def parse_host(url: str, *, tls: bool = False) -> Endpoint:
    """Endpoint of a DOCKER_HOST value: `unix:///path`, `tcp://host[:port]`, `http(s)://…`.

    Raises:
        errdefs.InvalidArgument: an empty, malformed or unsupported address (ssh://, npipe://).
    """
    url = (url or DEFAULT_HOST).strip()
    if url.startswith("/"):
        url = "unix://" + url
    parts = urlsplit(url)
    if parts.scheme == "unix":
        path = (parts.netloc + parts.path) if parts.netloc else parts.path
        if not path:
            raise errdefs.InvalidArgument(f"engine address {url!r} has no socket path")
        return Endpoint(url=url, base_url="http://docker", socket_path=path)
    if parts.scheme in ("tcp", "http", "https"):
        if not parts.hostname:
            raise errdefs.InvalidArgument(f"engine address {url!r} has no host")
        secure = parts.scheme == "https" or (parts.scheme == "tcp" and tls)
        port = parts.port or (2376 if secure else 2375)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        prefix = parts.path.rstrip("/")
        return Endpoint(url=url, base_url=f"{'https' if secure else 'http'}://{host}:{port}{prefix}")
    raise errdefs.InvalidArgument(
        f"engine address {url!r} is not supported: use unix:///path, tcp://host:port or https://host:port")


def _message(response: httpx.Response) -> str:
    """The engine's error message: `{"message": …}`, else the body text, else the reason."""
    try:
        body = response.read()
    except httpx.HTTPError:
        body = b""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return text or f"{response.status_code} {response.reason_phrase}"


class Transport:
    """A pooled HTTP client bound to one engine, speaking the negotiated API version."""

    def __init__(self, url: str, *, tls: TLSConfig | bool | None = None, version: str | None = None,
                 timeout: float | None = DEFAULT_TIMEOUT, environ: Mapping[str, str] | None = None):
        environ = os.environ if environ is None else environ
        if tls is None or tls is True:
            tls = TLSConfig.from_env(environ) or (TLSConfig() if tls is True else None)
        self.tls = tls or None
        self.endpoint = parse_host(url, tls=self.tls is not None)
        self.url = self.endpoint.url
        self.timeout = timeout
        # Only an https endpoint needs certificates; loading the CA bundle for a Unix socket
        # would cost ~60 ms on every CLI start.
        verify: Any = self.tls.ssl_context() if self.tls else self.endpoint.base_url.startswith("https:")
        transport = httpx.HTTPTransport(uds=self.endpoint.socket_path, verify=verify)
        self._client = httpx.Client(base_url=self.endpoint.base_url, transport=transport,
                                    timeout=httpx.Timeout(timeout, connect=10.0),
                                    headers={"User-Agent": "stackyard"})
        # "auto" (None) negotiates on first use; an explicit version is used as given.
        self._version = version.lstrip("v") if version and version != "auto" else None
        self._lock = threading.Lock()

    # -- version -----------------------------------------------------------------------

    @property
    def api_version(self) -> str:
        """The API version every call uses: the engine's, capped at v1.41 (asks once)."""
        if self._version is None:
            with self._lock:
                if self._version is None:
                    info = self.request_json("GET", "/version", versioned=False)
                    self._version = negotiate(info.get("ApiVersion"))
        return self._version

    # -- requests ----------------------------------------------------------------------

    def path(self, path: str, *, versioned: bool = True) -> str:
        return f"/v{self.api_version}{path}" if versioned else path

    def send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
             json_body: Any = None, content: Any = None, headers: Mapping[str, str] | None = None,
             stream: bool = False, timeout: float | None | str = "default",
             versioned: bool = True, ok: tuple[int, ...] = ()) -> httpx.Response:
        """Send one request; a non-2xx status (other than `ok`) raises its errdefs category.

        With `stream=True` the caller must close the response.

        Raises:
            errdefs.Unavailable: the engine cannot be reached or stopped answering.
            errdefs.StackyardError: the category of the engine's error status.
        """
        request = self._client.build_request(
            method, self.path(path, versioned=versioned), params=clean_params(params), json=json_body,
            content=content, headers=headers,
            timeout=httpx.USE_CLIENT_DEFAULT if timeout == "default" else httpx.Timeout(timeout, connect=10.0))
        try:
            response = self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise errdefs.Unavailable(f"the engine at {self.url} did not answer {method} {path} in time: {exc}") from exc
        except httpx.TransportError as exc:
            raise errdefs.Unavailable(f"cannot reach the engine at {self.url}: {exc or type(exc).__name__}") from exc
        if response.status_code >= 300 and response.status_code not in ok:
            try:
                raise errdefs.from_http_status(response.status_code, _message(response))
            finally:
                response.close()
        if not stream:
            try:
                response.read()
            except httpx.HTTPError as exc:
                raise errdefs.Unavailable(f"lost the connection to the engine at {self.url}: {exc}") from exc
            finally:
                response.close()
        return response

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and decode its JSON body (None for an empty body)."""
        response = self.send(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise errdefs.Internal(f"the engine answered {method} {path} with invalid JSON") from exc

    def iter_chunks(self, response: httpx.Response) -> Iterator[bytes]:
        """The body of a streamed response, with transport errors mapped to Unavailable."""
        try:
            yield from response.iter_raw()
        except httpx.HTTPError as exc:
            raise errdefs.Unavailable(f"lost the connection to the engine at {self.url}: {exc}") from exc

    def close(self) -> None:
        self._client.close()


def negotiate(server_version: str | None) -> str:
    """The lower of the engine's API version and v1.41 (v1.41 when the engine does not say)."""
    if not server_version:
        return MAX_API_VERSION

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(p) for p in version.lstrip("v").split(".") if p.isdigit())

    return min(server_version.lstrip("v"), MAX_API_VERSION, key=key)
