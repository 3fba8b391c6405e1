"""Daemon configuration: command-line flags over a JSON file in Docker's `daemon.json` keys.

Called by `runtime.cli.daemon` (to build it) and `runtime.services` (to read it). Pure: parsing
and validation only; unknown keys in the file are errors naming the key, as dockerd does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from runtime import errdefs
from runtime.runtime_names import check_runtime

DEFAULT_ROOT = "/var/lib/stackyard"
DEFAULT_EXEC_ROOT = "/run/stackyard"
DEFAULT_SOCKET = "/run/stackyard/stackyard.sock"

KNOWN_KEYS = {
    "registry-mirrors": list,
    "insecure-registries": list,
    "default-address-pools": list,
    "default-runtime": str,
    "log-level": str,
    "data-root": str,
    "exec-root": str,
    "hosts": list,
    "ip-masq": bool,
}


@dataclass(frozen=True)
class DaemonConfig:
    root: str = DEFAULT_ROOT
    exec_root: str = DEFAULT_EXEC_ROOT
    hosts: tuple[str, ...] = (f"unix://{DEFAULT_SOCKET}",)
    log_level: str = "info"
    registry_mirrors: tuple[str, ...] = ()
    insecure_registries: tuple[str, ...] = ()
    default_address_pools: tuple[dict[str, Any], ...] = ()
    default_runtime: str = "native"
    ip_masq: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def socket_paths(self) -> list[str]:
        return [h[len("unix://"):] for h in self.hosts if h.startswith("unix://")]


def read_config_file(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise errdefs.InvalidArgument(f"cannot read daemon config {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise errdefs.InvalidArgument(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise errdefs.InvalidArgument(f"{path}: the configuration must be a JSON object")
    for key, value in data.items():
        expected = KNOWN_KEYS.get(key)
        if expected is None:
            raise errdefs.InvalidArgument(f"{path}: unknown configuration key {key!r}")
        if not isinstance(value, expected):
            raise errdefs.InvalidArgument(f"{path}: {key} must be a {expected.__name__}")
    return data


def make_config(file_values: dict[str, Any], *, root: Optional[str] = None,
                exec_root: Optional[str] = None, hosts: Optional[list[str]] = None,
                log_level: Optional[str] = None) -> DaemonConfig:
    """Flags win over the file; the file wins over defaults (dockerd refuses conflicts; we
    prefer the flag, which is what a user typing it means)."""
    chosen_hosts = hosts or file_values.get("hosts") or [f"unix://{DEFAULT_SOCKET}"]
    for host in chosen_hosts:
        if not (host.startswith("unix://") or host.startswith("tcp://")):
            raise errdefs.InvalidArgument(f"invalid host {host!r}: expected unix://PATH or tcp://HOST:PORT")
    default_runtime = file_values.get("default-runtime", "native")
    try:
        default_runtime = check_runtime(default_runtime)
    except errdefs.InvalidArgument as exc:
        raise errdefs.InvalidArgument(f"default-runtime: {exc}") from None
    return DaemonConfig(
        root=root or file_values.get("data-root") or DEFAULT_ROOT,
        exec_root=exec_root or file_values.get("exec-root") or DEFAULT_EXEC_ROOT,
        hosts=tuple(chosen_hosts),
        log_level=log_level or file_values.get("log-level") or "info",
        registry_mirrors=tuple(file_values.get("registry-mirrors", ())),
        insecure_registries=tuple(file_values.get("insecure-registries", ())),
        default_address_pools=tuple(file_values.get("default-address-pools", ())),
        default_runtime=default_runtime,
        ip_masq=file_values.get("ip-masq", True),
    )
