"""Registry settings the CLI takes from the daemon config file (dockerd's daemon.json keys)."""

import json

import pytest

from runtime import errdefs
from runtime.registry import daemon_settings
from runtime.registry.daemon_settings import registry_config_from_daemon_file


def test_insecure_registries_and_mirrors_come_from_the_file(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"insecure-registries": ["10.0.0.0/8", "reg:5000"],
                                "registry-mirrors": ["https://mirror:5000"], "log-level": "debug"}))
    config = registry_config_from_daemon_file(str(path), attempts=2)
    assert config.insecure_registries == ["10.0.0.0/8", "reg:5000"]
    assert config.mirrors == ["https://mirror:5000"]
    assert config.attempts == 2


def test_default_file_is_used_only_if_it_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(daemon_settings, "DEFAULT_DAEMON_CONFIG_FILE", str(tmp_path / "absent.json"))
    assert registry_config_from_daemon_file(None).insecure_registries == []
    present = tmp_path / "present.json"
    present.write_text('{"insecure-registries": ["reg:5000"]}')
    monkeypatch.setattr(daemon_settings, "DEFAULT_DAEMON_CONFIG_FILE", str(present))
    assert registry_config_from_daemon_file(None).insecure_registries == ["reg:5000"]


@pytest.mark.parametrize("content, message", [
    ('{"insecure-registries": [""]}', "insecure-registries must be a list of strings"),
    ('{"registry-mirrors": "https://m"}', "registry-mirrors must be a list"),
    ('{"insecure_registries": []}', "unknown configuration key 'insecure_registries'"),
])
def test_bad_files_name_the_file_and_key(tmp_path, content, message):
    path = tmp_path / "daemon.json"
    path.write_text(content)
    with pytest.raises(errdefs.InvalidArgument, match=message) as caught:
        registry_config_from_daemon_file(str(path))
    assert str(path) in str(caught.value)
    with pytest.raises(errdefs.InvalidArgument, match="cannot read daemon config"):
        registry_config_from_daemon_file(str(tmp_path / "missing.json"))
