"""RegistryClient: the OCI distribution API (pull and push of manifests and blobs, login check).

Called by runtime/images (pull, push), the daemon and `stackyard login`. Every call names the
registry host as written in an image reference ("docker.io" means Docker Hub, mirrors first
for pulls) and the repository; `transport` picks the endpoint and retries, `auth` adds the
Authorization header and answers 401 challenges, `errcode` turns failures into errdefs whose
messages name the registry, repository and manifest reference or blob digest.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from typing import BinaryIO, Callable, Iterable, Iterator

import httpx

from runtime import errdefs
from runtime.registry.auth import Authorizer, CredentialsLookup, basic_header, response_challenges
from runtime.registry.blobs import BlobStream
from runtime.registry.challenge import Challenge, merge_scopes, repository_scope
from runtime.registry.config import RegistryConfig
from runtime.registry.credentials import AuthConfig, get_credentials
from runtime.registry.descriptor import Descriptor, check_digest, compute_digest, is_digest
from runtime.registry.endpoints import Endpoint
from runtime.registry.errcode import error_from_reply
from runtime.registry.transport import Transport
from runtime.registry import upload

DEFAULT_USER_AGENT = "stackyard/0.1"
# Manifests are small; refuse to buffer something pretending to be one (containerd: 4 MiB too).
MAX_MANIFEST_SIZE = 4 * 1024 * 1024

_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


def check_repository(host: str, repository: str) -> None:
    """Raises errdefs.InvalidArgument unless `repository` is a valid name (it goes into URLs)."""
    if not repository or len(repository) > 255 or not _REPOSITORY.match(repository):
        raise errdefs.InvalidArgument(f"registry {host}: invalid repository name {repository!r}")


def check_reference(host: str, repository: str, reference: str) -> None:
    if not (is_digest(reference) or _TAG.match(reference)):
        raise errdefs.InvalidArgument(
            f"registry {host} repository {repository}: invalid tag or digest {reference!r}")


def media_type_of(response: httpx.Response, body: bytes | None = None) -> str:
    """The Content-Type without parameters; the body's `mediaType` when the header is generic."""
    content_type = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip()
    if body and content_type in ("", "application/json", "text/plain", "application/octet-stream"):
        try:
            found = json.loads(body).get("mediaType")
        except (ValueError, AttributeError, UnicodeDecodeError):
            found = None
        if isinstance(found, str) and found:
            return found
    return content_type


class RegistryClient:
    def __init__(self, config: RegistryConfig | None = None, *, user_agent: str = DEFAULT_USER_AGENT,
                 credentials: CredentialsLookup | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """`credentials(host)` overrides the docker config file as the source of logins."""
        self.config = config or RegistryConfig()
        self._transport = Transport(self.config, user_agent=user_agent, sleep=sleep)
        if credentials is None:
            path = self.config.docker_config_path
            credentials = lambda host: get_credentials(host, path)  # noqa: E731 - read per use: login may change it
        self._auth = Authorizer(self._transport, credentials)

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def set_credentials(self, host: str, username: str = "", password: str = "", *,
                        identity_token: str = "") -> None:
        """Use these credentials for `host` (e.g. from a daemon request's X-Registry-Auth)."""
        self._auth.set_credentials(host, AuthConfig(username, password, identity_token, host))

    @property
    def token_requests(self) -> int:
        """Tokens fetched so far by this client (the rest came from its cache)."""
        return self._auth.token_requests

    # ---- the request pipeline --------------------------------------------------------------

    def _send(self, endpoint: Endpoint, challenges: list[Challenge], scopes: tuple[str, ...], method: str,
              target: str, *, headers: dict[str, str] | None, content, stream: bool, follow_redirects: bool,
              replayable: bool, retry: bool = True) -> httpx.Response:
        http = self._transport.http(endpoint)
        url = target if target.startswith(("http://", "https://")) else endpoint.base_url + target
        auth_headers = self._auth.headers(endpoint, challenges, scopes)
        request = http.build_request(method, url, headers={**(headers or {}), **auth_headers}, content=content)
        response = self._transport.send(endpoint, request, stream=stream, follow_redirects=follow_redirects,
                                        attempts=None if replayable and retry else 1)
        if response.status_code != 401 or not replayable:
            return response
        # 401 despite our header: the token expired early, the scope grew, or /v2/ needed no
        # auth but the repository does. Answer this challenge once, with a fresh token.
        fresh = response_challenges(response)
        if not fresh:
            return response
        self._auth.invalidate(endpoint.host, merge_scopes(scopes, *[c.scopes for c in challenges]))
        retry_headers = self._auth.headers(endpoint, fresh, scopes)
        if retry_headers == auth_headers:
            return response
        response.close()
        request = http.build_request(method, url, headers={**(headers or {}), **retry_headers}, content=content)
        return self._transport.send(endpoint, request, stream=stream, follow_redirects=follow_redirects,
                                    attempts=None if retry else 1)

    def _request(self, host: str, repository: str, method: str, target: str, *, actions: tuple[str, ...],
                 push: bool = False, extra_scopes: tuple[str, ...] = (), headers: dict[str, str] | None = None,
                 content=None, stream: bool = False, follow_redirects: bool = False,
                 replayable: bool = True, retry: bool = True,
                 endpoint: Endpoint | None = None) -> tuple[Endpoint, httpx.Response]:
        """The response from the first endpoint that has an answer (mirrors fall through on any failure).

        `replayable`: the body may be sent again (retries, and the answer to a 401 challenge);
        `retry=False`: no transport-level retries (the caller recovers by itself).
        """
        scopes = merge_scopes([repository_scope(repository, actions)], extra_scopes)
        picked = self._transport.pick(host, push=push)
        if endpoint is not None:  # an upload session lives on the endpoint that opened it
            picked = [p for p in picked if p[0] == endpoint] or [(endpoint, [])]
        for index, (candidate, challenges) in enumerate(picked):
            last = index == len(picked) - 1
            try:
                response = self._send(candidate, challenges, scopes, method, target, headers=headers,
                                      content=content, stream=stream, follow_redirects=follow_redirects,
                                      replayable=replayable, retry=retry)
            except errdefs.StackyardError:
                if candidate.mirror and not last:
                    continue
                raise
            if candidate.mirror and not last and response.status_code >= 400:
                response.close()
                continue
            return candidate, response
        raise errdefs.Internal(f"registry {host}: no endpoint to try")  # pick() never returns []

    def _fail(self, response: httpx.Response, what: str, host: str) -> errdefs.StackyardError:
        """The error for a failed reply (body read and closed), with a login hint when we had no credentials."""
        try:
            body = response.read()
        except httpx.TransportError:
            body = b""
        finally:
            response.close()
        error = error_from_reply(response.status_code, body, what, response.reason_phrase)
        if isinstance(error, errdefs.Unauthenticated) and self._auth.credentials_for(host) is None:
            error = errdefs.Unauthenticated(f"{error} (no credentials for {host}: run `stackyard login {host}`)")
        return error

    # ---- pull ----------------------------------------------------------------------------

    def resolve(self, host: str, repository: str, reference: str, accept: list[str]) -> Descriptor:
        """The descriptor a tag or digest points to: HEAD, then GET when HEAD says too little.

        Raises:
            errdefs.NotFound: no such manifest or repository.
            errdefs.Unauthenticated / PermissionDenied / Unavailable / InvalidArgument.
        """
        check_repository(host, repository)
        check_reference(host, repository, reference)
        what = f"registry {host} repository {repository} manifest {reference}"
        _, response = self._request(host, repository, "HEAD", f"/v2/{repository}/manifests/{reference}",
                                    actions=("pull",), headers={"Accept": ", ".join(accept)})
        if response.status_code in (401, 403, 404):
            raise self._fail(response, what, host)
        if response.status_code == 200:
            digest = response.headers.get("Docker-Content-Digest", "")
            length = response.headers.get("Content-Length", "")
            media_type = media_type_of(response)
            if (is_digest(digest) and length.isdigit() and media_type
                    and (not is_digest(reference) or digest == reference)):
                return Descriptor(media_type, digest, int(length))
        descriptor, _ = self.get_manifest(host, repository, reference, accept)
        return descriptor

    def get_manifest(self, host: str, repository: str, reference: str, accept: list[str], *,
                     max_size: int | None = None) -> tuple[Descriptor, bytes]:
        """The manifest (or index) and its descriptor; the digest is checked when `reference` is one.

        `max_size`: the size a descriptor gave for it; reading stops with an error past it (and
        past MAX_MANIFEST_SIZE in any case), so a registry cannot make us hold more.

        Raises:
            errdefs.NotFound, errdefs.InvalidArgument (digest mismatch, oversized), and as `resolve`.
        """
        check_repository(host, repository)
        check_reference(host, repository, reference)
        what = f"registry {host} repository {repository} manifest {reference}"
        _, response = self._request(host, repository, "GET", f"/v2/{repository}/manifests/{reference}",
                                    actions=("pull",), headers={"Accept": ", ".join(accept)}, stream=True)
        if response.status_code != 200:
            raise self._fail(response, what, host)
        limit = MAX_MANIFEST_SIZE if max_size is None else min(max_size, MAX_MANIFEST_SIZE)
        try:
            chunks, total = [], 0
            for data in response.iter_raw(64 * 1024):
                total += len(data)
                if total > limit:
                    raise errdefs.InvalidArgument(f"{what}: manifest larger than {limit} bytes"
                                                  + (" (its descriptor's size)" if limit == max_size else ""))
                chunks.append(data)
        except httpx.TransportError as exc:
            raise errdefs.Unavailable(f"{what}: connection dropped while reading the manifest: {exc}") from exc
        finally:
            response.close()
        body = b"".join(chunks)
        algorithm = reference.partition(":")[0] if is_digest(reference) else "sha256"
        digest = compute_digest(body, algorithm)
        if is_digest(reference) and digest != reference:
            raise errdefs.InvalidArgument(f"{what}: digest mismatch: the manifest received hashes to {digest}")
        return Descriptor(media_type_of(response, body), digest, len(body)), body

    def _open_blob_response(self, host: str, repository: str, digest: str, offset: int) -> httpx.Response:
        what = f"registry {host} repository {repository} blob {digest}"
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        _, response = self._request(host, repository, "GET", f"/v2/{repository}/blobs/{digest}",
                                    actions=("pull",), headers=headers, stream=True, follow_redirects=True)
        if response.status_code in (200, 206) or (offset and response.status_code == 416):
            return response
        raise self._fail(response, what, host)

    @contextlib.contextmanager
    def open_blob(self, host: str, repository: str, digest: str, offset: int = 0) -> Iterator[BlobStream]:
        """A stream of the blob from byte `offset`, resuming by itself when the connection drops.

        The caller checks the digest (DigestVerifier, or blobs.download_blob).

        Raises:
            errdefs.NotFound: no such blob. errdefs.Unavailable: unreachable, or kept dropping.
        """
        check_repository(host, repository)
        check_digest(digest, f"registry {host} repository {repository}")
        where = f"registry {host} repository {repository} blob {digest}"
        stream = BlobStream(lambda at: self._open_blob_response(host, repository, digest, at), offset,
                            where=where, resume_attempts=self.config.resume_attempts)
        try:
            yield stream
        finally:
            stream.close()

    def blob_exists(self, host: str, repository: str, digest: str, *, push: bool = False) -> Descriptor | None:
        """The blob's descriptor if the repository has it, else None.

        Raises:
            errdefs.Unauthenticated / PermissionDenied / Unavailable.
        """
        check_repository(host, repository)
        check_digest(digest, f"registry {host} repository {repository}")
        _, response = self._request(host, repository, "HEAD", f"/v2/{repository}/blobs/{digest}",
                                    actions=("pull", "push") if push else ("pull",), push=push,
                                    follow_redirects=True)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, f"registry {host} repository {repository} blob {digest}", host)
        length = response.headers.get("Content-Length", "")
        return Descriptor("application/octet-stream", digest, int(length) if length.isdigit() else -1)

    # ---- push ----------------------------------------------------------------------------

    def push_blob(self, host: str, repository: str, digest: str, size: int,
                  chunks: Iterable[bytes] | bytes | BinaryIO, *, mount_from: str | None = None,
                  chunked: bool = False) -> None:
        """Upload a blob unless the repository has it; mount it from `mount_from` when possible.

        Monolithic (POST, then PUT ?digest= with the body) or chunked (PATCH with
        Content-Range per chunk, then PUT ?digest=). The registry checks the digest.

        Raises:
            errdefs.InvalidArgument: the registry refused the content (digest or size).
            errdefs.Unauthenticated / PermissionDenied / Unavailable.
        """
        check_repository(host, repository)
        check_digest(digest, f"registry {host} repository {repository}")
        if mount_from is not None:
            check_repository(host, mount_from)
        upload.push_blob(self, host, repository, digest, size, chunks, mount_from=mount_from, chunked=chunked)

    def put_manifest(self, host: str, repository: str, reference: str, media_type: str, body: bytes) -> str:
        """Store a manifest under a tag or digest; returns its digest.

        Raises:
            errdefs.InvalidArgument: the registry refused it (e.g. a blob it names is missing).
            errdefs.Unauthenticated / PermissionDenied / Unavailable.
        """
        check_repository(host, repository)
        check_reference(host, repository, reference)
        what = f"registry {host} repository {repository} manifest {reference}"
        digest = compute_digest(body, reference.partition(":")[0] if is_digest(reference) else "sha256")
        if is_digest(reference) and digest != reference:
            raise errdefs.InvalidArgument(f"{what}: the manifest hashes to {digest}, not to the digest it is pushed as")
        _, response = self._request(host, repository, "PUT", f"/v2/{repository}/manifests/{reference}",
                                    actions=("pull", "push"), push=True, content=body,
                                    headers={"Content-Type": media_type})
        if response.status_code not in (200, 201, 202):
            raise self._fail(response, what, host)
        answered = response.headers.get("Docker-Content-Digest")
        if answered and is_digest(answered) and answered.partition(":")[0] == digest.partition(":")[0] and answered != digest:
            raise errdefs.InvalidArgument(f"{what}: registry stored digest {answered}, we sent {digest}")
        return digest

    # ---- login ---------------------------------------------------------------------------

    def check_login(self, host: str, username: str, password: str) -> None:
        """Check credentials against the registry, the way `docker login` does (GET /v2/).

        Raises:
            errdefs.Unauthenticated: refused, with the registry's (or token server's) message.
            errdefs.Unavailable: unreachable.
        """
        what = f"login to {host}"
        auth = AuthConfig(username, password, "", host)
        for endpoint, challenges in self._transport.pick(host, push=True):  # never a mirror
            by_scheme = {c.scheme: c for c in challenges}
            headers: dict[str, str] = {}
            if "bearer" in by_scheme:
                try:
                    token = self._auth.token(endpoint, by_scheme["bearer"], (), auth, cache=False)
                except errdefs.Unauthenticated as exc:
                    raise errdefs.Unauthenticated(f"{what} failed: {exc}") from exc
                headers["Authorization"] = "Bearer " + token
            elif "basic" in by_scheme:
                headers["Authorization"] = basic_header(username, password)
            else:
                return  # the registry asks for no credentials; docker accepts the login too
            http = self._transport.http(endpoint)
            response = self._transport.send(endpoint, http.build_request(
                "GET", f"{endpoint.base_url}/v2/", headers=headers))
            if response.status_code == 200:
                return
            error = error_from_reply(response.status_code, response.content, f"{what} failed", response.reason_phrase)
            if response.status_code == 401:
                error = errdefs.Unauthenticated(str(error))
            raise error
