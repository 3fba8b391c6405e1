"""Shared test helper: a busybox root filesystem directory and overlays over it.

Imported by the executor, supervisor and container tests. `build_busybox_rootfs` makes a plain
directory from Debian's /bin/busybox (busybox-static) with applet symlinks, /etc/passwd and
/etc/group holding a few named users and groups. `Overlay` describes (and can mount) an overlay
with that directory as its lower layer, the way the snapshotter hands rootfs mounts to the
executor: `mounts()` is the `rootfs_mounts` list of SpecContext.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

BUSYBOX = "/bin/busybox"

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:1001:Bob:/home/bob:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""

GROUP = """root:x:0:
daemon:x:1:
alice:x:1000:
bob:x:1001:
staff:x:50:alice,bob
audio:x:29:alice
nogroup:x:65534:
"""

_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "home/alice", "home/bob",
         "proc", "sys", "dev", "data", "var/log", "run")


def missing_requirement() -> str | None:
    """Why rootfs-based tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.exists(BUSYBOX):
        return f"{BUSYBOX} missing (Debian busybox-static)"
    return None


def _applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout
    return sorted({a for a in out.split() if a and "/" not in a and a != "busybox"})


def build_busybox_rootfs(dest: str | os.PathLike) -> Path:
    """Populate `dest` (created if needed) with a busybox root filesystem; returns its path."""
    root = Path(dest)
    for d in _DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    for applet in _applets():
        link = root / "bin" / applet
        if not link.exists() and not link.is_symlink():
            link.symlink_to("busybox")
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    (root / "data/seed.txt").write_text("from-image\n")
    os.chown(root / "home/alice", 1000, 1000)
    os.chown(root / "home/bob", 1001, 1001)
    return root


_CACHE: dict[str, Path] = {}


def cached_busybox_rootfs() -> Path:
    """One read-only lower directory per test process (never modified: overlays go over it)."""
    if "root" not in _CACHE:
        base = Path(tempfile.mkdtemp(prefix="sy-rootfs-"))
        atexit.register(shutil.rmtree, base, ignore_errors=True)
        _CACHE["root"] = build_busybox_rootfs(base / "lower")
    return _CACHE["root"]


class Overlay:
    """An overlay over `lower` with upper/work dirs and a mount point under `base`."""

    def __init__(self, lower: str | os.PathLike, base: str | os.PathLike) -> None:
        self.lower = Path(lower)
        self.base = Path(base)
        self.upper = self.base / "upper"
        self.work = self.base / "work"
        self.target = self.base / "rootfs"
        for d in (self.upper, self.work, self.target):
            d.mkdir(parents=True, exist_ok=True)
        self.mounted = False

    def options(self) -> list[str]:
        return [f"lowerdir={self.lower}", f"upperdir={self.upper}", f"workdir={self.work}"]

    def mounts(self) -> list[dict]:
        """The snapshot mount list a SpecContext expects (mounted later, by the executor)."""
        return [{"type": "overlay", "source": "overlay", "options": self.options()}]

    def mount(self) -> Path:
        """Mount it host-side at `target` (for tests that want a mounted rootfs)."""
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(self.options()),
                        str(self.target)], check=True)
        self.mounted = True
        return self.target

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", str(self.target)], check=False)
            self.mounted = False

    def remove(self) -> None:
        self.unmount()
        shutil.rmtree(self.base, ignore_errors=True)
