"""File-system side of `docker cp`: stat a path, tar it out, extract a tar in — all resolved
inside a container's root, never outside it.

Who calls it: `runtime.services.archive` (HEAD/GET/PUT /containers/{id}/archive), with an fd of
the container's root (/proc/<pid>/root of a running container, or its mounted snapshot).

Safety: every lookup from the root fd goes through openat2(RESOLVE_IN_ROOT) (the helper of
`runtime.snapshots.unpack`), so a symlink to "/" or "../../.." in the path resolves *inside*
the container, as Docker's FollowSymlinkInScope does. The tar walk below the resolved path
opens children with O_NOFOLLOW relative to their parent's fd, so symlinks are archived as
symlinks and never followed. Extraction reuses `unpack.LayerApplier` rooted at the destination
directory's fd, which gives it the same guarantees as image layer extraction.
"""

from __future__ import annotations

import datetime
import os
import posixpath
import stat
import tarfile
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Optional

from runtime import errdefs
from runtime.snapshots.tarstream import TarEntry, TarReader
from runtime.snapshots.unpack import (O_PATH, WHITEOUT_PREFIX, LayerApplier, UnsafeEntry, apply_entries,
                                      member_path, openat2)

# -- pure decisions ------------------------------------------------------------------------

# Go's os.FileMode type bits (what the Docker CLI decodes from X-Docker-Container-Path-Stat).
GO_MODE_DIR = 1 << 31
GO_MODE_APPEND = 1 << 30
GO_MODE_SYMLINK = 1 << 27
GO_MODE_DEVICE = 1 << 26
GO_MODE_NAMED_PIPE = 1 << 25
GO_MODE_SOCKET = 1 << 24
GO_MODE_SETUID = 1 << 23
GO_MODE_SETGID = 1 << 22
GO_MODE_CHAR_DEVICE = 1 << 21
GO_MODE_STICKY = 1 << 20

CHUNK = 1 << 20
BLOCK = 512


def go_file_mode(st_mode: int) -> int:
    """POSIX st_mode → Go os.FileMode bits (as Go's os.fillFileStatFromSys computes them)."""
    mode = st_mode & 0o777
    fmt = stat.S_IFMT(st_mode)
    if fmt == stat.S_IFDIR:
        mode |= GO_MODE_DIR
    elif fmt == stat.S_IFLNK:
        mode |= GO_MODE_SYMLINK
    elif fmt == stat.S_IFBLK:
        mode |= GO_MODE_DEVICE
    elif fmt == stat.S_IFCHR:
        mode |= GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE
    elif fmt == stat.S_IFIFO:
        mode |= GO_MODE_NAMED_PIPE
    elif fmt == stat.S_IFSOCK:
        mode |= GO_MODE_SOCKET
    if st_mode & stat.S_ISUID:
        mode |= GO_MODE_SETUID
    if st_mode & stat.S_ISGID:
        mode |= GO_MODE_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= GO_MODE_STICKY
    return mode


def rfc3339(mtime_ns: int) -> str:
    """Go's time.Time JSON form (RFC 3339 with nanoseconds, trailing zeros dropped), UTC."""
    seconds, nanos = divmod(mtime_ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{base}{frac}Z"


def follows_last(path: str) -> bool:
    """Docker resolves the last component too when the path ends in "/" or "/." (then a
    symlink there means its target); otherwise the last component itself is meant."""
    return path.endswith("/") or path.endswith("/.") or path in ("", ".")


def clean(path: str) -> str:
    """The container path as an absolute, normalised path ("/" for the root)."""
    return posixpath.normpath("/" + path.lstrip("/"))


def rebase_name(path: str) -> str:
    """Name of the top tar entry for GET archive of `path` (Docker: filepath.Base of the
    request path, keeping a trailing "/." as "."): /etc/hosts → "hosts", /etc/ → "etc",
    /etc/. → "." (the directory's contents); the root is archived as ".".
    """
    if path.endswith("/.") or path in (".", "/."):
        return "."
    base = posixpath.basename(clean(path))
    return base or "."


def link_target(path: str, target: str) -> str:
    """Absolute (in-container) target of symlink `path` pointing at `target`, as Docker's
    linkTarget (the CLI uses it for `cp -L`)."""
    if target.startswith("/"):
        return clean(target)
    return clean(posixpath.join(posixpath.dirname(clean(path)), target))


def stat_record(name: str, st: os.stat_result, target: str = "") -> dict:
    """The X-Docker-Container-Path-Stat JSON object."""
    return {"name": name, "size": st.st_size, "mode": go_file_mode(st.st_mode),
            "mtime": rfc3339(st.st_mtime_ns), "linkTarget": target}


def tar_type(st_mode: int) -> Optional[bytes]:
    fmt = stat.S_IFMT(st_mode)
    return {stat.S_IFREG: tarfile.REGTYPE, stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE,
            stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE,
            stat.S_IFIFO: tarfile.FIFOTYPE}.get(fmt)  # sockets are skipped, as Docker does


def tar_header(name: str, st: os.stat_result, *, linkname: str = "", hardlink: bool = False) -> bytes:
    """One PAX tar header for `name` with the mode, owner and mtime of `st`."""
    info = tarfile.TarInfo(name + "/" if stat.S_ISDIR(st.st_mode) and name != "." else name)
    info.type = tarfile.LNKTYPE if hardlink else tar_type(st.st_mode)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = st.st_mtime_ns // 1_000_000_000
    info.size = st.st_size if info.type == tarfile.REGTYPE else 0
    info.linkname = linkname
    if info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


# -- resolution inside a root --------------------------------------------------------------


@dataclass
class Node:
    """A resolved path: `fd` is an O_PATH fd of it (the symlink itself when not followed);
    `parent_fd`/`base` let us readlink it."""
    path: str
    fd: int
    st: os.stat_result
    parent_fd: int = -1
    base: str = ""

    def close(self) -> None:
        for fd in (self.fd, self.parent_fd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.parent_fd = -1


def locate(root_fd: int, path: str, *, follow: Optional[bool] = None) -> Node:
    """Resolve container path `path` inside `root_fd` (Docker's rules: intermediate symlinks are
    followed inside the root; the last one only when `follow_last`).

    Raises:
        FileNotFoundError / NotADirectoryError: nothing there (or not a directory where a
            trailing "/" asks for one).
    """
    follow = follows_last(path) if follow is None else follow
    abs_path = clean(path)
    if follow or abs_path == "/":
        # A trailing "/" asserts a directory, as lstat("file/") does.
        flags = O_PATH | (os.O_DIRECTORY if path.endswith("/") or path.endswith("/.") else 0)
        fd = openat2(root_fd, abs_path, flags)
        return Node(abs_path, fd, os.fstat(fd))
    parent, base = posixpath.split(abs_path)
    pfd = openat2(root_fd, parent, O_PATH | os.O_DIRECTORY)
    try:
        fd = os.open(base, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
    except BaseException:
        os.close(pfd)
        raise
    return Node(abs_path, fd, os.fstat(fd), pfd, base)


def path_stat(root_fd: int, path: str) -> dict:
    """X-Docker-Container-Path-Stat of `path`. Raises FileNotFoundError."""
    node = locate(root_fd, path)
    try:
        target = ""
        if stat.S_ISLNK(node.st.st_mode):
            target = link_target(node.path, os.readlink(node.base, dir_fd=node.parent_fd))
        name = posixpath.basename(node.path) or "/"
        return stat_record(name, node.st, target)
    finally:
        node.close()


# -- tar out -------------------------------------------------------------------------------


def _pad(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def _file_chunks(fd: int, size: int) -> Iterator[bytes]:
    """Exactly `size` bytes of `fd` (padded with zeros if the file shrank meanwhile, so the
    archive stays well-formed), then the block padding."""
    left = size
    while left > 0:
        data = os.read(fd, min(CHUNK, left))
        if not data:
            yield b"\0" * left
            break
        left -= len(data)
        yield data
    yield _pad(size)


def iter_archive(root_fd: int, path: str) -> Iterator[bytes]:
    """A tar stream of container path `path` (a file, a symlink or a directory, recursively),
    named from `rebase_name(path)`, in chunks of at most ~1 MiB: nothing is held in memory.

    Raises (before the first chunk):
        FileNotFoundError: the path does not exist in the container.
    """
    node = locate(root_fd, path)
    return _archive(node, rebase_name(path))


def _archive(node: Node, top: str) -> Iterator[bytes]:
    seen: dict[tuple[int, int], str] = {}
    try:
        st = node.st
        if stat.S_ISDIR(st.st_mode):
            dfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=node.fd)
            yield tar_header(top, st)
            yield from _walk(dfd, top, seen)
        elif stat.S_ISLNK(st.st_mode):
            yield tar_header(top, st, linkname=os.readlink(node.base, dir_fd=node.parent_fd))
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(f"/proc/self/fd/{node.fd}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                yield tar_header(top, st)
                yield from _file_chunks(fd, st.st_size)
            finally:
                os.close(fd)
        elif tar_type(st.st_mode) is not None:
            yield tar_header(top, st)
        yield b"\0" * (2 * BLOCK)
    finally:
        node.close()


def _walk(dfd: int, prefix: str, seen: dict[tuple[int, int], str]) -> Iterator[bytes]:
    """Entries below directory fd `dfd` (closed here), depth first, sorted by name."""
    try:
        names = sorted(os.listdir(dfd))
        for name in names:
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we walk (a running container)
            entry = f"{prefix}/{name}" if prefix != "." else name
            kind = tar_type(st.st_mode)
            if kind is None:
                continue
            if stat.S_ISDIR(st.st_mode):
                try:
                    child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                yield tar_header(entry, st)
                yield from _walk(child, entry, seen)
            elif stat.S_ISLNK(st.st_mode):
                yield tar_header(entry, st, linkname=os.readlink(name, dir_fd=dfd))
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen:
                    yield tar_header(entry, st, linkname=seen[key], hardlink=True)
                    continue
                try:
                    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
                except FileNotFoundError:
                    continue
                try:
                    st = os.fstat(fd)
                    if st.st_nlink > 1:
                        seen[key] = entry
                    yield tar_header(entry, st)
                    yield from _file_chunks(fd, st.st_size)
                finally:
                    os.close(fd)
            else:
                yield tar_header(entry, st)
    finally:
        os.close(dfd)


# -- tar in --------------------------------------------------------------------------------


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        data = stream.read(CHUNK)
        if not data:
            return
        yield data


def _existing_kind(root_fd: int, path: str) -> Optional[bool]:
    """True if `path` (resolved in root, last component not followed) is a directory, False if
    it is something else, None if absent."""
    parent, base = posixpath.split(path)
    if not base:
        return True
    try:
        pfd = openat2(root_fd, parent, O_PATH | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    finally:
        os.close(pfd)
    return stat.S_ISDIR(st.st_mode)


def extract(root_fd: int, path: str, stream: BinaryIO, *, no_overwrite_dir_non_dir: bool,
            copy_uid_gid: bool, what: str) -> int:
    """Unpack the tar `stream` into directory `path` of the container root `root_fd` (the
    directory itself resolved inside the root, following symlinks as Docker does). Entries are
    owned by root unless `copy_uid_gid`. Returns the number of entries.

    Raises:
        FileNotFoundError: `path` does not exist.
        errdefs.InvalidArgument: `path` is not a directory; an unsafe or malformed entry (named);
            a directory/non-directory overwrite with `no_overwrite_dir_non_dir`.
    """
    node = locate(root_fd, path, follow=True)
    try:
        if not stat.S_ISDIR(node.st.st_mode):
            raise errdefs.InvalidArgument(f"extraction point is not a directory: {clean(path)}")
        applier = LayerApplier(f"/proc/self/fd/{node.fd}")
    finally:
        node.close()
    def admit(entry: TarEntry) -> bool:
        rel = member_path(entry.name)
        if posixpath.basename(rel).startswith(WHITEOUT_PREFIX):
            # The layer applier would turn these into overlay whiteouts.
            raise UnsafeEntry(f"names starting with {WHITEOUT_PREFIX!r} are not supported by docker cp here")
        if no_overwrite_dir_non_dir:
            is_dir = _existing_kind(applier.root_fd, rel)
            new_dir = entry.type == tarfile.DIRTYPE
            if is_dir is True and not new_dir:
                raise UnsafeEntry(f"cannot overwrite directory {clean(rel)!r} with non-directory")
            if is_dir is False and new_dir:
                raise UnsafeEntry(f"cannot overwrite non-directory {clean(rel)!r} with directory")
        if not copy_uid_gid:
            entry.uid = entry.gid = 0
        # "./" names the destination itself: leave its owner and mode alone.
        return bool(rel) or entry.type != tarfile.DIRTYPE

    return apply_entries(TarReader(_chunks(stream)), applier, what=what, admit=admit)
