"""Mount lists and the syscalls that apply them: `Mount`, `mount_all`, `unmount`.

Who calls it: the snapshotter returns `Mount` lists; the executor (or a test) mounts them with
`mount_all(mounts, target)` — possibly inside a container's mount namespace — and `unmount`s.
Thin layer over mount(2)/umount2(2) through ctypes, errors mapped once to errdefs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass, field

from runtime import errdefs

MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

# Options that are flags, not filesystem data.
_FLAG_OPTIONS = {"ro": MS_RDONLY, "rbind": MS_BIND | MS_REC, "bind": MS_BIND}


@dataclass(frozen=True)
class Mount:
    type: str            # "overlay" or "bind"
    source: str
    options: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"Type": self.type, "Source": self.source, "Options": list(self.options)}


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    rc = _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                     flags, data.encode() if data else None)
    if rc != 0:
        err = ctypes.get_errno()
        raise errdefs.from_oserror(OSError(err, os.strerror(err)),
                                   f"mount {fstype or 'bind'} {source} on {target} ({data or ''})")


def mount_one(m: Mount, target: str) -> None:
    flags = 0
    data: list[str] = []
    for option in m.options:
        if option in _FLAG_OPTIONS:
            flags |= _FLAG_OPTIONS[option]
        else:
            data.append(option)
    if m.type == "bind" or flags & MS_BIND:
        _mount(m.source, target, None, MS_BIND | (flags & MS_REC), None)
        if flags & MS_RDONLY:
            _mount("", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | (flags & MS_REC), None)
        return
    text = ",".join(data)
    if len(text) >= 4096:
        raise errdefs.Unsupported(f"mount {m.type} on {target}: options are {len(text)} bytes, "
                                  "over the kernel's one-page limit (too many layers)")
    _mount(m.source, target, m.type, flags, text)


def mount_all(mounts: list[Mount], target: str) -> None:
    """Mount each of `mounts` on `target` in order (a snapshot gives one)."""
    done = 0
    try:
        for m in mounts:
            mount_one(m, target)
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target)
        raise


def unmount(target: str, *, detach_on_busy: bool = True) -> None:
    """Unmount `target`; when busy, detach it lazily (MNT_DETACH)."""
    if _libc.umount2(target.encode(), 0) == 0:
        return
    err = ctypes.get_errno()
    if err == 16 and detach_on_busy and _libc.umount2(target.encode(), MNT_DETACH) == 0:
        return
    if err == 16 and detach_on_busy:
        err = ctypes.get_errno()
    raise errdefs.from_oserror(OSError(err, os.strerror(err)), f"unmount {target}")
