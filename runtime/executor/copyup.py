"""Volume copy-up: an image directory's content copied into a fresh named volume, as Docker does.

Called from LinuxSyscalls.copy_tree (child.populate_volumes, in the container's mount namespace
before the volume hides the image path). Every entry is recreated as what it is (lstat, never
followed): directories, regular files (the only data copied), symlinks, character and block
devices, fifos and sockets (mknod), hard links kept as links. Destinations are created relative
to an open directory fd with O_NOFOLLOW|O_EXCL (openat-style): a symlink planted in the volume
(by another container sharing it) is never followed, and an existing entry is left as it is.
Owners, modes, mtimes and xattrs are kept.
"""

from __future__ import annotations

import errno
import os
import stat

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SKIP = (errno.EEXIST, errno.ELOOP, errno.ENOTDIR)  # something is already there: never replace or follow it


def copy_tree(src: str, dst: str) -> None:
    """Copy src's content into dst (an existing directory). Raises OSError."""
    sfd = os.open(src, _DIR)
    try:
        dfd = os.open(dst, _DIR)
        try:
            _copy_dir(sfd, dfd, "", dfd, {})
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def _copy_dir(sfd: int, dfd: int, rel: str, root_fd: int, links: dict) -> None:
    for name in os.listdir(sfd):
        st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
        path = f"{rel}/{name}" if rel else name
        try:
            _copy_entry(sfd, dfd, name, st, path, root_fd, links)
        except OSError as exc:
            if exc.errno not in _SKIP:
                raise


def _copy_entry(sfd: int, dfd: int, name: str, st: os.stat_result, path: str, root_fd: int, links: dict) -> None:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        try:
            os.mkdir(name, 0o700, dir_fd=dfd)
        except FileExistsError:
            pass  # an existing real directory is merged into; a symlink fails the O_NOFOLLOW open below
        cs = os.open(name, _DIR, dir_fd=sfd)
        try:
            cd = os.open(name, _DIR, dir_fd=dfd)
            try:
                _copy_dir(cs, cd, path, root_fd, links)
                _meta_fd(cs, cd, st)
            finally:
                os.close(cd)
        finally:
            os.close(cs)
        return
    key = (st.st_dev, st.st_ino)
    if st.st_nlink > 1 and key in links:
        # A hard link inside the copied tree stays a link (linkat relative to the volume's root fd).
        os.link(links[key], name, src_dir_fd=root_fd, dst_dir_fd=dfd, follow_symlinks=False)
        return
    if stat.S_ISREG(mode):
        fin = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sfd)
        try:
            fout = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
            try:
                _copy_data(fin, fout, st.st_size)
                _meta_fd(fin, fout, st)
            finally:
                os.close(fout)
        finally:
            os.close(fin)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dfd, follow_symlinks=False)
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dfd, follow_symlinks=False)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        # Recreated, never opened: reading a device or a fifo could block forever.
        os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=dfd)
        _meta_path(dfd, name, st)
    else:
        return
    if st.st_nlink > 1:
        links[key] = path


def _copy_data(fin: int, fout: int, size: int) -> None:
    left = size
    while left > 0:
        try:
            n = os.copy_file_range(fin, fout, min(left, 1 << 30))
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            n = os.sendfile(fout, fin, None, min(left, 1 << 30))
        if n == 0:
            break  # the file shrank under us
        left -= n


def _meta_fd(sfd: int, dfd: int, st: os.stat_result) -> None:
    # Owner before mode: chown clears set-id bits.
    os.fchown(dfd, st.st_uid, st.st_gid)
    os.fchmod(dfd, stat.S_IMODE(st.st_mode))
    _xattrs(sfd, dfd)
    os.utime(dfd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _meta_path(dfd: int, name: str, st: os.stat_result) -> None:
    # A node we just created with mknod (O_EXCL-like: mknod never follows); no fd to it can be opened safely.
    os.chown(name, st.st_uid, st.st_gid, dir_fd=dfd, follow_symlinks=False)
    if not os.path.islink(f"/proc/self/fd/{dfd}/{name}"):
        os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dfd)
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dfd, follow_symlinks=False)


def _xattrs(sfd: int, dfd: int) -> None:
    try:
        names = os.listxattr(sfd)
    except OSError:
        return
    for attr in names:
        try:
            os.setxattr(dfd, attr, os.getxattr(sfd, attr))
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EACCES, errno.ENODATA):
                raise
