"""Build a service's image with the engine's own builder (`POST /build`), as docker-compose v1.

Called by the executor for a `build-image` operation, with an `engine_spec.BuildRequest`.
Three jobs, each a small function:
* `context_chunks`: the build context as a streamed tar, honouring `.dockerignore`
  (`orchestrator.dockerignore`, Docker's rules); the Dockerfile and `.dockerignore` are always
  sent, a Dockerfile outside the context or given inline (`dockerfile_inline`) is added under
  a generated name, owners are written as 0:0 as the docker CLI does;
* `build_image`: send it with the query parameters, decode the JSON-lines answer (`stream`
  lines, `status` lines of a base image pull, `aux.ID`, `errorDetail`) into progress lines and
  return the image id; a failure names the service, the failing step and the engine's message;
* `registry_config`: the X-Registry-Config credentials, from `auths` in the docker config
  (credential helpers are not run for builds: they would be asked for every registry).
The engine builds; nothing here interprets a Dockerfile.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
import tarfile
from typing import Callable, Iterator, Mapping

from orchestrator import dockerignore
from orchestrator.engine_spec import BuildRequest
from runtime import errdefs

_CHUNK = 1 << 20
_BLOCK = tarfile.BLOCKSIZE
_STEP = re.compile(r"^Step (\d+/\d+) : (.*)$")
_SUCCESS = re.compile(r"^Successfully built ([0-9a-f]+)$")
UNSUPPORTED_MESSAGE = ("the stackyard engine cannot build images yet; build with --engine docker "
                       "or give the service an image")


class BuildFailed(errdefs.FailedPrecondition):
    """The engine could not build the image (a step failed, the Dockerfile is invalid...)."""


# ---- the context ----------------------------------------------------------------------------

def inline_dockerfile_name(text: str) -> str:
    """The name an inline (or out-of-context) Dockerfile gets in the context tar; stable for
    the same text, so the builder's cache still applies."""
    return ".stackyard.Dockerfile." + hashlib.sha256(text.encode()).hexdigest()[:12]


def dockerfile_in_context(request: BuildRequest) -> tuple[str, bytes | None]:
    """(the Dockerfile's path inside the tar, its bytes when it must be added by us).

    Raises:
        errdefs.InvalidArgument: the context directory or the Dockerfile does not exist.
    """
    where = f'service "{request.service}"'
    if not os.path.isdir(request.context):
        raise errdefs.InvalidArgument(f"{where}: build context {request.context} is not a directory")
    if request.dockerfile_inline is not None:
        text = request.dockerfile_inline
        return inline_dockerfile_name(text), text.encode()
    name = request.dockerfile or "Dockerfile"
    path = name if os.path.isabs(name) else os.path.join(request.context, name)
    path = os.path.normpath(path)
    if not os.path.isfile(path):
        raise errdefs.InvalidArgument(f"{where}: Dockerfile {path} does not exist")
    relative = os.path.relpath(path, request.context)
    if relative.startswith(".." + os.sep) or relative == "..":
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise errdefs.PermissionDenied(f"{where}: cannot read Dockerfile {path}: {exc.strerror}") from None
        return inline_dockerfile_name(data.decode("utf-8", "replace")), data
    return relative.replace(os.sep, "/"), None


def context_matcher(context: str, dockerfile: str) -> dockerignore.Matcher:
    """The context's `.dockerignore` rules, with the Dockerfile and `.dockerignore` kept (as
    the docker CLI adds `!Dockerfile` and `!.dockerignore` when a pattern would drop them).

    Raises:
        errdefs.InvalidArgument: an invalid pattern.
    """
    try:
        with open(os.path.join(context, ".dockerignore"), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise errdefs.PermissionDenied(f"cannot read {context}/.dockerignore: {exc.strerror}") from None
    try:
        patterns = dockerignore.parse(text)
    except ValueError as exc:
        raise errdefs.InvalidArgument(f"{context}/{exc}") from None
    keep = dockerignore.parse(f"!{dockerfile}\n!.dockerignore\n")
    return dockerignore.Matcher(patterns + keep)


def context_entries(context: str, matcher: dockerignore.Matcher) -> Iterator[tuple[str, str]]:
    """(path in the tar, path on disk) of every entry sent, in a stable (sorted) order.

    A directory that is excluded is not descended into unless a `!` pattern may re-include
    something in it (Docker's rule); its own entry is then left out, only what is included
    is sent.
    """
    def walk(directory: str, prefix: str) -> Iterator[tuple[str, str]]:
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            raise errdefs.PermissionDenied(f"cannot list {directory} (build context): {exc.strerror}") from None
        for name in names:
            path = os.path.join(directory, name)
            relative = f"{prefix}{name}"
            excluded = matcher.excluded(relative)
            is_dir = os.path.isdir(path) and not os.path.islink(path)
            if is_dir:
                if not excluded:
                    yield relative, path
                if not excluded or matcher.can_include_below(relative):
                    yield from walk(path, relative + "/")
            elif not excluded:
                yield relative, path

    yield from walk(context, "")


def context_chunks(request: BuildRequest) -> tuple[Iterator[bytes], str]:
    """(the context tar as chunks, the Dockerfile's name in it). The tar is produced while it
    is sent, a file at a time in 1 MiB reads, so a large context is never held in memory.

    Raises (the checks run before any chunk is produced):
        errdefs.InvalidArgument: missing context or Dockerfile, invalid .dockerignore.
    """
    dockerfile, extra = dockerfile_in_context(request)
    matcher = context_matcher(request.context, dockerfile)
    return _tar(request.context, matcher, dockerfile if extra is not None else None, extra), dockerfile


def _tar(context: str, matcher: dockerignore.Matcher, extra_name: str | None,
         extra_data: bytes | None) -> Iterator[bytes]:
    for name, path in context_entries(context, matcher):
        yield from _entry(name, path)
    if extra_name is not None and extra_data is not None:
        info = tarfile.TarInfo(extra_name)
        info.size, info.mode = len(extra_data), 0o644
        yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        yield extra_data + _padding(len(extra_data))
    yield b"\0" * (2 * _BLOCK)


def _entry(name: str, path: str) -> Iterator[bytes]:
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise errdefs.PermissionDenied(f"cannot stat {path} (build context): {exc.strerror}") from None
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.uid = info.gid = 0          # as the docker CLI sends a context
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
    else:
        return  # sockets, fifos, devices: the docker CLI skips them too
    yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    if info.type != tarfile.REGTYPE or not info.size:
        return
    sent = 0
    try:
        with open(path, "rb") as handle:
            while sent < info.size:
                chunk = handle.read(min(_CHUNK, info.size - sent))
                if not chunk:
                    break
                sent += len(chunk)
                yield chunk
    except OSError as exc:
        raise errdefs.PermissionDenied(f"cannot read {path} (build context): {exc.strerror}") from None
    if sent != info.size:
        raise errdefs.FailedPrecondition(f"{path} changed size while the build context was sent")
    yield _padding(info.size)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


# ---- credentials ------------------------------------------------------------------------------

def registry_config(environ: Mapping[str, str] | None = None) -> dict | None:
    """X-Registry-Config: `{registry: {username, password, serveraddress}}` of every `auths`
    entry with stored credentials in `$DOCKER_CONFIG/config.json` (else `~/.docker/`)."""
    from orchestrator.engine.auth import read_config

    config = read_config(os.environ if environ is None else environ)
    if config is None:
        return None
    out = {}
    for registry, entry in (config.get("auths") or {}).items():
        if not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            out[registry] = {"username": user, "password": password, "serveraddress": registry}
        elif entry.get("identitytoken"):
            out[registry] = {"identitytoken": entry["identitytoken"], "serveraddress": registry}
    return out or None


# ---- the build --------------------------------------------------------------------------------

def build_params(request: BuildRequest, dockerfile: str | None) -> dict:
    params = dict(request.params)
    params["t"] = [request.tag, *request.extra_tags]
    if request.remote:
        params["remote"] = request.context
        if request.dockerfile:
            params["dockerfile"] = request.dockerfile
    elif dockerfile:
        params["dockerfile"] = dockerfile
    return params


def build_image(client, request: BuildRequest, *, on_line: Callable[[str], None] = lambda _line: None) -> str:
    """Build `request` on the engine behind `client` (an `EngineClient`); `on_line` receives
    each progress line. Returns the id of the built image (tagged `request.tag` and its
    `extra_tags`).

    Raises:
        BuildFailed: the engine reported an error (names the service and the failing step).
        errdefs.Unsupported: the engine has no builder (the stackyard engine answers 501).
        errdefs.InvalidArgument / PermissionDenied: the context cannot be read.
        errdefs.Unavailable: the engine cannot be reached.
    """
    where = f'building service "{request.service}"'
    if request.remote:
        chunks, dockerfile = None, None
    else:
        chunks, dockerfile = context_chunks(request)
    try:
        with client.build_image(chunks, params=build_params(request, dockerfile),
                                registry_config=request.registry_config) as stream:
            image_id = decode_build_stream(stream, request.service, on_line)
        if image_id is None or len(image_id) < 64:  # an engine that names no full id
            image_id = client.inspect_image(request.tag).get("Id", "")
    except BuildFailed:
        raise
    except errdefs.Unsupported as exc:
        raise errdefs.Unsupported(f"{where}: {UNSUPPORTED_MESSAGE} (the engine said: {exc})") from None
    except (errdefs.InvalidArgument, errdefs.Internal, errdefs.NotFound) as exc:
        # The engine refused the request itself (no such Dockerfile in the context, a bad
        # parameter): as much a failed build as a failing step.
        raise BuildFailed(f"{where} failed: {exc}") from None
    except errdefs.StackyardError as exc:
        # Reading the context or the connection failed: same category, naming the service.
        raise type(exc)(f"{where} failed: {exc}") from exc
    return image_id


def decode_build_stream(messages, service: str, on_line: Callable[[str], None]) -> str | None:
    """Progress lines of a `/build` answer to `on_line`; the image id (`aux.ID`, else the short
    id of `Successfully built`), or None when the stream never said.

    Raises:
        BuildFailed: an error message, naming the step that was running.
    """
    step: str | None = None
    image_id: str | None = None
    for message in messages:
        error = _error_of(message)
        if error is not None:
            at = f" at step {step}" if step else ""
            raise BuildFailed(f'building service "{service}" failed{at}: {error}')
        aux = message.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            image_id = aux["ID"]
        text = message.get("stream")
        if isinstance(text, str):
            for line in text.splitlines():
                line = line.rstrip()
                if not line:
                    continue
                found = _STEP.match(line)
                if found:
                    step = f"{found.group(1)} ({found.group(2)})"
                built = _SUCCESS.match(line)
                if built and image_id is None:
                    image_id = built.group(1)
                on_line(line)
        elif message.get("status"):
            on_line(" ".join(str(message[k]) for k in ("id", "status", "progress") if message.get(k)))
    return image_id


def _error_of(message: dict) -> str | None:
    detail = message.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"]).strip()
    if message.get("error"):
        return str(message["error"]).strip()
    return None
