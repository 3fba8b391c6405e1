"""Digest checks, token replies and Content-Range parsing."""

import hashlib

import pytest

from runtime import errdefs
from runtime.registry.auth import DEFAULT_EXPIRES_IN, parse_token_reply
from runtime.registry.blobs import parse_content_range
from runtime.registry.descriptor import DigestVerifier, check_digest, compute_digest

DATA = b"hello blob"
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


def test_verifier_accepts_the_right_bytes_in_pieces():
    verifier = DigestVerifier(DIGEST, size=len(DATA))
    verifier.update(DATA[:3])
    verifier.update(DATA[3:])
    verifier.verify()


def test_verifier_names_the_blob_on_mismatch():
    verifier = DigestVerifier(DIGEST, where="registry h repository a/b")
    verifier.update(b"hello blub")
    with pytest.raises(errdefs.InvalidArgument, match=f"registry h repository a/b: blob {DIGEST}: digest mismatch"):
        verifier.verify()
    short = DigestVerifier(DIGEST, size=100)
    short.update(DATA)
    with pytest.raises(errdefs.InvalidArgument, match="size mismatch: got 10 bytes, expected 100"):
        short.verify()


def test_digest_syntax():
    assert check_digest(DIGEST, "x") == DIGEST
    assert compute_digest(DATA) == DIGEST
    assert compute_digest(DATA, "sha512").startswith("sha512:")
    for bad in ("sha256:abc", "md5:" + "0" * 32, DIGEST.upper(), "sha256:../../" + "0" * 58):
        with pytest.raises(errdefs.InvalidArgument, match="invalid digest"):
            check_digest(bad, "registry h")


def test_token_reply_fields_and_expiry():
    token = parse_token_reply(b'{"token": "t1", "expires_in": 300}', now=1000.0, where="w")
    assert token.value == "t1" and token.expires_at == 1000.0 + 290
    token = parse_token_reply(b'{"access_token": "t2"}', now=0.0, where="w")
    assert token.value == "t2" and 0 < token.expires_at <= DEFAULT_EXPIRES_IN
    with pytest.raises(errdefs.InvalidArgument, match="neither 'token' nor 'access_token'"):
        parse_token_reply(b'{"expires_in": 3}', now=0, where="w")
    with pytest.raises(errdefs.InvalidArgument, match="not JSON"):
        parse_token_reply(b"<html>", now=0, where="w")


def test_content_range():
    assert parse_content_range("bytes 100-199/1000") == (100, 199, 1000)
    assert parse_content_range("bytes 0-9/*") == (0, 9, None)
    assert parse_content_range("100-199") is None
    assert parse_content_range(None) is None
