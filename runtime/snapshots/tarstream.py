"""A streaming tar reader over an iterator of byte chunks: headers in, file data out to fds.

Who calls it: `runtime.snapshots.unpack` (layer extraction). Faster than `tarfile`'s stream
mode for our use: file data goes from the decompressor's chunks straight to os.write without
re-buffering, and headers are parsed with `tarfile.TarInfo.frombuf` (ustar, GNU, base-256)
plus our own handling of PAX ('x'/'g') and GNU long names ('L'/'K'). Sparse files are refused.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass, field
from typing import Iterator, Optional


BLOCK = 512


@dataclass
class TarEntry:
    name: str
    type: bytes                     # tarfile.REGTYPE, DIRTYPE, SYMTYPE, LNKTYPE, CHRTYPE, …
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


_HEADER_ONLY = (tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE,
                tarfile.DIRTYPE, tarfile.FIFOTYPE)


class TarFormatError(Exception):
    """The stream is not a well-formed tar (reported with the entry it happened at)."""


def _parse_pax(data: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise TarFormatError("malformed PAX header")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarFormatError("malformed PAX record length") from None
        if length <= 0 or pos + length > len(data):
            raise TarFormatError("malformed PAX record length")
        record = data[space + 1: pos + length - 1]  # strip trailing "\n"
        key, eq, value = record.partition(b"=")
        if not eq:
            raise TarFormatError("malformed PAX record")
        out[key.decode("utf-8", "surrogateescape")] = value
        pos += length
    return out


def _pax_time_ns(value: bytes) -> int:
    text = value.decode()
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    ns = int(whole or "0") * 1_000_000_000 + int((frac + "000000000")[:9] or "0")
    return -ns if negative else ns


class TarReader:
    """Iterate entries with `next_entry()`; consume each entry's data with `copy_to`/`skip`."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = memoryview(b"")
        self._pending = 0          # data bytes of the current entry not consumed yet
        self._padding = 0
        self.global_pax: dict[str, bytes] = {}

    # -- raw stream --------------------------------------------------------------------------
    def _fill(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._buf = memoryview(chunk)
                return True
        return False

    def _read(self, n: int) -> bytes:
        parts = []
        while n > 0:
            if not self._buf and not self._fill():
                raise TarFormatError("unexpected end of tar stream")
            take = self._buf[:n]
            parts.append(take.tobytes())
            self._buf = self._buf[len(take):]
            n -= len(take)
        return b"".join(parts)

    def _skip(self, n: int) -> None:
        while n > 0:
            if not self._buf and not self._fill():
                raise TarFormatError("unexpected end of tar stream")
            step = min(n, len(self._buf))
            self._buf = self._buf[step:]
            n -= step

    def drain(self) -> None:
        """Consume the rest of the stream (so every byte gets hashed)."""
        self._buf = memoryview(b"")
        for _ in self._chunks:
            pass

    # -- entry data --------------------------------------------------------------------------
    def copy_to(self, fd: int) -> None:
        """Write the current entry's data to `fd`."""
        n = self._pending
        while n > 0:
            if not self._buf and not self._fill():
                raise TarFormatError("unexpected end of tar stream inside file data")
            view = self._buf[:n]
            written = os.write(fd, view)
            self._buf = self._buf[written:]
            n -= written
        self._pending = 0

    def read_data(self) -> bytes:
        data = self._read(self._pending)
        self._pending = 0
        return data

    def _finish_entry(self) -> None:
        self._skip(self._pending + self._padding)
        self._pending = self._padding = 0

    # -- headers -----------------------------------------------------------------------------
    def next_entry(self) -> Optional[TarEntry]:
        """The next entry (after skipping unread data of the previous one), or None at the end."""
        self._finish_entry()
        pax: dict[str, bytes] = {}
        long_name: Optional[str] = None
        long_link: Optional[str] = None
        while True:
            if not self._buf and not self._fill():
                return None  # no end-of-archive blocks: tolerated, as GNU tar does
            header = self._read(BLOCK)
            if header.count(0) == BLOCK:
                return None
            try:
                info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
            except tarfile.HeaderError as exc:
                raise TarFormatError(f"bad tar header: {exc}") from None
            size = info.size
            padded = (size + BLOCK - 1) // BLOCK * BLOCK
            if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE):
                records = _parse_pax(self._read(size))
                self._skip(padded - size)
                if info.type == tarfile.XGLTYPE:
                    self.global_pax.update(records)
                else:
                    pax.update(records)
                continue
            if info.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
                text = self._read(size).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                self._skip(padded - size)
                if info.type == tarfile.GNUTYPE_LONGNAME:
                    long_name = text
                else:
                    long_link = text
                continue
            if info.type == tarfile.GNUTYPE_SPARSE:
                raise TarFormatError(f"{info.name}: sparse files are not supported")
            return self._entry(info, {**self.global_pax, **pax}, long_name, long_link)

    def _entry(self, info: tarfile.TarInfo, pax: dict[str, bytes],
               long_name: Optional[str], long_link: Optional[str]) -> TarEntry:
        name = long_name if long_name is not None else info.name
        link = long_link if long_link is not None else info.linkname
        size, uid, gid, mtime_ns = info.size, info.uid, info.gid, int(info.mtime) * 1_000_000_000
        xattrs: dict[str, bytes] = {}
        for key, value in pax.items():
            if key == "path":
                name = value.decode("utf-8", "surrogateescape")
            elif key == "linkpath":
                link = value.decode("utf-8", "surrogateescape")
            elif key == "size":
                size = int(value)
            elif key == "uid":
                uid = int(value)
            elif key == "gid":
                gid = int(value)
            elif key == "mtime":
                mtime_ns = _pax_time_ns(value)
            elif key.startswith("SCHILY.xattr."):
                xattrs[key[len("SCHILY.xattr."):]] = value
            elif key.startswith("LIBARCHIVE.xattr."):
                import base64
                import urllib.parse
                xattrs[urllib.parse.unquote(key[len("LIBARCHIVE.xattr."):])] = base64.b64decode(value + b"==")
            elif key.startswith("GNU.sparse."):
                raise TarFormatError(f"{name}: sparse files are not supported")
        # Header-only types carry no data whatever their size field says (as Go's archive/tar
        # and tarfile read them); everything else is followed by `size` bytes, padded.
        if info.type in _HEADER_ONLY:
            size = 0
        self._pending = size
        self._padding = (size + BLOCK - 1) // BLOCK * BLOCK - size
        return TarEntry(name, info.type, info.mode & 0o7777, uid, gid, size, mtime_ns, link,
                        info.devmajor, info.devminor, xattrs)
