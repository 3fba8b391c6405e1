"""The docker config file and credential helpers: read, merge, store, erase, file mode.

Helpers are real programs: the test writes a `docker-credential-<name>` script (its store is
a JSON file next to it) into a temp dir on PATH and the code runs it.
"""

import base64
import json
import os
import stat
import sys

import pytest

from runtime import errdefs
from runtime.registry.credentials import (DOCKER_HUB_KEY, AuthConfig, credentials_key, erase_credentials,
                                          get_credentials, merge_auth_entry, normalize_key, store_credentials)

HELPER = """#!{python}
import json, sys
path = {store!r}
try:
    data = json.load(open(path))
except FileNotFoundError:
    data = {{}}
action = sys.argv[1]
raw = sys.stdin.read()
if action == "get":
    server = raw.strip()
    if server not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({{"ServerURL": server, **data[server]}}))
elif action == "store":
    item = json.loads(raw)
    data[item["ServerURL"]] = {{"Username": item["Username"], "Secret": item["Secret"]}}
    json.dump(data, open(path, "w"))
elif action == "erase":
    server = raw.strip()
    if server not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    del data[server]
    json.dump(data, open(path, "w"))
"""


@pytest.fixture
def helper(tmp_path, monkeypatch):
    """A `docker-credential-sytest` helper on PATH; returns the path of its store."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    store = tmp_path / "helper-store.json"
    script = bindir / "docker-credential-sytest"
    script.write_text(HELPER.format(python=sys.executable, store=str(store)))
    script.chmod(0o755)
    broken = bindir / "docker-credential-broken"
    broken.write_text("#!/bin/sh\necho 'keychain locked' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return store


def auth(user, password):
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_keys_as_docker_writes_them():
    assert credentials_key("docker.io") == DOCKER_HUB_KEY
    assert credentials_key("registry-1.docker.io") == DOCKER_HUB_KEY
    assert credentials_key("127.0.0.1:5000") == "127.0.0.1:5000"
    assert normalize_key("https://127.0.0.1:5000/v1/") == "127.0.0.1:5000"
    assert normalize_key("http://index.docker.io/v1/") == DOCKER_HUB_KEY


def test_get_from_auths_with_any_key_form(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"https://reg.example:5000/v1/": {"auth": auth("u", "p:w")},
                                          DOCKER_HUB_KEY: {"auth": auth("hub", "pw")}}}))
    found = get_credentials("reg.example:5000", str(path))
    assert (found.username, found.password) == ("u", "p:w")
    assert get_credentials("docker.io", str(path)).username == "hub"
    assert get_credentials("other:1", str(path)) is None
    assert get_credentials("x", str(tmp_path / "missing.json")) is None


def test_get_identity_token_entry(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"r:1": {"identitytoken": "refresh-xyz"}}}))
    assert get_credentials("r:1", str(path)).identity_token == "refresh-xyz"


def test_malformed_config_is_a_clear_error(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(errdefs.InvalidArgument, match=f"docker config {path}: not valid JSON"):
        get_credentials("r:1", str(path))
    path.write_text(json.dumps({"auths": {"r:1": {"auth": "!!!"}}}))
    with pytest.raises(errdefs.InvalidArgument, match=r"auths\['r:1'\].auth is not base64"):
        get_credentials("r:1", str(path))


def test_store_writes_0600_atomically_and_keeps_other_keys(tmp_path):
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"auths": {"other:1": {"auth": auth("o", "o")}}, "psFormat": "table {{.ID}}",
                                "currentContext": "ctx"}))
    path.chmod(0o644)
    store_credentials("127.0.0.1:5000", "alice", "secret", str(path))
    data = json.loads(path.read_text())
    assert data["auths"] == {"other:1": {"auth": auth("o", "o")}, "127.0.0.1:5000": {"auth": auth("alice", "secret")}}
    assert data["psFormat"] == "table {{.ID}}" and data["currentContext"] == "ctx"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temp file left
    store_credentials("docker.io", "hub", "pw", str(path))
    assert DOCKER_HUB_KEY in json.loads(path.read_text())["auths"]


def test_store_creates_directory_and_file(tmp_path):
    path = tmp_path / "new" / "config.json"
    store_credentials("r:1", "u", "p", str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert get_credentials("r:1", str(path)) == AuthConfig("u", "p", "", "r:1")


def test_erase_removes_only_that_registry(tmp_path):
    path = tmp_path / "config.json"
    store_credentials("r:1", "u", "p", str(path))
    store_credentials("r:2", "v", "q", str(path))
    assert erase_credentials("r:1", str(path)) is True
    assert list(json.loads(path.read_text())["auths"]) == ["r:2"]
    assert erase_credentials("r:1", str(path)) is False


def test_merge_auth_entry_replaces_equivalent_keys():
    config = {"auths": {"https://r:1/v1/": {"auth": "old"}, "r:2": {}}, "x": 1}
    merged = merge_auth_entry(config, "r:1", {"auth": "new"})
    assert merged == {"auths": {"r:2": {}, "r:1": {"auth": "new"}}, "x": 1}
    assert config["auths"]["https://r:1/v1/"] == {"auth": "old"}  # input untouched
    assert merge_auth_entry(config, "r:2", None)["auths"] == {"https://r:1/v1/": {"auth": "old"}}


def test_creds_store_round_trip(tmp_path, helper):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credsStore": "sytest"}))
    where = store_credentials("r:1", "alice", "s3cret", str(path))
    assert where == "credential helper docker-credential-sytest"
    assert json.loads(helper.read_text()) == {"r:1": {"Username": "alice", "Secret": "s3cret"}}
    data = json.loads(path.read_text())
    assert data == {"credsStore": "sytest", "auths": {"r:1": {}}}  # no secret in the file
    assert get_credentials("r:1", str(path)) == AuthConfig("alice", "s3cret", "", "r:1")
    assert erase_credentials("r:1", str(path)) is True
    assert json.loads(helper.read_text()) == {}
    assert get_credentials("r:1", str(path)) is None


def test_cred_helpers_per_registry_win_over_auths(tmp_path, helper):
    helper.write_text(json.dumps({"r:1": {"Username": "<token>", "Secret": "refresh-1"},
                                  DOCKER_HUB_KEY: {"Username": "hub", "Secret": "pw"}}))
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credHelpers": {"r:1": "sytest", "docker.io": "sytest"},
                                "auths": {"r:1": {"auth": auth("file", "file")}, "r:2": {"auth": auth("two", "2")}}}))
    assert get_credentials("r:1", str(path)).identity_token == "refresh-1"
    assert get_credentials("docker.io", str(path)).username == "hub"
    assert get_credentials("r:2", str(path)).username == "two"  # no helper for r:2: the file


def test_helper_failures_are_reported(tmp_path, helper):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credHelpers": {"r:1": "broken", "r:2": "absent"}}))
    with pytest.raises(errdefs.Unavailable, match="docker-credential-broken get: keychain locked"):
        get_credentials("r:1", str(path))
    with pytest.raises(errdefs.FailedPrecondition, match="docker-credential-absent not found in PATH"):
        get_credentials("r:2", str(path))


def test_auth_config_repr_hides_secrets():
    assert "s3cret" not in repr(AuthConfig("u", "s3cret", "tok"))
