"""Registry credentials from the docker CLI's config: auths, credsStore, credHelpers."""

import base64
import json
import os
import stat

from orchestrator.engine.auth import DOCKER_HUB, auth_for, registry_of


def test_registry_of_references():
    assert registry_of("nginx") == DOCKER_HUB
    assert registry_of("library/nginx:1") == DOCKER_HUB
    assert registry_of("127.0.0.1:5000/app:1") == "127.0.0.1:5000"
    assert registry_of("ghcr.io/org/app") == "ghcr.io"
    assert registry_of("localhost/app") == "localhost"


def _config(tmp_path, data):
    (tmp_path / "config.json").write_text(json.dumps(data))
    return {"DOCKER_CONFIG": str(tmp_path), "PATH": f"{tmp_path}:/usr/bin:/bin"}


def test_auth_from_auths_entry(tmp_path):
    token = base64.b64encode(b"alice:s3cret").decode()
    env = _config(tmp_path, {"auths": {"reg.example.test": {"auth": token}}})
    assert auth_for("reg.example.test/app:1", env) == {
        "username": "alice", "password": "s3cret", "serveraddress": "reg.example.test"}
    assert auth_for("other.example.test/app", env) is None


def test_auth_from_a_credential_helper(tmp_path):
    helper = tmp_path / "docker-credential-fake"
    helper.write_text('#!/bin/sh\nread registry\n'
                      'printf \'{"ServerURL":"%s","Username":"bob","Secret":"pw-%s"}\' "$registry" "$registry"\n')
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    env = _config(tmp_path, {"credHelpers": {"127.0.0.1:5000": "fake"}})
    assert auth_for("127.0.0.1:5000/app", env) == {
        "username": "bob", "password": "pw-127.0.0.1:5000", "serveraddress": "127.0.0.1:5000"}
    env = _config(tmp_path, {"credsStore": "fake"})
    assert auth_for("nginx", env)["password"] == f"pw-{DOCKER_HUB}"


def test_missing_or_broken_config_means_anonymous(tmp_path):
    assert auth_for("nginx", {"DOCKER_CONFIG": str(tmp_path)}) is None
    (tmp_path / "config.json").write_text("{not json")
    assert auth_for("nginx", {"DOCKER_CONFIG": str(tmp_path)}) is None
    assert os.path.exists(tmp_path / "config.json")
