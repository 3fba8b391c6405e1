"""Apply a layer tar stream to a snapshot's upper dir, never writing outside it.

Who calls it: `runtime.images` (pull, load, import) with the decompressed chunks of one layer.

Safety, whatever order entries come in:
  * names are decided purely first (`member_path`): a leading "/" is dropped (contained, like
    tar), a ".." that climbs above the root is refused;
  * every parent directory is resolved with openat2(RESOLVE_IN_ROOT) from the root's fd, so a
    symlink written earlier (even to "/" or "../..") resolves *inside* the snapshot;
  * the final component is created with O_EXCL|O_NOFOLLOW after removing whatever was there,
    so a symlink in that place is replaced, never followed;
  * hard link targets are resolved the same way and must be inside the layer.
Whiteouts become overlayfs whiteouts: `.wh.<name>` → character device 0/0 `<name>`,
`.wh..wh..opq` → xattr trusted.overlay.opaque=y on the directory.
Ownership, modes (setuid/setgid/sticky), xattrs, hard links, devices, fifos and mtimes are kept
(directory mtimes are set last, since creating children changes them).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import posixpath
import shutil
import stat
import tarfile
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from runtime import errdefs
from runtime.writeback import start_writeback
from runtime.snapshots.tarstream import TarEntry, TarFormatError, TarReader

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
# Files at least this big have their writeback started when written (see content/writeback.py).
WRITEBACK_MIN = 1 << 20

# -- pure decisions ------------------------------------------------------------------------


class UnsafeEntry(Exception):
    """A layer entry that would write outside the snapshot or is otherwise not acceptable."""


def member_path(name: str) -> str:
    """Normalised path of a tar member relative to the root ("" is the root itself).

    Leading slashes are dropped (contained); ".." climbing above the root is refused.

    Raises:
        UnsafeEntry: the name escapes the root or contains a NUL.
    """
    if "\0" in name:
        raise UnsafeEntry("name contains a NUL byte")
    path = posixpath.normpath("/" + name.lstrip("/")) if name else "/"
    # normpath of "/a/../.." is "/", which would hide the escape: check the raw components.
    depth = 0
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            depth -= 1
            if depth < 0:
                raise UnsafeEntry("path climbs out of the layer root with '..'")
        else:
            depth += 1
    return path.lstrip("/")


@dataclass(frozen=True)
class Action:
    kind: str       # "entry", "whiteout", "opaque"
    path: str       # the entry's path, the whited-out path, or the opaque directory


def classify(name: str) -> Action:
    """What a tar member means for overlayfs.

    Raises:
        UnsafeEntry: unsafe name, or a whiteout of the root itself.
    """
    path = member_path(name)
    parent, base = posixpath.split(path)
    if base == OPAQUE_MARKER:
        return Action("opaque", parent)
    if base.startswith(WHITEOUT_PREFIX):
        target = base[len(WHITEOUT_PREFIX):]
        if target in ("", ".", ".."):
            raise UnsafeEntry("whiteout of an invalid name")
        return Action("whiteout", posixpath.join(parent, target))
    return Action("entry", path)


def is_allowed_xattr(key: str) -> bool:
    """Layer xattrs we apply: never overlayfs's own (a layer must not forge whiteouts or
    redirects), and not SELinux labels (the host's policy decides those)."""
    if key.startswith("trusted.overlay.") or key == "security.selinux":
        return False
    return key.split(".", 1)[0] in ("user", "trusted", "security")


# -- openat2 -------------------------------------------------------------------------------

_SYS_OPENAT2 = 437          # same number on x86_64 and aarch64 (generic syscall table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
O_PATH = getattr(os, "O_PATH", 0o10000000)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long


def openat2(dirfd: int, path: str, flags: int, resolve: int = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
            mode: int = 0) -> int:
    """openat2(2); raises OSError like os.open."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = _libc.syscall(_SYS_OPENAT2, ctypes.c_int(dirfd), os.fsencode(path or "."),
                       ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return fd


# -- the applier ---------------------------------------------------------------------------


class LayerApplier:
    """Writes entries into `root` (a snapshot's upper dir). Not thread-safe; one per layer."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._dir_times: list[tuple[str, int]] = []
        self._parents: dict[str, int] = {}   # resolved parent dir fds, dropped on any change
        self._stale = False
        self.entries = 0

    def close(self) -> None:
        self._drop_cache()
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    def _drop_cache(self) -> None:
        for fd in self._parents.values():
            os.close(fd)
        self._parents.clear()

    # Resolution --------------------------------------------------------------------------
    def _open_dir(self, path: str) -> int:
        """An O_PATH fd of directory `path` resolved inside the root, creating missing ones."""
        if not path:
            return self.root_fd
        cached = self._parents.get(path)
        if cached is not None:
            return cached
        try:
            fd = openat2(self.root_fd, path, O_PATH | os.O_DIRECTORY)
        except FileNotFoundError:
            parent, base = posixpath.split(path)
            pfd = self._open_dir(parent)
            try:
                os.mkdir(base, 0o755, dir_fd=pfd)
            except FileExistsError:
                # A dangling symlink (or a race with ourselves): the path exists but does not
                # resolve to a directory inside the layer. Refuse rather than follow it.
                raise UnsafeEntry(f"parent {path!r} is a symlink that does not resolve "
                                  "to a directory inside the layer") from None
            fd = openat2(self.root_fd, path, O_PATH | os.O_DIRECTORY)
        except NotADirectoryError:
            raise UnsafeEntry(f"parent {path!r} is not a directory") from None
        if len(self._parents) > 256:
            self._drop_cache()
        self._parents[path] = fd
        return fd

    def _clear(self, pfd: int, base: str, *, keep_dir: bool) -> bool:
        """Remove what is at `base` in `pfd` (never following it). Returns True if a directory
        was kept because the new entry is a directory too."""
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            self._stale = True
            shutil.rmtree(base, dir_fd=pfd)
        else:
            if stat.S_ISLNK(st.st_mode):
                self._stale = True
            os.unlink(base, dir_fd=pfd)
        return False

    # Entries -----------------------------------------------------------------------------
    def apply(self, entry: TarEntry, reader: TarReader) -> None:
        try:
            self._apply(entry, reader)
        finally:
            # A symlink made or a directory removed can change what cached paths resolve to.
            if self._stale:
                self._drop_cache()
                self._stale = False

    def _apply(self, entry: TarEntry, reader: TarReader) -> None:
        action = classify(entry.name)
        self.entries += 1
        if action.kind == "opaque":
            self._open_dir(action.path)  # made if missing; refused if it resolves nowhere
            fd = openat2(self.root_fd, action.path, os.O_RDONLY | os.O_DIRECTORY) if action.path \
                else os.dup(self.root_fd)
            try:
                os.setxattr(fd, OPAQUE_XATTR, b"y")
            finally:
                os.close(fd)
            return
        parent, base = posixpath.split(action.path)
        if action.kind == "whiteout":
            pfd = self._open_dir(parent)
            self._clear(pfd, base, keep_dir=False)
            os.mknod(base, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
            os.chown(base, entry.uid, entry.gid, dir_fd=pfd, follow_symlinks=False)
            return
        if not base:
            if entry.type != tarfile.DIRTYPE:
                raise UnsafeEntry("only a directory may name the layer root")
            self._set_dir_attrs(self.root_fd, "", entry)
            return
        pfd = self._open_dir(parent)
        kind = entry.type
        if kind == tarfile.DIRTYPE:
            if not self._clear(pfd, base, keep_dir=True):
                os.mkdir(base, 0o700, dir_fd=pfd)
            fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            try:
                self._set_dir_attrs(fd, action.path, entry)
            finally:
                os.close(fd)
            return
        self._clear(pfd, base, keep_dir=False)
        if kind in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=pfd)
            try:
                reader.copy_to(fd)
                if entry.size >= WRITEBACK_MIN:
                    start_writeback(fd)
                os.fchown(fd, entry.uid, entry.gid)
                os.fchmod(fd, entry.mode)  # after chown, which clears setuid/setgid
                self._set_xattrs(fd, entry)
                os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
            finally:
                os.close(fd)
        elif kind == tarfile.SYMTYPE:
            os.symlink(entry.linkname, base, dir_fd=pfd)
            self._stale = True
            os.chown(base, entry.uid, entry.gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(base, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=pfd, follow_symlinks=False)
        elif kind == tarfile.LNKTYPE:
            self._hardlink(pfd, base, entry)
        elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
            fmt = {tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK,
                   tarfile.FIFOTYPE: stat.S_IFIFO}[kind]
            os.mknod(base, fmt | 0o600, os.makedev(entry.devmajor, entry.devminor), dir_fd=pfd)
            fd = os.open(base, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            try:
                os.chown(base, entry.uid, entry.gid, dir_fd=pfd, follow_symlinks=False)
                # chmod through /proc/self/fd: the node was just made by us, no symlink race.
                os.chmod(f"/proc/self/fd/{fd}", entry.mode)
                os.utime(base, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(fd)
        else:
            raise UnsafeEntry(f"unsupported tar entry type {kind!r}")

    def _hardlink(self, pfd: int, base: str, entry: TarEntry) -> None:
        target = member_path(entry.linkname)
        if not target:
            raise UnsafeEntry("hard link to the layer root")
        try:
            tfd = openat2(self.root_fd, target, O_PATH | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise UnsafeEntry(f"hard link target {entry.linkname!r} is not in the layer") from None
        try:
            if stat.S_ISDIR(os.fstat(tfd).st_mode):
                raise UnsafeEntry(f"hard link to directory {entry.linkname!r}")
            # linkat through the magic link links the inode we resolved inside the root.
            os.link(f"/proc/self/fd/{tfd}", base, dst_dir_fd=pfd, follow_symlinks=True)
        finally:
            os.close(tfd)

    def _set_dir_attrs(self, fd: int, path: str, entry: TarEntry) -> None:
        os.fchown(fd, entry.uid, entry.gid)
        os.fchmod(fd, entry.mode)
        self._set_xattrs(fd, entry)
        self._dir_times.append((path, entry.mtime_ns))

    def _set_xattrs(self, fd: int, entry: TarEntry) -> None:
        for key, value in entry.xattrs.items():
            if is_allowed_xattr(key):
                os.setxattr(fd, key, value)

    def finish(self) -> None:
        """Set directory mtimes, deepest last-written first."""
        for path, mtime_ns in reversed(self._dir_times):
            try:
                fd = openat2(self.root_fd, path, O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW) if path \
                    else os.dup(self.root_fd)
            except OSError:
                continue  # replaced or whited out later in the layer
            try:
                os.utime(f"/proc/self/fd/{fd}", ns=(mtime_ns, mtime_ns))
            finally:
                os.close(fd)


def apply_layer(root: str, chunks: Iterator[bytes], *, what: str) -> int:
    """Unpack the tar stream `chunks` into directory `root`; returns the number of entries.

    `what` names the layer in errors (e.g. "layer sha256:…"). Reads the stream to its end.

    Raises:
        errdefs.InvalidArgument: an unsafe or malformed entry (named), or a malformed tar.
    """
    return apply_entries(TarReader(chunks), LayerApplier(root), what=what)


def apply_entries(reader: TarReader, applier: "LayerApplier", *, what: str,
                  admit: Optional[Callable[[TarEntry], bool]] = None) -> int:
    """Apply every entry of `reader` through `applier` (closed at the end); the number applied.

    Shared by layer unpacking and `docker cp` into a container. `admit(entry)` may adjust an
    entry, return False to skip it, or raise UnsafeEntry. Every failure becomes an errdefs
    error naming `what` and the entry.
    """
    entry: Optional[TarEntry] = None
    try:
        while True:
            entry = reader.next_entry()
            if entry is None:
                break
            if admit is not None and not admit(entry):
                continue
            applier.apply(entry, reader)
        applier.finish()
        reader.drain()
        return applier.entries
    except UnsafeEntry as exc:
        name = entry.name if entry is not None else "?"
        raise errdefs.InvalidArgument(f"{what}: refused entry {name!r}: {exc}") from None
    except TarFormatError as exc:
        at = f" after entry {entry.name!r}" if entry is not None else ""
        raise errdefs.InvalidArgument(f"{what}: malformed tar{at}: {exc}") from None
    except OSError as exc:
        name = entry.name if entry is not None else "?"
        if exc.errno in (errno.ELOOP, errno.EXDEV, errno.ENOTDIR):
            raise errdefs.InvalidArgument(f"{what}: refused entry {name!r}: {exc.strerror}") from None
        raise errdefs.from_oserror(exc, f"{what}: entry {name!r}") from exc
    finally:
        applier.close()
