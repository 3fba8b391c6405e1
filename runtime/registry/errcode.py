"""Registry error replies -> errdefs categories: the one place a registry's answer becomes an error.

Called by `client` and `auth` for every non-success reply. Distribution replies carry
`{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "...", "detail": ...}]}` (registry-spec
api.md, "Errors"); the code picks the category, the HTTP status is the fallback when the body
is not that shape (proxies, token servers, HEAD replies without a body).
"""

from __future__ import annotations

import json

from runtime import errdefs

CODE_CATEGORY: dict[str, type[errdefs.StackyardError]] = {
    "BLOB_UNKNOWN": errdefs.NotFound,
    "BLOB_UPLOAD_UNKNOWN": errdefs.NotFound,
    "MANIFEST_UNKNOWN": errdefs.NotFound,
    "NAME_UNKNOWN": errdefs.NotFound,
    "UNAUTHORIZED": errdefs.Unauthenticated,
    "DENIED": errdefs.PermissionDenied,
    "TOOMANYREQUESTS": errdefs.Unavailable,
    "UNAVAILABLE": errdefs.Unavailable,
    "UNSUPPORTED": errdefs.Unsupported,
    "BLOB_UPLOAD_INVALID": errdefs.InvalidArgument,
    "DIGEST_INVALID": errdefs.InvalidArgument,
    "MANIFEST_BLOB_UNKNOWN": errdefs.InvalidArgument,
    "MANIFEST_INVALID": errdefs.InvalidArgument,
    "MANIFEST_UNVERIFIED": errdefs.InvalidArgument,
    "NAME_INVALID": errdefs.InvalidArgument,
    "SIZE_INVALID": errdefs.InvalidArgument,
    "TAG_INVALID": errdefs.InvalidArgument,
    "RANGE_INVALID": errdefs.InvalidArgument,
    "PAGINATION_NUMBER_INVALID": errdefs.InvalidArgument,
}

STATUS_CATEGORY: dict[int, type[errdefs.StackyardError]] = {
    401: errdefs.Unauthenticated,
    403: errdefs.PermissionDenied,
    404: errdefs.NotFound,
    405: errdefs.Unsupported,
    429: errdefs.Unavailable,
    501: errdefs.Unsupported,
}


def parse_errors(body: bytes) -> list[tuple[str, str]]:
    """[(code, message)] from a distribution error body; [] when it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        # Token servers often answer {"details": "..."} or {"error": "..."}.
        if isinstance(data, dict):
            for key in ("details", "detail", "error_description", "error", "message"):
                if isinstance(data.get(key), str) and data[key]:
                    return [("", data[key])]
        return []
    found = []
    for item in errors:
        if isinstance(item, dict):
            found.append((str(item.get("code") or ""), str(item.get("message") or "")))
    return found


def category_for(status: int, codes: list[str]) -> type[errdefs.StackyardError]:
    for code in codes:
        if code in CODE_CATEGORY:
            return CODE_CATEGORY[code]
    if status in STATUS_CATEGORY:
        return STATUS_CATEGORY[status]
    if status >= 500:
        return errdefs.Unavailable
    return errdefs.InvalidArgument


def describe(status: int, errors: list[tuple[str, str]], reason: str = "") -> str:
    """`manifest unknown: manifest unknown` style text, like the docker CLI prints."""
    parts = []
    for code, message in errors:
        label = code.lower().replace("_", " ")
        text = f"{label}: {message}" if label and message and label != message else (message or label)
        if text and text not in parts:
            parts.append(text)
    if parts:
        return "; ".join(parts)
    return f"HTTP {status}" + (f" {reason}" if reason else "")


def error_from_reply(status: int, body: bytes, what: str, reason: str = "") -> errdefs.StackyardError:
    """The categorised error for a failed reply; `what` names registry, repository and object."""
    errors = parse_errors(body)
    cls = category_for(status, [code for code, _ in errors])
    return cls(f"{what}: {describe(status, errors, reason)}")
