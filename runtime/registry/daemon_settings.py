"""Registry settings from the daemon's configuration file, for the in-process CLI.

Who calls it: `runtime.cli.image` and `runtime.cli.login`, so that `stackyard image pull` and
`stackyard login` treat registries as the daemon does (the daemon builds its RegistryConfig from
the same file through `runtime.config`). Keys are dockerd's `daemon.json` keys:
`insecure-registries` and `registry-mirrors`; the file is parsed (and its keys checked) by
`runtime.config.read_config_file`.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from runtime import errdefs
from runtime.registry.config import RegistryConfig

DEFAULT_DAEMON_CONFIG_FILE = "/etc/stackyard/daemon.json"

# daemon.json key → RegistryConfig field
_KEYS = {"insecure-registries": "insecure_registries", "registry-mirrors": "mirrors"}


def registry_settings(values: dict[str, Any], *, path: str) -> dict[str, list[str]]:
    """RegistryConfig keyword arguments from a parsed daemon config. Pure.

    Raises:
        errdefs.InvalidArgument: a value is not a list of non-empty strings (names the file and key).
    """
    out: dict[str, list[str]] = {}
    for key, name in _KEYS.items():
        items = values.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise errdefs.InvalidArgument(f"{path}: {key} must be a list of strings")
        out[name] = list(items)
    return out


def registry_config_from_daemon_file(path: Optional[str], **overrides: Any) -> RegistryConfig:
    """The RegistryConfig the daemon would use. `path=None`: the default file if it exists,
    else defaults; a path given explicitly must be readable.

    Raises:
        errdefs.InvalidArgument: unreadable file, bad JSON, unknown keys, bad values.
    """
    if path is None:
        if not os.path.exists(DEFAULT_DAEMON_CONFIG_FILE):
            return RegistryConfig(**overrides)
        path = DEFAULT_DAEMON_CONFIG_FILE
    from runtime.config import read_config_file
    return RegistryConfig(**{**registry_settings(read_config_file(path), path=path), **overrides})
