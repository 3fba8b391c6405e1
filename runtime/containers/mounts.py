"""Which volumes a container mounts, created as needed, and the `Mounts` view of inspect.

Called by the manager at create: it returns the `volume_sources` the spec builder needs
(volume name → host dir; anonymous volumes keyed by their container path, as
runtime.executor.spec_mounts expects), Docker's inspect `Mounts` list, and the names of the
anonymous volumes it created (removed with the container by `rm -v` and `--rm`).
"""

from __future__ import annotations

import posixpath
import secrets

from runtime.executor.spec_mounts import parse_bind
from runtime.volumes.store import ANONYMOUS_LABEL, VolumeStore


def resolve_volumes(volumes: VolumeStore, body: dict, host: dict,
                    image_cfg: dict) -> tuple[dict[str, str], list[dict], list[str]]:
    """(volume_sources, mounts view, anonymous volume names). Raises InvalidArgument/NotFound."""
    sources: dict[str, str] = {}
    view: list[dict] = []
    anonymous: list[str] = []

    def named(name: str) -> str:
        if name not in sources:
            volumes.create(name)
            sources[name] = volumes.mountpoint(name)
        return sources[name]

    def new_anonymous() -> str:
        name = secrets.token_hex(32)
        volumes.create(name, labels={ANONYMOUS_LABEL: ""})
        anonymous.append(name)
        return name

    taken = set()
    for i, bind in enumerate(host.get("Binds") or []):
        parts = str(bind).split(":")
        if len(parts) >= 2 and parts[0] and not parts[0].startswith("/"):
            named(parts[0])
        mount, _is_volume, vname, _nocopy = parse_bind(str(bind), sources, f"HostConfig.Binds[{i}]")
        taken.add(mount["destination"])
        view.append(_mount_view(mount, vname))
    for m in host.get("Mounts") or []:
        target = posixpath.normpath(m.get("Target") or m.get("Destination") or "/")
        taken.add(target)
        if m.get("Type") == "volume":
            name = m.get("Source") or new_anonymous()
            source = named(name)
            if not m.get("Source"):
                sources[target] = source
            view.append({"Type": "volume", "Name": name, "Source": source, "Destination": target,
                         "Driver": "local", "Mode": "z", "RW": not m.get("ReadOnly"), "Propagation": ""})
        elif m.get("Type") == "bind":
            view.append({"Type": "bind", "Source": m.get("Source", ""), "Destination": target, "Mode": "",
                         "RW": not m.get("ReadOnly"), "Propagation": "rprivate"})
    # The image's (and Config.Volumes') anonymous volumes, unless a mount already covers them.
    for dest in sorted(image_cfg.get("Volumes") or {}):
        dest = posixpath.normpath(dest)
        if dest in taken:
            continue
        name = new_anonymous()
        sources[dest] = named(name)
        view.append({"Type": "volume", "Name": name, "Source": sources[dest], "Destination": dest,
                     "Driver": "local", "Mode": "", "RW": True, "Propagation": ""})
    return sources, view, anonymous


def _mount_view(mount: dict, volume_name: str | None) -> dict:
    rw = "ro" not in mount["options"]
    if volume_name:
        return {"Type": "volume", "Name": volume_name, "Source": mount["source"], "Destination": mount["destination"],
                "Driver": "local", "Mode": "", "RW": rw, "Propagation": ""}
    return {"Type": "bind", "Source": mount["source"], "Destination": mount["destination"], "Mode": "",
            "RW": rw, "Propagation": "rprivate"}
