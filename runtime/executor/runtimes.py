"""Which executor runs a container: the per-container `runtime:` (HostConfig.Runtime).

Called by the container manager at create (`resolve_runtime`: the name a container records,
with the daemon's `default-runtime` for an empty one), by the system service (`available_runtimes`
for `docker info`) and by the supervisor, which keeps one `Executors` for its lifetime and
picks each container's executor from its spec's io.stackyard.runtime annotation:
"" / "native" / "stackyard" → NativeExecutor; "crun" / "runc" → OciRuntimeExecutor on that
binary, created on first use. Unknown names are errdefs.InvalidArgument in Docker's words; a
runtime that is not installed is refused at create the same way (dockerd knows only the
runtimes it found) and is errdefs.FailedPrecondition when the supervisor is asked for it.
"""

from __future__ import annotations

import shutil

from runtime import errdefs
from runtime.executor import annotations as ann
from runtime.runtime_names import NATIVE_NAMES, OCI_NAMES, NATIVE_PATH, check_runtime, unknown_runtime  # noqa: F401 - re-exported


def available_runtimes(which=shutil.which) -> dict[str, str]:
    """name → path of the runtimes this host can run: native always, crun/runc when on PATH."""
    found = {"native": NATIVE_PATH}
    for name in OCI_NAMES:
        path = which(name)
        if path:
            found[name] = path
    return found


def resolve_runtime(requested: str | None, default: str, available: dict[str, str]) -> str:
    """The runtime a new container records (pure): `requested`, else the daemon's `default`;
    refused in Docker's words when unknown or not installed."""
    asked = (requested or "").strip() if isinstance(requested, str) or requested is None else requested
    name = check_runtime(asked if asked else default)
    if name not in available:
        source = "" if asked else "the daemon's default-runtime; "
        raise unknown_runtime(asked or default, f"{source}{name} is not installed on this host")
    return name


class Executors:
    """One executor per runtime name, created lazily."""

    def __init__(self, *, oci_state_dir: str = "/run/stackyard/oci") -> None:
        self._oci_state_dir = oci_state_dir
        self._made: dict[str, object] = {}

    def get(self, name: str | None = None):
        key = check_runtime(name)
        if key not in self._made:
            if key == "native":
                from runtime.executor.native import NativeExecutor
                self._made[key] = NativeExecutor()
            else:
                from runtime.executor.oci_runtime import OciRuntimeExecutor
                self._made[key] = OciRuntimeExecutor(key, state_dir=self._oci_state_dir)
        return self._made[key]

    def for_spec(self, spec: dict):
        """The executor a spec asks for (its io.stackyard.runtime annotation)."""
        return self.get((spec.get("annotations") or {}).get(ann.RUNTIME))
