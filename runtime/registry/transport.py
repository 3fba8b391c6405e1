"""HTTP to registries: connection pools per endpoint, retries with back-off, endpoint selection.

Called by `client` and `auth`. One httpx.Client per endpoint (each has its own TLS settings);
`send` retries connection failures and retryable statuses with the decisions of `retry`;
`pick` pings `/v2/` on a registry's candidate endpoints (HTTPS before HTTP where both are
allowed) and remembers the first that answers, with the auth challenge it answered with.
Foreign exceptions (httpx, ssl, OSError) become errdefs here, once.
"""

from __future__ import annotations

import ssl
import threading
import time
from typing import Callable

import httpx

from runtime import errdefs
from runtime.registry.challenge import Challenge, parse_challenges
from runtime.registry.config import RegistryConfig
from runtime.registry.endpoints import Endpoint, endpoints_for
from runtime.registry.retry import RetryPolicy, parse_retry_after, retry_delay
from runtime.registry.tls import ssl_context_for


def describe_transport_error(exc: BaseException) -> str:
    """"connection refused" rather than "[Errno 111] Connection refused" or an httpx class name."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS certificate verify failed: {seen.verify_message or seen.reason}"
        if isinstance(seen, ssl.SSLError):
            return "TLS handshake failed: " + str(seen.reason or seen).replace("_", " ").lower()
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror[0].lower() + seen.strerror[1:]
        seen = seen.__cause__ or seen.__context__
    text = str(exc) or type(exc).__name__
    return text


def is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(error: errdefs.StackyardError, endpoint: Endpoint) -> str:
    text = str(error)
    for prefix in (f"cannot reach registry at {endpoint.host}: ", f"cannot use registry at {endpoint.base_url}: "):
        text = text.removeprefix(prefix)
    return text


class Transport:
    def __init__(self, config: RegistryConfig, *, user_agent: str,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.user_agent = user_agent
        self.policy = RetryPolicy(config.attempts, config.backoff_base, config.backoff_max, config.max_total_wait)
        self._sleep = sleep
        self._clients: dict[str, httpx.Client] = {}
        self._picked: dict[tuple[str, bool], list[tuple[Endpoint, list[Challenge]]]] = {}
        self._lock = threading.Lock()

    # ---- connection pools ----------------------------------------------------------------

    def http(self, endpoint: Endpoint) -> httpx.Client:
        key = f"{endpoint.base_url}|{endpoint.verify}"
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                # A plain-HTTP registry may still redirect to (or name a token realm on) an
                # HTTPS host: that one is verified against the system CAs.
                verify = ssl_context_for(endpoint.host, self.config.certs_dir,
                                         verify=endpoint.verify or not endpoint.tls)
                client = httpx.Client(
                    verify=verify, headers={"User-Agent": self.user_agent},
                    timeout=httpx.Timeout(self.config.read_timeout, connect=self.config.connect_timeout),
                    limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))
                self._clients[key] = client
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    # ---- one request, retried ------------------------------------------------------------

    def send(self, endpoint: Endpoint, request: httpx.Request, *, stream: bool = False,
             follow_redirects: bool = False, attempts: int | None = None) -> httpx.Response:
        """The response to `request`, retrying 429/5xx and connection failures.

        A retryable status on the last attempt is returned, not raised: the caller turns it
        into an error with the registry's message. `attempts=1` for bodies that cannot be
        replayed (streamed uploads).

        Raises:
            errdefs.Unavailable: "cannot reach registry at host: reason" after the last attempt.
        """
        client = self.http(endpoint)
        policy = self.policy if attempts is None else RetryPolicy(
            attempts, self.policy.base, self.policy.max_delay, self.policy.max_total)
        attempt, waited = 0, 0.0
        while True:
            attempt += 1
            try:
                response = client.send(request, stream=True, follow_redirects=follow_redirects)
            except httpx.TransportError as exc:
                delay = None if is_tls_failure(exc) else retry_delay(policy, attempt, waited=waited)
                if delay is None:
                    raise errdefs.Unavailable(
                        f"cannot reach registry at {endpoint.host}: {describe_transport_error(exc)}") from exc
            else:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
                delay = None
                if response.status_code in (408, 429) or response.status_code >= 500:
                    delay = retry_delay(policy, attempt, waited=waited, status=response.status_code,
                                        retry_after=retry_after)
                if delay is None:
                    if not stream:
                        try:
                            response.read()
                        except httpx.TransportError as exc:
                            response.close()
                            raise errdefs.Unavailable(
                                f"cannot reach registry at {endpoint.host}: {describe_transport_error(exc)}") from exc
                    return response
                response.close()
            self._sleep(delay)
            waited += delay

    # ---- endpoint selection ----------------------------------------------------------------

    def ping(self, endpoint: Endpoint, *, attempts: int | None = None) -> list[Challenge]:
        """The auth challenges of `GET /v2/` ([] when it needs none).

        Raises:
            errdefs.Unavailable: unreachable, or not answering like a registry.
        """
        request = self.http(endpoint).build_request("GET", f"{endpoint.base_url}/v2/")
        response = self.send(endpoint, request, attempts=attempts)
        if response.status_code == 401:
            return parse_challenges(", ".join(response.headers.get_list("WWW-Authenticate")))
        if response.status_code != 200:
            # 5xx after retries, or 400/404 from something that is not a registry API (for
            # instance plain HTTP sent to an HTTPS port): not an endpoint to use.
            raise errdefs.Unavailable(
                f"cannot use registry at {endpoint.base_url}: GET /v2/ answered HTTP {response.status_code}")
        return []

    def pick(self, host: str, *, push: bool = False) -> list[tuple[Endpoint, list[Challenge]]]:
        """The endpoints to use for `host`, in order, each with its auth challenges.

        One per registry (mirrors first, for pulls): for a registry that may be reached by
        HTTPS or HTTP, the first that answers. Cached until `forget`.

        Raises:
            errdefs.Unavailable: none of them answers.
        """
        with self._lock:
            cached = self._picked.get((host, push))
        if cached is not None:
            return cached
        candidates = endpoints_for(host, self.config, push=push)
        groups: dict[str, list[Endpoint]] = {}
        for endpoint in candidates:
            groups.setdefault(endpoint.host + ("|mirror" if endpoint.mirror else ""), []).append(endpoint)
        picked: list[tuple[Endpoint, list[Challenge]]] = []
        failures: list[errdefs.StackyardError] = []
        for group in groups.values():
            group_failures = []
            for index, endpoint in enumerate(group):
                last_in_group = index == len(group) - 1
                try:
                    # An HTTPS probe that has an HTTP fallback gets one try: a plain-HTTP
                    # registry fails the handshake at once, and the fallback retries anyway.
                    challenges = self.ping(endpoint, attempts=None if last_in_group else 1)
                except errdefs.Unavailable as exc:
                    group_failures.append(exc)
                    continue
                picked.append((endpoint, challenges))
                break
            else:
                failures.append(group_failures[0] if len(group_failures) == 1 else errdefs.Unavailable(
                    f"cannot reach registry at {group[0].host}: " + "; ".join(
                        f"{e.base_url.partition(':')[0]}: {_reason(f, e)}" for e, f in zip(group, group_failures))))
        if not picked:
            raise failures[-1]
        with self._lock:
            self._picked[(host, push)] = picked
        return picked

    def forget(self, host: str) -> None:
        with self._lock:
            for key in [k for k in self._picked if k[0] == host]:
                del self._picked[key]
