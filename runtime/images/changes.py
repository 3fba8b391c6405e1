"""`docker import --change` instructions applied to an image config. Pure.

Who calls it: `runtime.images.archive.import_rootfs`. Supports the instructions Docker allows
there: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, ONBUILD.
"""

from __future__ import annotations

import json
import shlex
from typing import Any, Iterable

from runtime import errdefs

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "VOLUME", "WORKDIR",
           "STOPSIGNAL", "ONBUILD")


def _command(rest: str) -> list[str]:
    text = rest.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", text]


def _pairs(rest: str, instruction: str) -> list[tuple[str, str]]:
    words = shlex.split(rest)
    if len(words) >= 2 and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]  # legacy "ENV KEY value"
    out = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise errdefs.InvalidArgument(f"{instruction} needs KEY=VALUE, got {word!r}")
        out.append((key, value))
    return out


def apply_changes(config: dict[str, Any], changes: Iterable[str]) -> dict[str, Any]:
    """A copy of the image config's `config` section with the instructions applied.

    Raises:
        errdefs.InvalidArgument: an unknown or malformed instruction.
    """
    out = json.loads(json.dumps(config))
    for line in changes or ():
        line = line.strip()
        if not line:
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction not in ALLOWED:
            raise errdefs.InvalidArgument(f"{instruction} is not a valid change command")
        if instruction == "CMD":
            out["Cmd"] = _command(rest)
        elif instruction == "ENTRYPOINT":
            out["Entrypoint"] = _command(rest)
        elif instruction == "ENV":
            env = [e for e in out.get("Env") or []]
            for key, value in _pairs(rest, "ENV"):
                env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
            out["Env"] = env
        elif instruction == "LABEL":
            labels = dict(out.get("Labels") or {})
            labels.update(_pairs(rest, "LABEL"))
            out["Labels"] = labels
        elif instruction == "EXPOSE":
            ports = dict(out.get("ExposedPorts") or {})
            for port in rest.split():
                ports[port if "/" in port else f"{port}/tcp"] = {}
            out["ExposedPorts"] = ports
        elif instruction == "VOLUME":
            volumes = dict(out.get("Volumes") or {})
            for path in _command(rest) if rest.strip().startswith("[") else rest.split():
                volumes[path] = {}
            out["Volumes"] = volumes
        elif instruction == "USER":
            out["User"] = rest.strip()
        elif instruction == "WORKDIR":
            out["WorkingDir"] = rest.strip()
        elif instruction == "STOPSIGNAL":
            out["StopSignal"] = rest.strip()
        elif instruction == "ONBUILD":
            out["OnBuild"] = list(out.get("OnBuild") or []) + [rest.strip()]
    return out
