"""The pieces of the converged-`up` shortcut that decide alone: the command key, the observed
digest, the input log the loader and the config hash fill (orchestrator/converged.py,
orchestrator/inputs.py) and the replies the light client reads (orchestrator/engine/lite.py).
The shortcut end to end: tests/integration/test_converged_up.py."""

import pytest

from orchestrator import converged, inputs
from orchestrator.engine import lite
from orchestrator.frozen import FrozenMap
from orchestrator.loader import LoadOptions, load_stack
from orchestrator.observed import ObservedContainer, ObservedStack
from orchestrator.reconcile import config_documents
from orchestrator.loader.tree import plain


@pytest.fixture
def log():
    inputs.start()
    try:
        yield
    finally:
        inputs._log = None


def test_command_key_ignores_what_the_shell_changes_on_every_command():
    base = {"IMAGE": "busybox", "_": "/usr/bin/stackyard", "OLDPWD": "/a", "SHLVL": "1"}
    moved = {**base, "_": "/bin/other", "OLDPWD": "/b", "SHLVL": "3"}
    assert converged.command_key(["up", "-d"], "/p", base) == converged.command_key(["up", "-d"], "/p", moved)


@pytest.mark.parametrize("args, cwd, env", [
    (["up", "-d", "web"], "/p", {"IMAGE": "busybox"}),
    (["up", "-d"], "/q", {"IMAGE": "busybox"}),
    (["up", "-d"], "/p", {"IMAGE": "alpine"}),
    (["up", "-d"], "/p", {"IMAGE": "busybox", "DOCKER_HOST": "unix:///x"}),
])
def test_command_key_changes_with_argv_cwd_and_environment(args, cwd, env):
    assert converged.command_key(args, cwd, env) != converged.command_key(["up", "-d"], "/p", {"IMAGE": "busybox"})


def _observed(labels, state="running"):
    container = ObservedContainer(id="c1", name="s-web-1", service="web", number=1, config_hash="h",
                                  state=state, health=None, exit_code=None, image="busybox", image_id="sha256:1",
                                  oneoff=False, labels=FrozenMap(labels), networks=("s_default",))
    return ObservedStack(name="s", containers=(container,), networks=(), volumes=(), images=FrozenMap())


def test_observed_digest_ignores_the_engines_map_order_but_not_the_state():
    a = _observed([("x", "1"), ("y", "2")])
    b = _observed([("y", "2"), ("x", "1")])
    assert converged.observed_digest(a) == converged.observed_digest(b)
    assert converged.observed_digest(a) != converged.observed_digest(_observed([("x", "1"), ("y", "2")], "exited"))
    assert converged.observed_digest(a) != converged.observed_digest(_observed([("x", "1"), ("y", "3")]))


def test_nothing_is_recorded_until_started():
    inputs._log = None
    inputs.note("/etc/hostname", b"x")
    assert inputs.recorded() is None


def test_the_load_and_the_config_hash_record_every_file_they_depended_on(tmp_path, log):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    env_file: [web.env]\n    configs: [c]\n"
        "include:\n  - extra.yaml\n"
        "configs:\n  c:\n    file: ./c.conf\n")
    (tmp_path / "extra.yaml").write_text("services:\n  other:\n    image: busybox\n")
    (tmp_path / "web.env").write_text("A=1\n")
    (tmp_path / "c.conf").write_text("x\n")
    result = load_stack(LoadOptions(cwd=str(tmp_path)))
    config_documents(plain(result.canonical), list(result.stack.services))
    seen = inputs.recorded()
    for name in ("compose.yaml", "extra.yaml", "web.env", "c.conf"):
        path = str(tmp_path / name)
        assert seen[path] == inputs.fingerprint(path), name
    # Looked for and absent: their appearing must be noticed.
    assert seen[str(tmp_path / ".env")] is None
    assert seen[str(tmp_path / "compose.override.yaml")] is None
    (tmp_path / "c.conf").write_text("y\n")
    assert inputs.fingerprint(str(tmp_path / "c.conf")) != seen[str(tmp_path / "c.conf")]


def test_fingerprint_tells_missing_directory_and_content_apart(tmp_path):
    assert inputs.fingerprint(str(tmp_path / "nope")) is None
    assert inputs.fingerprint(str(tmp_path)) == "dir"
    (tmp_path / "f").write_bytes(b"1")
    assert inputs.fingerprint(str(tmp_path / "f")) not in (None, "dir")


def test_a_stack_file_on_stdin_leaves_no_log_to_stamp_from(tmp_path, log):
    load_stack(LoadOptions(cwd=str(tmp_path), files=("-",), stdin_text="services:\n  web:\n    image: busybox\n"))
    assert inputs.recorded() is None


@pytest.mark.parametrize("reply, expected", [
    (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]", (200, b"[]")),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2;x=y\r\n2]\r\n0\r\n\r\n", (200, b"[1,2]")),
    (b"HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"no\"}", (404, b'{"message":"no"}')),
])
def test_the_light_client_reads_whole_replies(reply, expected):
    assert lite.parse_reply(reply) == expected


@pytest.mark.parametrize("reply, words", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[]", "ended early"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[1", "ended early"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "starts with"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "no end of headers"),
])
def test_the_light_client_refuses_broken_replies(reply, words):
    with pytest.raises(lite.LiteError, match=words):
        lite.parse_reply(reply)


def test_the_light_client_only_takes_local_sockets():
    assert lite.socket_path("unix:///run/x.sock") == "/run/x.sock"
    assert lite.socket_path("/run/x.sock") == "/run/x.sock"
    assert lite.socket_path("tcp://127.0.0.1:2375") is None
