"""The streaming tar reader: PAX and GNU long names, xattrs, header-only types, bad input."""

import io
import os
import tarfile

import pytest

from runtime.snapshots.tarstream import TarFormatError, TarReader


def _tar(members, fmt):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def _info(name, kind=tarfile.REGTYPE, size=0, **kw):
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    for key, value in kw.items():
        setattr(info, key, value)
    return info


def _entries(blob, chunk=333):
    reader = TarReader(iter([blob[i:i + chunk] for i in range(0, len(blob), chunk)]))
    out = []
    while (entry := reader.next_entry()) is not None:
        data = reader.read_data()
        out.append((entry, data))
    reader.drain()
    return out


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_long_names_and_links(fmt):
    long = "d/" + "x" * 150 + "/file"
    link = "t/" + "y" * 120
    blob = _tar([(_info(long, size=5, mode=0o4755, uid=1000, gid=2000, mtime=12345), b"hello"),
                 (_info("sym", tarfile.SYMTYPE, linkname=link), None),
                 (_info("hard", tarfile.LNKTYPE, linkname=long), None)], fmt)
    (e1, d1), (e2, _), (e3, _) = _entries(blob)
    assert (e1.name, e1.mode, e1.uid, e1.gid, e1.mtime_ns, d1) == (long, 0o4755, 1000, 2000, 12345 * 10**9, b"hello")
    assert e2.type == tarfile.SYMTYPE and e2.linkname == link
    assert e3.type == tarfile.LNKTYPE and e3.linkname == long


def test_pax_xattrs_and_fractional_mtime():
    info = _info("f", size=1)
    info.pax_headers = {"SCHILY.xattr.user.k": "v", "mtime": "1700000000.123456789"}
    (entry, data), = _entries(_tar([(info, b"z")], tarfile.PAX_FORMAT))
    assert entry.xattrs == {"user.k": b"v"} and entry.mtime_ns == 1_700_000_000_123_456_789 and data == b"z"


def test_unread_data_is_skipped_and_stream_drained():
    blob = _tar([(_info("a", size=1000), os.urandom(1000)), (_info("b", size=3), b"abc")], tarfile.PAX_FORMAT)
    reader = TarReader(iter([blob]))
    assert reader.next_entry().name == "a"
    entry = reader.next_entry()
    assert entry.name == "b" and reader.read_data() == b"abc"
    assert reader.next_entry() is None


def test_truncated_stream_is_an_error():
    blob = _tar([(_info("a", size=5000), os.urandom(5000))], tarfile.PAX_FORMAT)
    reader = TarReader(iter([blob[:2000]]))
    reader.next_entry()
    with pytest.raises(TarFormatError):
        reader.read_data()


def test_garbage_header_is_an_error():
    with pytest.raises(TarFormatError):
        TarReader(iter([b"not a tar header" * 40])).next_entry()
