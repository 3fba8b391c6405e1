"""Which executor runs a container: the per-container `runtime:` (HostConfig.Runtime).

Called by the supervisor, which keeps one `Executors` for its lifetime: "" / "native" /
"stackyard" → NativeExecutor (default); "crun" / "runc" → OciRuntimeExecutor on that binary,
created on first use. Unknown names are errdefs.InvalidArgument; a runtime that is not
installed is errdefs.FailedPrecondition (raised when a container asks for it).
"""

from __future__ import annotations

from runtime import errdefs
from runtime.executor import annotations as ann

NATIVE_NAMES = ("", "native", "stackyard")
OCI_NAMES = ("crun", "runc")


def check_runtime(name: str | None) -> str:
    """The normalised runtime name; raises errdefs.InvalidArgument for an unknown one (pure)."""
    value = (name or "").strip()
    if value in NATIVE_NAMES:
        return "native"
    if value in OCI_NAMES:
        return value
    raise errdefs.InvalidArgument(f"HostConfig.Runtime: unknown runtime {value!r} (native, crun or runc)")


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
