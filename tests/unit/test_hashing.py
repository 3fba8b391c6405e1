"""hashing: the versioned config hash the planner uses to decide recreation."""

from __future__ import annotations

import copy

import pytest

from orchestrator.hashing import (HASH_VERSION, config_hash, hash_version, referenced_files,
                                  service_hash)

SERVICE = {
    "image": "nginx:1.27",
    "environment": {"A": "1", "B": None},
    "env_file": [{"path": "/p/web.env", "required": False}],
    "secrets": [{"source": "token"}],
    "configs": [{"source": "conf", "target": "/etc/app.conf"}],
    "depends_on": {"db": {"condition": "service_started", "required": True, "restart": False}},
    "networks": {"default": None},
}

STACK = {
    "name": "demo",
    "services": {"web": SERVICE},
    "secrets": {"token": {"name": "demo_token", "file": "/p/token.txt"}},
    "configs": {"conf": {"name": "demo_conf", "content": "debug=1"}},
}

FILES = {"/p/web.env": b"X=1\n", "/p/token.txt": b"s3cret"}


def _with(**changes) -> dict:
    service = copy.deepcopy(SERVICE)
    service.update(changes)
    return service


def test_config_hash_has_version_prefix() -> None:
    value = config_hash(SERVICE)
    assert value.startswith("v1:") and len(value) == 3 + 64
    assert hash_version(value) == HASH_VERSION == "v1"
    assert hash_version("deadbeef") == ""


def test_config_hash_stable_across_key_order() -> None:
    reordered = dict(reversed(list(SERVICE.items())))
    reordered["environment"] = {"B": None, "A": "1"}
    assert config_hash(reordered) == config_hash(SERVICE)
    assert config_hash(SERVICE) == config_hash(copy.deepcopy(SERVICE))


def test_config_hash_changes_with_environment() -> None:
    assert config_hash(_with(environment={"A": "2", "B": None})) != config_hash(SERVICE)


@pytest.mark.parametrize("changes", [
    {"deploy": {"replicas": 5}},
    {"scale": 5},
    {"depends_on": {}},
    {"build": {"context": "/elsewhere", "dockerfile": "Dockerfile"}},
    {"profiles": ["debug"]},
    {"pull_policy": "always"},
    {"x-note": "hello"},
])
def test_config_hash_ignores_non_container_keys(changes: dict) -> None:
    assert config_hash(_with(**changes)) == config_hash(SERVICE)


def test_config_hash_keeps_other_deploy_keys() -> None:
    limited = _with(deploy={"replicas": 2, "resources": {"limits": {"memory": 1024}}})
    assert config_hash(limited) != config_hash(SERVICE)


def test_config_hash_changes_with_file_content_and_digest() -> None:
    base = config_hash(SERVICE, file_contents=FILES)
    changed = dict(FILES, **{"/p/token.txt": b"other"})
    assert config_hash(SERVICE, file_contents=changed) != base
    assert config_hash(SERVICE, file_contents=dict(FILES, **{"/p/token.txt": None})) != base
    assert config_hash(SERVICE, file_contents=FILES, image_digest="sha256:" + "a" * 64) != base


def test_referenced_files_lists_env_files_secrets_and_configs() -> None:
    assert referenced_files(SERVICE, STACK) == ["/p/web.env", "/p/token.txt"]


def test_service_hash_reads_files_through_injected_reader() -> None:
    files = dict(FILES)
    reads: list[str] = []

    def read(path: str) -> bytes:
        reads.append(path)
        if path not in files:
            raise FileNotFoundError(path)
        return files[path]

    first = service_hash(STACK, "web", read)
    assert reads == ["/p/web.env", "/p/token.txt"]
    assert service_hash(STACK, "web", read) == first
    files["/p/web.env"] = b"X=2\n"
    assert service_hash(STACK, "web", read) != first
    del files["/p/web.env"]  # a missing file is hashed as absent, not an error
    assert service_hash(STACK, "web", read).startswith("v1:")


def test_service_hash_covers_inline_config_content() -> None:
    read = FILES.__getitem__
    other = copy.deepcopy(STACK)
    other["configs"]["conf"]["content"] = "debug=0"
    assert service_hash(other, "web", read) != service_hash(STACK, "web", read)
