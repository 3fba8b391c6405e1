"""Which engine the CLI talks to: --engine, STACKYARD_ENGINE, else the built-in one; `docker`
means DOCKER_HOST, the docker context, the default socket."""

import hashlib
import json

import pytest

from orchestrator.reconcile import engine_url


def _context(tmp_path, name, host, current=True):
    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Endpoints": {"docker": {"Host": host}}}))
    if current:
        (tmp_path / "config.json").write_text(json.dumps({"currentContext": name}))


def test_engine_url_precedence(tmp_path):
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert engine_url(None, env) == "unix:///run/stackyard/stackyard.sock"
    assert engine_url(None, {**env, "DOCKER_HOST": "unix:///run/d.sock"}) == "unix:///run/stackyard/stackyard.sock"
    assert engine_url("docker", env) == "unix:///var/run/docker.sock"
    assert engine_url("unix:///tmp/x.sock", env) == "unix:///tmp/x.sock"
    assert engine_url(None, {**env, "STACKYARD_ENGINE": "tcp://127.0.0.1:2375"}) == "tcp://127.0.0.1:2375"
    assert engine_url("docker", {**env, "DOCKER_HOST": "unix:///run/d.sock"}) == "unix:///run/d.sock"
    assert engine_url(None, {**env, "STACKYARD_ENGINE": "docker", "DOCKER_HOST": "unix:///run/d.sock"}) \
        == "unix:///run/d.sock"


def test_engine_url_follows_the_current_docker_context(tmp_path):
    _context(tmp_path, "remote", "tcp://127.0.0.1:2376")
    env = {"DOCKER_CONFIG": str(tmp_path), "STACKYARD_ENGINE": "docker"}
    assert engine_url(None, env) == "tcp://127.0.0.1:2376"
    assert engine_url(None, {**env, "DOCKER_HOST": "unix:///run/d.sock"}) == "unix:///run/d.sock"
    assert engine_url(None, {**env, "DOCKER_CONTEXT": "default"}) == "unix:///var/run/docker.sock"
    with pytest.raises(ValueError, match='docker context "missing" not found'):
        engine_url(None, {**env, "DOCKER_CONTEXT": "missing"})


def test_engine_url_rejects_unknown_names():
    with pytest.raises(ValueError, match='unknown engine "bogus"'):
        engine_url("bogus", {})
    assert engine_url("builtin", {}) == "unix:///run/stackyard/stackyard.sock"
    assert engine_url(None, {"STACKYARD_ENGINE": "builtin", "STACKYARD_BUILTIN_EXEC_ROOT": "/tmp/x"}) \
        == "unix:///tmp/x/stackyard.sock"
