"""Run the probe in a container and parse its JSON (test helper)."""

from __future__ import annotations

import json


def probe(runner, probe_path: str, create: dict | None = None, **kw) -> dict:
    create = dict(create or {})
    host = dict(create.pop("HostConfig", {}) or {})
    host["Binds"] = list(host.get("Binds") or []) + [f"{probe_path}:/probe:ro"]
    create.setdefault("Cmd", ["/probe"])
    result = runner.run({**create, "HostConfig": host}, **kw)
    assert result.status == 0, (result.status, result.stdout[-2000:], result.stderr[-2000:])
    return json.loads(result.stdout)


def mount_devices(info: dict) -> dict[str, str]:
    """mount point → the superblock's major:minor (tells one devpts instance from another)."""
    return {line.split()[4]: line.split()[2] for line in info["mountinfo"].splitlines()}


def mounts(info: dict) -> dict[str, tuple[str, str, str]]:
    """mount point → (fstype, per-mount options, super options) from the probe's mountinfo."""
    out = {}
    for line in info["mountinfo"].splitlines():
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        out[parts[4]] = (rparts[0], parts[5], rparts[2] if len(rparts) > 2 else "")
    return out
