"""Docker seccomp profile → the OCI `linux.seccomp` section (pure; called by spec.py).

Moby's setupSeccomp rules: keep the native architecture and its sub-architectures from `archMap`;
a syscall entry applies when every `includes.caps` is held, the arch is in `includes.arches`, no
`excludes.caps` is held and the arch is not in `excludes.arches`. `minKernel` is taken as met:
the kernels we run on (6.x) are newer than every minKernel in Docker's profile.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from runtime import errdefs

DOCKER_DEFAULT_PATH = Path(__file__).with_name("default-seccomp.json")
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
_SCMP_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}


@functools.lru_cache(maxsize=1)
def docker_default_profile() -> dict:
    """Docker's default profile (a copy of moby's default.json shipped with this package).
    Cached: read-only for callers (to_oci never mutates its input)."""
    return json.loads(DOCKER_DEFAULT_PATH.read_text())


def to_oci(profile: dict, capabilities: list[str], *, machine: str = "x86_64") -> dict:
    """The OCI seccomp section for `profile` given the container's bounding capabilities."""
    if not isinstance(profile, dict) or "defaultAction" not in profile:
        raise errdefs.InvalidArgument("seccomp profile: missing defaultAction")
    arch = _GO_ARCH.get(machine, machine)
    caps = set(capabilities)
    out: dict = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    native = _SCMP_ARCH.get(machine)
    arches: list[str] = []
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            arches = [entry["architecture"], *(entry.get("subArchitectures") or [])]
    if not arches and profile.get("architectures"):
        arches = list(profile["architectures"])
    if arches:
        out["architectures"] = arches
    if profile.get("flags"):
        out["flags"] = list(profile["flags"])
    syscalls = []
    for i, call in enumerate(profile.get("syscalls") or []):
        inc, exc = call.get("includes") or {}, call.get("excludes") or {}
        if arch in (exc.get("arches") or []) or caps & set(exc.get("caps") or []):
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= caps:
            continue
        names = call.get("names") or ([call["name"]] if call.get("name") else [])
        if not names or "action" not in call:
            raise errdefs.InvalidArgument(f"seccomp profile: syscalls[{i}]: needs names and action")
        rule: dict = {"names": list(names), "action": call["action"]}
        if call.get("errnoRet") is not None:
            rule["errnoRet"] = call["errnoRet"]
        if call.get("args"):
            rule["args"] = [{k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a}
                            for a in call["args"]]
        syscalls.append(rule)
    out["syscalls"] = syscalls
    return out
