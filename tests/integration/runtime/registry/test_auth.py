"""Basic (htpasswd) and token auth against real docker-registry instances.

The token tests run the challenge flow for real: the registry answers 401 with a Bearer
challenge, the client asks the test's token server (tokenserver.py) for a token with the
scopes it needs, and the registry verifies the signed JWT.
"""

import base64
import json
import os
import time

import pytest

from runtime import errdefs
from runtime.registry import RegistryClient
from tests.integration.runtime.registry.helpers import ACCEPT, client_config, digest_of, push_image, tiny_image


def write_docker_config(config, auths: dict[str, tuple[str, str]]) -> None:
    os.makedirs(os.path.dirname(config.docker_config_path), exist_ok=True)
    with open(config.docker_config_path, "w") as handle:
        json.dump({"auths": {host: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()}
                             for host, (u, p) in auths.items()}}, handle)


# ---- Basic auth --------------------------------------------------------------------------

def test_basic_auth_push_and_pull_with_credentials_from_config(tmp_path, basic_registry):
    config = client_config(tmp_path)
    write_docker_config(config, {basic_registry.address: ("alice", "wonderland")})
    image = tiny_image("basic")
    with RegistryClient(config) as client:
        digest = push_image(client, basic_registry.address, "sytest/basic", "v1", image)
        assert client.resolve(basic_registry.address, "sytest/basic", "v1", ACCEPT).digest == digest
        assert client.token_requests == 0  # Basic: no token server involved


def test_basic_auth_without_credentials_is_unauthenticated(tmp_path, basic_registry):
    with RegistryClient(client_config(tmp_path)) as client:
        with pytest.raises(errdefs.Unauthenticated) as caught:
            client.resolve(basic_registry.address, "sytest/basic", "v1", ACCEPT)
    message = str(caught.value)
    assert basic_registry.address in message and "sytest/basic" in message
    assert f"stackyard login {basic_registry.address}" in message


def test_basic_auth_wrong_password_is_refused_with_the_registry_message(tmp_path, basic_registry):
    config = client_config(tmp_path)
    write_docker_config(config, {basic_registry.address: ("alice", "nope")})
    with RegistryClient(config) as client:
        with pytest.raises(errdefs.Unauthenticated, match="authentication required"):
            client.get_manifest(basic_registry.address, "sytest/basic", "v1", ACCEPT)
        client.check_login(basic_registry.address, "bob", "builder")
        with pytest.raises(errdefs.Unauthenticated) as caught:
            client.check_login(basic_registry.address, "bob", "wrong")
    assert str(caught.value).startswith(f"login to {basic_registry.address} failed: unauthorized")


# ---- token auth --------------------------------------------------------------------------

def test_token_anonymous_pull_and_refused_push(tmp_path, token_reg, token_server):
    image = tiny_image("token-anon")
    config = client_config(tmp_path)
    write_docker_config(config, {token_reg.address: ("alice", "wonderland")})
    with RegistryClient(config) as client:
        push_image(client, token_reg.address, "sytest/public", "v1", image)
    with RegistryClient(client_config(tmp_path / "anon")) as anonymous:
        _, body = anonymous.get_manifest(token_reg.address, "sytest/public", "v1", ACCEPT)
        assert body == image.manifest
        assert token_server.tokens_for("sytest/public:pull")[-1]["account"] is None
        with pytest.raises(errdefs.Unauthenticated) as caught:
            anonymous.push_blob(token_reg.address, "sytest/public", digest_of(b"new"), 3, b"new")
    assert "sytest/public" in str(caught.value) and token_reg.address in str(caught.value)
    assert f"run `stackyard login {token_reg.address}`" in str(caught.value)


def test_token_scopes_and_caching(tmp_path, token_reg, token_server):
    config = client_config(tmp_path)
    write_docker_config(config, {token_reg.address: ("alice", "wonderland")})
    image = tiny_image("token-cache", (100, 200, 300))
    before = len(token_server.issued)
    with RegistryClient(config) as client:
        push_image(client, token_reg.address, "sytest/cached", "v1", image)
        # 4 blobs (HEAD, POST, PUT each) and a manifest PUT: one token, scope pull,push.
        assert client.token_requests == 1
        for layer in image.layers:
            with client.open_blob(token_reg.address, "sytest/cached", digest_of(layer)) as stream:
                assert b"".join(stream.iter_bytes()) == layer
        client.get_manifest(token_reg.address, "sytest/cached", "v1", ACCEPT)
        assert client.token_requests == 2  # and one for pull
    issued = token_server.issued[before:]
    assert [t["scopes"] for t in issued] == [["repository:sytest/cached:pull,push"],
                                             ["repository:sytest/cached:pull"]]
    assert all(t["account"] == "alice" for t in issued)


def test_token_pull_only_user_cannot_push(tmp_path, token_reg):
    config = client_config(tmp_path)
    write_docker_config(config, {token_reg.address: ("bob", "builder")})
    with RegistryClient(config) as client:
        with pytest.raises((errdefs.Unauthenticated, errdefs.PermissionDenied)) as caught:
            client.push_blob(token_reg.address, "sytest/bob", digest_of(b"bob"), 3, b"bob")
    assert "sytest/bob" in str(caught.value)


def test_token_wrong_credentials_are_refused(tmp_path, token_reg, token_server):
    config = client_config(tmp_path)
    write_docker_config(config, {token_reg.address: ("alice", "wrong")})
    with RegistryClient(config) as client:
        with pytest.raises(errdefs.Unauthenticated) as caught:
            client.resolve(token_reg.address, "sytest/public", "v1", ACCEPT)
        assert "invalid username or password" in str(caught.value)
        assert token_server.url in str(caught.value)
        client.check_login(token_reg.address, "alice", "wonderland")
        with pytest.raises(errdefs.Unauthenticated, match="invalid username or password"):
            client.check_login(token_reg.address, "alice", "wrong")


def test_token_cross_repository_mount_asks_for_both_scopes(tmp_path, token_reg, token_server):
    config = client_config(tmp_path)
    write_docker_config(config, {token_reg.address: ("alice", "wonderland")})
    image = tiny_image("token-mount")
    layer = image.layers[0]
    with RegistryClient(config) as client:
        push_image(client, token_reg.address, "sytest/src", "v1", image)
        client.push_blob(token_reg.address, "sytest/dst", digest_of(layer), len(layer), iter([]),
                         mount_from="sytest/src")
        assert client.blob_exists(token_reg.address, "sytest/dst", digest_of(layer)) is not None
    scopes = [t["scopes"] for t in token_server.issued]
    assert ["repository:sytest/dst:pull,push", "repository:sytest/src:pull"] in scopes


def test_token_reply_with_access_token_and_refresh_token(tmp_path, token_reg, token_server):
    config = client_config(tmp_path)
    with RegistryClient(config) as client:
        client.set_credentials(token_reg.address, identity_token="refresh-alice")
        push_image(client, token_reg.address, "sytest/refresh", "v1", tiny_image("refresh"))
    assert token_server.tokens_for("sytest/refresh")[-1]["account"] == "alice"
    token_server.token_field = "access_token"
    try:
        with RegistryClient(client_config(tmp_path / "b")) as client:
            client.set_credentials(token_reg.address, "alice", "wonderland")
            assert client.resolve(token_reg.address, "sytest/refresh", "v1", ACCEPT).size > 0
    finally:
        token_server.token_field = "token"


def test_token_is_fetched_again_after_it_expires(tmp_path, token_reg, token_server):
    config = client_config(tmp_path)
    write_docker_config(config, {token_reg.address: ("alice", "wonderland")})
    token_server.expires_in = 2  # cached for 1 s (we refresh before the server's expiry)
    try:
        with RegistryClient(config) as client:
            push_image(client, token_reg.address, "sytest/expiry", "v1", tiny_image("expiry"))
            client.resolve(token_reg.address, "sytest/expiry", "v1", ACCEPT)
            client.resolve(token_reg.address, "sytest/expiry", "v1", ACCEPT)
            assert client.token_requests == 2  # push scope, pull scope; the second resolve is cached
            time.sleep(1.2)
            client.resolve(token_reg.address, "sytest/expiry", "v1", ACCEPT)
            assert client.token_requests == 3
    finally:
        token_server.expires_in = 300
