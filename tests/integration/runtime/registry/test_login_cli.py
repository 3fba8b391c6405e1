"""`stackyard login` / `stackyard logout` through the console script, against the htpasswd registry."""

import base64
import json
import os
import shutil
import socket
import stat
import subprocess
import sys

import pytest

from tests.integration.runtime.registry.conftest import USERS


@pytest.fixture
def run(tmp_path):
    if shutil.which("stackyard") is None:
        pytest.skip("needs the stackyard console script (pip install -e .)")
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker"), "HOME": str(tmp_path)}

    def run(*args, stdin="", path=None):
        return subprocess.run(["stackyard", *args], input=stdin, capture_output=True, text=True,
                              env={**env, "PATH": path or env["PATH"]}, timeout=60)

    return run


def config_file(tmp_path):
    return tmp_path / "docker" / "config.json"


def test_login_stores_checked_credentials_0600_and_logout_removes_them(tmp_path, run, basic_registry):
    host = basic_registry.address
    done = run("login", host, "-u", "alice", "--password-stdin", stdin="wonderland\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Login Succeeded\n"
    path = config_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data == {"auths": {host: {"auth": base64.b64encode(b"alice:wonderland").decode()}}}

    # A second login (another user, -p with its warning) replaces the entry; other keys stay.
    data["psFormat"] = "table"
    path.write_text(json.dumps(data))
    done = run("login", f"https://{host}/v1/", "-u", "bob", "-p", USERS["bob"])
    assert done.returncode == 0, done.stderr
    assert "WARNING! Using --password via the CLI is insecure" in done.stderr
    data = json.loads(path.read_text())
    assert data["auths"] == {host: {"auth": base64.b64encode(b"bob:builder").decode()}}
    assert data["psFormat"] == "table"

    done = run("logout", host)
    assert (done.returncode, done.stdout) == (0, f"Removing login credentials for {host}\n")
    assert json.loads(path.read_text()) == {"auths": {}, "psFormat": "table"}
    done = run("logout", host)
    assert (done.returncode, done.stdout) == (0, f"Not logged in to {host}\n")


HELPER = """#!{python}
import json, sys
store = {store!r}
action, raw = sys.argv[1], sys.stdin.read()
if action == "store":
    json.dump(json.loads(raw), open(store, "w"))
"""


def test_login_with_a_creds_store_keeps_the_secret_out_of_the_file(tmp_path, run, basic_registry):
    host = basic_registry.address
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-sytest"
    helper.write_text(HELPER.format(python=sys.executable, store=str(tmp_path / "store.json")))
    helper.chmod(0o755)
    path = config_file(tmp_path)
    path.parent.mkdir()
    path.write_text(json.dumps({"credsStore": "sytest"}))
    done = run("login", host, "-u", "alice", "--password-stdin", stdin="wonderland",
               path=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "store.json").read_text()) == {"ServerURL": host, "Username": "alice",
                                                                 "Secret": "wonderland"}
    assert json.loads(path.read_text()) == {"credsStore": "sytest", "auths": {host: {}}}


def test_login_wrong_password_exits_1_with_the_registry_message_and_writes_nothing(tmp_path, run, basic_registry):
    host = basic_registry.address
    done = run("login", host, "-u", "alice", "--password-stdin", stdin="not-the-password\n")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"stackyard login: login to {host} failed: unauthorized: authentication required\n"
    assert not config_file(tmp_path).exists()
    assert not (tmp_path / "docker").exists() or list((tmp_path / "docker").iterdir()) == []


def test_login_bad_input_exits_2(tmp_path, run, basic_registry):
    host = basic_registry.address
    cases = [
        (["login", host, "--password-stdin"], "--password-stdin needs --username"),
        (["login", host, "-u", "alice", "-p", "x", "--password-stdin"], "mutually exclusive"),
        (["login", host, "-u", "alice"], "a password is required"),
        (["login", host, "-u", "alice", "--password-stdin"], "the password is empty"),
        (["login", "ftp://" + host, "-u", "alice", "-p", "x"], "unsupported scheme 'ftp'"),
        (["login", "host:port", "-u", "alice", "-p", "x"], "invalid port 'port'"),
    ]
    for args, expected in cases:
        done = run(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert expected in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) in (1, 2)  # the -p warning may precede it
    assert not config_file(tmp_path).exists()


def test_login_unreachable_registry_exits_1(tmp_path, run):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run("login", f"127.0.0.1:{port}", "-u", "alice", "--password-stdin", stdin="x")
    assert done.returncode == 1
    assert f"cannot reach registry at 127.0.0.1:{port}: connection refused" in done.stderr
    assert "Traceback" not in done.stderr
