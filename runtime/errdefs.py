"""Error categories shared by the built-in daemon and the Engine API client.

Leaf module: imports nothing from the project. The daemon raises these and maps them to HTTP
statuses with `HTTP_STATUS`; the client maps statuses back with `from_http_status`. One table,
used by both sides, so a category never changes meaning across the wire.
"""

from __future__ import annotations

import errno


class StackyardError(Exception):
    """Base of every categorised error."""

    retryable = False


class InvalidArgument(StackyardError):
    """The request or input is malformed."""


class NotFound(StackyardError):
    """The named object does not exist."""


class AlreadyExists(StackyardError):
    """An object with that name or id already exists."""


class Conflict(StackyardError):
    """The object is in a state that conflicts with the request."""


class FailedPrecondition(StackyardError):
    """The system is not in the state the request needs."""


class NotModified(StackyardError):
    """Nothing to do: the object is already in the requested state."""


class Unauthenticated(StackyardError):
    """Credentials are missing or were refused."""


class PermissionDenied(StackyardError):
    """The caller may not do this."""


class Unavailable(StackyardError):
    """A dependency is unreachable for now; retrying may help."""

    retryable = True


class Unsupported(StackyardError):
    """The feature is not implemented."""


class Internal(StackyardError):
    """A bug or an unexpected failure."""


# The one table of category -> HTTP status, used by the daemon (to answer) and the client (to read).
HTTP_STATUS: dict[type[StackyardError], int] = {
    InvalidArgument: 400,
    Unauthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    AlreadyExists: 409,
    Conflict: 409,
    FailedPrecondition: 412,
    NotModified: 304,
    Internal: 500,
    Unsupported: 501,
    Unavailable: 503,
}

_FROM_STATUS: dict[int, type[StackyardError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    412: FailedPrecondition,
    304: NotModified,
    500: Internal,
    501: Unsupported,
    503: Unavailable,
}


def http_status(error: StackyardError) -> int:
    """HTTP status for a categorised error (500 for anything not in the table)."""
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]  # type: ignore[index]
    return 500


def from_http_status(status: int, message: str) -> StackyardError:
    """The category an HTTP error status stands for, carrying the server's message."""
    if status in _FROM_STATUS:
        return _FROM_STATUS[status](message)
    if 400 <= status < 500:
        return InvalidArgument(message)
    return Internal(message)


_ERRNO: dict[int, type[StackyardError]] = {
    errno.ENOENT: NotFound,
    errno.EEXIST: AlreadyExists,
    errno.EACCES: PermissionDenied,
    errno.EPERM: PermissionDenied,
    errno.EBUSY: Conflict,
    errno.EINVAL: InvalidArgument,
    errno.ENOTDIR: InvalidArgument,
    errno.EISDIR: InvalidArgument,
    errno.ENOSYS: Unsupported,
    errno.EOPNOTSUPP: Unsupported,
    errno.EAGAIN: Unavailable,
}


def from_oserror(exc: OSError, what: str) -> StackyardError:
    """Map an OSError to its category; `what` names the object, e.g. "file ./a.env"."""
    cls = _ERRNO.get(exc.errno or 0, Internal)
    return cls(f"{what}: {exc.strerror or exc}")
