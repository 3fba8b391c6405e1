"""Authorization headers for registry requests: Bearer tokens from the challenge, or Basic.

Called by `client` before each request and again after a 401. For a Bearer challenge it asks
the challenge's realm for a token (`GET realm?service=…&scope=…`, with Basic credentials when
we have some, anonymously otherwise; `POST` with the refresh token when the credentials are
an identity token), and caches tokens per (registry, scopes) until shortly before they
expire. For a Basic challenge it sends the credentials. Registry-spec auth/token.md.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from typing import Callable

import httpx

from runtime import errdefs
from runtime.registry.challenge import Challenge, merge_scopes, parse_challenges
from runtime.registry.credentials import AuthConfig, credentials_key
from runtime.registry.endpoints import Endpoint, realm_endpoint
from runtime.registry.errcode import describe, parse_errors
from runtime.registry.transport import Transport

# Token lifetime when the server does not say (token.md: "defaults to 60 seconds").
DEFAULT_EXPIRES_IN = 60
# Refresh this long before the server's expiry, so a token never dies in flight.
EXPIRY_MARGIN = 10
CLIENT_ID = "stackyard"

CredentialsLookup = Callable[[str], "AuthConfig | None"]


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float          # time.monotonic() deadline


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def parse_token_reply(body: bytes, now: float, where: str) -> Token:
    """The token of a token-server reply (`token` or `access_token`) and its monotonic deadline.

    Raises:
        errdefs.InvalidArgument: no token in the reply.
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errdefs.InvalidArgument(f"{where}: token reply is not JSON") from exc
    if not isinstance(data, dict):
        raise errdefs.InvalidArgument(f"{where}: token reply is not a JSON object")
    value = data.get("token") or data.get("access_token")
    if not isinstance(value, str) or not value:
        raise errdefs.InvalidArgument(f"{where}: token reply has neither 'token' nor 'access_token'")
    expires_in = data.get("expires_in")
    if not isinstance(expires_in, (int, float)) or expires_in <= 0:
        expires_in = DEFAULT_EXPIRES_IN
    return Token(value, now + max(1.0, expires_in - min(EXPIRY_MARGIN, expires_in / 2)))


def token_query(challenge: Challenge, scopes: tuple[str, ...], username: str) -> list[tuple[str, str]]:
    params = []
    if challenge.service:
        params.append(("service", challenge.service))
    params += [("scope", scope) for scope in scopes]
    if username:
        params.append(("account", username))
    return params


class Authorizer:
    def __init__(self, transport: Transport, credentials: CredentialsLookup) -> None:
        self.transport = transport
        self.credentials = credentials
        self._tokens: dict[tuple[str, tuple[str, ...]], Token] = {}
        self._overrides: dict[str, AuthConfig] = {}
        self._lock = threading.Lock()
        self.token_requests = 0  # how many tokens we fetched (observability; tests read it)

    def set_credentials(self, host: str, auth: AuthConfig | None) -> None:
        """Use these credentials for `host` instead of the config file (None: back to the file)."""
        with self._lock:
            # Keyed like the config file, so "docker.io" also covers registry-1.docker.io.
            if auth is None:
                self._overrides.pop(credentials_key(host), None)
            else:
                self._overrides[credentials_key(host)] = auth
            self._tokens.clear()  # tokens were granted to the old identity (rare: cheap to refetch)

    def credentials_for(self, host: str) -> AuthConfig | None:
        with self._lock:
            found = self._overrides.get(credentials_key(host))
        return found if found is not None else self.credentials(host)

    def invalidate(self, host: str, scopes: tuple[str, ...]) -> None:
        with self._lock:
            self._tokens.pop((host, scopes), None)

    def headers(self, endpoint: Endpoint, challenges: list[Challenge], scopes: tuple[str, ...]) -> dict[str, str]:
        """The Authorization header for a request needing `scopes` ({} when none is needed).

        Raises:
            errdefs.Unauthenticated: the token server refused the credentials.
            errdefs.Unavailable: the token server cannot be reached.
        """
        by_scheme = {c.scheme: c for c in challenges}
        if "bearer" in by_scheme:
            return {"Authorization": "Bearer " + self.token(endpoint, by_scheme["bearer"], scopes)}
        if "basic" in by_scheme:
            auth = self.credentials_for(endpoint.host)
            if auth is not None and auth.username:
                return {"Authorization": basic_header(auth.username, auth.password)}
        return {}

    def token(self, endpoint: Endpoint, challenge: Challenge, scopes: tuple[str, ...],
              auth: AuthConfig | None = None, *, cache: bool = True) -> str:
        """A Bearer token for `scopes`, from the cache or the challenge's realm."""
        scopes = merge_scopes(scopes, challenge.scopes)
        key = (endpoint.host, scopes)
        now = time.monotonic()
        if cache:
            with self._lock:
                cached = self._tokens.get(key)
            if cached is not None and cached.expires_at > now:
                return cached.value
        if auth is None:
            auth = self.credentials_for(endpoint.host)
        token = self._fetch(endpoint, challenge, scopes, auth)
        if cache:
            with self._lock:
                self._tokens[key] = token
        return token.value

    def _fetch(self, endpoint: Endpoint, challenge: Challenge, scopes: tuple[str, ...],
               auth: AuthConfig | None) -> Token:
        realm = challenge.realm
        where = f"token server {realm or '?'} for registry {endpoint.host}"
        try:
            # The token server has its own connection pool and TLS rules (its host, not the registry's).
            token_endpoint = realm_endpoint(realm, self.transport.config)
        except errdefs.InvalidArgument as exc:
            raise errdefs.InvalidArgument(f"registry {endpoint.host}: Bearer challenge without a usable realm: {exc}") from exc
        http = self.transport.http(token_endpoint)
        if auth is not None and auth.identity_token:
            # OAuth2 refresh-token grant (token.md "Using the refresh token").
            form = {"grant_type": "refresh_token", "refresh_token": auth.identity_token,
                    "client_id": CLIENT_ID, "service": challenge.service, "scope": " ".join(scopes)}
            request = http.build_request("POST", realm, data=form)
        else:
            headers = {}
            username = ""
            if auth is not None and auth.username:
                username = auth.username
                headers["Authorization"] = basic_header(auth.username, auth.password)
            request = http.build_request("GET", realm, params=token_query(challenge, scopes, username),
                                         headers=headers)
        with self._lock:
            self.token_requests += 1
        try:
            response = self.transport.send(token_endpoint, request)
        except errdefs.Unavailable as exc:
            raise errdefs.Unavailable(f"{where}: {exc}") from exc
        if response.status_code in (401, 403):
            message = describe(response.status_code, parse_errors(response.content), response.reason_phrase)
            raise errdefs.Unauthenticated(f"{where} refused the credentials"
                                          f"{' of ' + auth.username if auth and auth.username else ''}: {message}")
        if response.status_code != 200:
            message = describe(response.status_code, parse_errors(response.content), response.reason_phrase)
            cls = errdefs.Unavailable if response.status_code >= 500 else errdefs.InvalidArgument
            raise cls(f"{where}: {message}")
        return parse_token_reply(response.content, time.monotonic(), where)


def response_challenges(response: httpx.Response) -> list[Challenge]:
    return parse_challenges(", ".join(response.headers.get_list("WWW-Authenticate")))
