"""Named volume records and directories: create, inspect, list, remove, prune.

Layout: `<root>/volumes/<name>/_data` (what containers mount) and `<root>/volumes/<name>/opts.json`
(Driver, Labels, Options, CreatedAt), written atomically. Which containers use a volume is
asked of the caller (`users`), so a volume in use is never removed and there is no second
record of usage to drift.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from typing import Callable

from runtime import errdefs
from runtime.metadata.jsonfile import read_json, write_json_atomic

VALID_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
ANONYMOUS_LABEL = "com.docker.volume.anonymous"


def _now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class VolumeStore:
    def __init__(self, root: str, *, users: Callable[[str], list[str]] | None = None) -> None:
        self.base = os.path.join(root, "volumes")
        os.makedirs(self.base, mode=0o701, exist_ok=True)
        self.users = users or (lambda name: [])

    def _dir(self, name: str) -> str:
        return os.path.join(self.base, name)

    def mountpoint(self, name: str) -> str:
        return os.path.join(self.base, name, "_data")

    def exists(self, name: str) -> bool:
        return os.path.exists(os.path.join(self._dir(name), "opts.json"))

    def create(self, name: str | None = None, *, driver: str = "local", labels: dict | None = None,
               options: dict | None = None) -> dict:
        """Creates the volume, or returns the existing one of that name (as Docker does).

        Raises InvalidArgument (bad name, driver, option).
        """
        anonymous = not name
        name = name or secrets.token_hex(32)
        if not VALID_NAME.match(name):
            raise errdefs.InvalidArgument(
                f'create {name}: "{name}" includes invalid characters for a local volume name, '
                "only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")
        if (driver or "local") != "local":
            raise errdefs.InvalidArgument(f"volume driver {driver!r} is not supported (only local)")
        if options:
            raise errdefs.InvalidArgument(f"create {name}: local volume options are not supported: {sorted(options)}")
        if self.exists(name):
            return self.inspect(name)
        labels = dict(labels or {})
        if anonymous:
            labels.setdefault(ANONYMOUS_LABEL, "")
        os.makedirs(self.mountpoint(name), mode=0o755, exist_ok=True)
        write_json_atomic(os.path.join(self._dir(name), "opts.json"),
                          {"Driver": "local", "Labels": labels, "Options": {}, "CreatedAt": _now_rfc3339()})
        return self.inspect(name)

    def inspect(self, name: str) -> dict:
        """Docker's volume JSON. Raises NotFound."""
        try:
            opts = read_json(os.path.join(self._dir(name), "opts.json"))
        except errdefs.NotFound:
            raise errdefs.NotFound(f"get {name}: no such volume") from None
        return {"Name": name, "Driver": opts["Driver"], "Mountpoint": self.mountpoint(name),
                "CreatedAt": opts["CreatedAt"], "Labels": opts.get("Labels") or {}, "Scope": "local",
                "Options": opts.get("Options") or {}}

    def names(self) -> list[str]:
        return sorted(n for n in os.listdir(self.base) if self.exists(n))

    def list(self, filters: dict | None = None) -> list[dict]:
        """Volumes matching Docker's filters: name, label (key or key=value), dangling, driver."""
        out = []
        for name in self.names():
            volume = self.inspect(name)
            if _matches(volume, filters or {}, lambda: bool(self.users(name))):
                out.append(volume)
        return out

    def remove(self, name: str, *, force: bool = False) -> None:
        """Raises NotFound (unless force) or Conflict when a container uses it."""
        if not self.exists(name):
            if force:
                return
            raise errdefs.NotFound(f"get {name}: no such volume")
        users = self.users(name)
        if users:
            raise errdefs.Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        # Rename first so a crash leaves no half-deleted volume under its name.
        doomed = os.path.join(self.base, f".removing-{name}")
        os.replace(self._dir(name), doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def prune(self, filters: dict | None = None) -> dict:
        """Removes unused volumes; by default only anonymous ones (Docker API >= 1.42 rule is `all`)."""
        filters = dict(filters or {})
        prune_all = str((filters.pop("all", ["false"]) or ["false"])[0]).lower() in ("1", "true")
        deleted, reclaimed = [], 0
        for volume in self.list(filters):
            name = volume["Name"]
            if self.users(name) or (not prune_all and ANONYMOUS_LABEL not in volume["Labels"]):
                continue
            reclaimed += _du(self.mountpoint(name))
            self.remove(name)
            deleted.append(name)
        return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}


def _du(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def _matches(volume: dict, filters: dict, in_use: Callable[[], bool]) -> bool:
    for key, values in filters.items():
        values = values if isinstance(values, list) else list(values)
        if key == "name" and not any(v in volume["Name"] for v in values):
            return False
        if key == "driver" and volume["Driver"] not in values:
            return False
        if key == "label":
            for v in values:
                k, eq, val = v.partition("=")
                if k not in volume["Labels"] or (eq and volume["Labels"][k] != val):
                    return False
        if key == "dangling":
            want = str(values[0]).lower() in ("1", "true")
            if want == in_use():
                return False
        if key not in ("name", "driver", "label", "dangling"):
            raise errdefs.InvalidArgument(f"invalid filter '{key}'")
    return True
