"""Registry error replies become errdefs categories with the registry's message."""

import json

from runtime import errdefs
from runtime.registry.errcode import error_from_reply, parse_errors


def body(*errors):
    return json.dumps({"errors": [{"code": c, "message": m, "detail": None} for c, m in errors]}).encode()


def test_codes_pick_the_category():
    cases = {"MANIFEST_UNKNOWN": errdefs.NotFound, "BLOB_UNKNOWN": errdefs.NotFound,
             "NAME_UNKNOWN": errdefs.NotFound, "UNAUTHORIZED": errdefs.Unauthenticated,
             "DENIED": errdefs.PermissionDenied, "DIGEST_INVALID": errdefs.InvalidArgument,
             "TOOMANYREQUESTS": errdefs.Unavailable, "UNSUPPORTED": errdefs.Unsupported}
    for code, cls in cases.items():
        assert type(error_from_reply(400, body((code, "m")), "registry r")) is cls, code


def test_message_names_what_and_carries_the_registry_text():
    error = error_from_reply(404, body(("MANIFEST_UNKNOWN", "manifest unknown")), "registry h:5000 repository a/b manifest v1")
    assert str(error) == "registry h:5000 repository a/b manifest v1: manifest unknown"
    error = error_from_reply(401, body(("UNAUTHORIZED", "authentication required")), "registry h")
    assert str(error) == "registry h: unauthorized: authentication required"


def test_status_is_the_fallback_without_a_distribution_body():
    assert type(error_from_reply(404, b"", "x")) is errdefs.NotFound
    assert type(error_from_reply(403, b"<html>", "x")) is errdefs.PermissionDenied
    assert type(error_from_reply(502, b"bad gateway", "x")) is errdefs.Unavailable
    assert type(error_from_reply(418, b"", "x")) is errdefs.InvalidArgument
    assert str(error_from_reply(502, b"", "x", "Bad Gateway")) == "x: HTTP 502 Bad Gateway"


def test_token_server_shapes():
    assert parse_errors(b'{"details": "incorrect username or password"}') == [("", "incorrect username or password")]
    assert parse_errors(b'{"error": "invalid_grant"}') == [("", "invalid_grant")]
    assert parse_errors(b"[1, 2]") == []
    assert parse_errors(b"\xff") == []
