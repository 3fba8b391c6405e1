"""Runtime names a container or the daemon's `default-runtime` may ask for, checked purely.

Called by runtime/config.py (daemon.json) and runtime/executor/runtimes.py (container
create). Kept outside runtime.executor so that the configuration, which the registry side
reads too, does not pull the executor in (the layering contract in pyproject.toml).
"""

from __future__ import annotations

from runtime import errdefs

NATIVE_NAMES = ("", "native", "stackyard")
OCI_NAMES = ("crun", "runc")
NATIVE_PATH = "stackyard-native"  # what `docker info` shows as the native runtime's path


def unknown_runtime(name: str, why: str = "") -> errdefs.InvalidArgument:
    return errdefs.InvalidArgument(f"unknown or invalid runtime name: {name}" + (f" ({why})" if why else ""))


def check_runtime(name: str | None) -> str:
    """The normalised runtime name; raises errdefs.InvalidArgument for an unknown one (pure)."""
    value = (name or "").strip() if isinstance(name, str) or name is None else name
    if not isinstance(value, str):
        raise errdefs.InvalidArgument(f"HostConfig.Runtime must be a string, not {type(value).__name__}")
    if value in NATIVE_NAMES:
        return "native"
    if value in OCI_NAMES:
        return value
    raise unknown_runtime(value)
