"""Upload helpers: chunking of a source, the session offset from a Range header."""

import io

from runtime.registry.upload import iter_source, rechunk, upload_offset


def test_rechunk_regroups_pieces():
    assert list(rechunk([b"ab", b"cde", b"f"], 4)) == [b"abcd", b"ef"]
    assert list(rechunk([b"abcdefgh"], 4)) == [b"abcd", b"efgh"]
    assert list(rechunk([], 4)) == []


def test_iter_source_accepts_bytes_files_and_iterables():
    assert list(iter_source(b"xyz", 2)) == [b"xyz"]
    assert list(iter_source(io.BytesIO(b"abcde"), 2)) == [b"ab", b"cd", b"e"]
    assert list(iter_source(iter([b"a", b"b"]), 2)) == [b"a", b"b"]


def test_upload_offset_from_range():
    assert upload_offset("0-4095", expected=4096) == 4096
    assert upload_offset("0-0", expected=0) == 0     # empty session
    assert upload_offset("0-0", expected=1) == 1     # one byte
    assert upload_offset(None, expected=0) is None
    assert upload_offset("bytes=0-10", expected=0) is None
    assert upload_offset("5-10", expected=0) is None
