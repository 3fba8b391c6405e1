"""Maps `METHOD /v1.xx/path` to handlers; versioned and unversioned paths; API version negotiation.

Called by `app`. Routes are registered with `{name}` placeholders (a name may contain `/` only
when written `{name:path}`, as image names do: `/images/{name:path}/json`). A version prefix
outside [MIN_API_VERSION, API_VERSION] is refused as Docker refuses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from runtime import errdefs
from runtime.daemon.http import Handler, Request

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"

_VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)(/.*)$")


def parse_version(text: str) -> tuple[int, int]:
    major, minor = text.split(".", 1)
    return int(major), int(minor)


def split_version(path: str) -> tuple[Optional[str], str]:
    """'/v1.41/containers/json' -> ('1.41', '/containers/json'); unversioned -> (None, path)."""
    match = _VERSION_PREFIX.match(path)
    if match:
        return match.group(1), match.group(2)
    return None, path


def check_version(version: Optional[str]) -> str:
    if version is None:
        return API_VERSION
    number = parse_version(version)
    if number > parse_version(API_VERSION):
        raise errdefs.InvalidArgument(
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}")
    if number < parse_version(MIN_API_VERSION):
        raise errdefs.InvalidArgument(
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version")
    return version


def _compile(pattern: str) -> re.Pattern[str]:
    regex = "^"
    for part in re.split(r"(\{[^}]+\})", pattern):
        if part.startswith("{"):
            name, _, kind = part[1:-1].partition(":")
            regex += f"(?P<{name}>.+)" if kind == "path" else f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(regex + "$")


MAX_NAME_BYTES = 255  # an id or name becomes a file name (NAME_MAX)
MAX_PATH_PARAM_BYTES = 1024  # an image reference (repository, tag, digest) stays far below this


def check_param(name: str, value: str, *, path: bool = False) -> str:
    """A path parameter (an id, a name, an image reference) that could never name anything is a
    400 here, before a runtime part joins it into a file path ('..', NUL, longer than any name)."""
    if value in (".", "..") or "\x00" in value \
            or len(value.encode()) > (MAX_PATH_PARAM_BYTES if path else MAX_NAME_BYTES) \
            or any(part in (".", "..") for part in value.split("/")):
        raise errdefs.InvalidArgument(f"invalid {name} in path: {value[:80]!r}")
    return value


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler: Handler
    path_params: frozenset[str] = frozenset()  # written {name:path}: may contain '/'


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        path_params = frozenset(re.findall(r"\{(\w+):path\}", pattern))
        self.routes.append(Route(method.upper(), pattern, _compile(pattern), handler, path_params))

    def resolve(self, request: Request) -> Handler:
        version, path = split_version(request.path)
        request.api_version = check_version(version)
        request.path = path
        for key, values in request.query.items():
            if "\x00" in key or any("\x00" in value for value in values):
                # No name, path or option may hold a NUL; left in, it fails deep in an os call.
                raise errdefs.InvalidArgument(f"invalid query parameter {key!r}: contains a NUL byte")
        allowed = False
        for route in self.routes:
            match = route.regex.match(path)
            if not match:
                continue
            method = request.method
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                request.params = {key: check_param(key, value, path=key in route.path_params)
                                  for key, value in match.groupdict().items()}
                return route.handler
            allowed = True
        if allowed:
            raise MethodNotAllowed(f"method {request.method} is not allowed on {path}")
        raise errdefs.NotFound(f"page not found: {request.method} {path}")


class MethodNotAllowed(errdefs.InvalidArgument):
    """405: the path exists, the method does not."""
