"""Start the kernel's writeback of file data early, without waiting for it.

Who calls it: the content store's ingest (every few MiB of a blob) and layer unpacking (each
big file); it lives outside both packages, which the layering contract keeps independent. A pull writes a blob and its unpacked files at network speed; on a disk, the
blob's fsync at commit (and a later sync) would then wait for all of it at the end, in
series with everything else. sync_file_range(SYNC_FILE_RANGE_WRITE) queues the pages as they
are written, so the disk works while the download goes on and the final fsync finds little
left. It promises nothing about durability (fsync still does that) and is a no-op on tmpfs.
"""

from __future__ import annotations

import ctypes
import ctypes.util

SYNC_FILE_RANGE_WRITE = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_sync_file_range = getattr(_libc, "sync_file_range", None)
if _sync_file_range is not None:
    _sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    _sync_file_range.restype = ctypes.c_int


def start_writeback(fd: int, offset: int = 0, length: int = 0) -> None:
    """Queue the dirty pages of `fd` in [offset, offset+length) (length 0: to the end) for
    writing. Best effort: failures (unsupported filesystem, old libc) are ignored."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE)
