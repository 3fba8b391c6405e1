"""gunzip without CRC (for layers whose diff id is checked): the same bytes and the same
refusals as zlib's own gzip reader, whatever the chunking, header fields, member count,
padding or truncation. Pure logic."""

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.images.stream import DecompressError, _gunzip, _gunzip_unchecked, gzip_header_length


def member(data: bytes, *, name: bytes = b"", comment: bytes = b"", extra: bytes = b"", hcrc: bool = False,
           level: int = 6) -> bytes:
    flags = (0x08 if name else 0) | (0x10 if comment else 0) | (0x04 if extra else 0) | (0x02 if hcrc else 0)
    header = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\0\xff"
    if extra:
        header += struct.pack("<H", len(extra)) + extra
    if name:
        header += name + b"\0"
    if comment:
        header += comment + b"\0"
    if hcrc:
        header += struct.pack("<H", zlib.crc32(header) & 0xFFFF)
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    return header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def chunked(blob: bytes, cuts: list[int]) -> list[memoryview]:
    points = sorted({c % (len(blob) + 1) for c in cuts} | {0, len(blob)})
    return [memoryview(blob)[a:b] for a, b in zip(points, points[1:])]


def run(fn, chunks):
    try:
        return b"".join(bytes(x) for x in fn(iter(chunks)))
    except DecompressError:
        return DecompressError


members = st.lists(st.tuples(st.binary(max_size=3000), st.binary(max_size=20).filter(lambda b: b"\0" not in b),
                             st.binary(max_size=20), st.booleans(), st.sampled_from([0, 1, 9])),
                   min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(members, st.lists(st.integers(min_value=0, max_value=20000), max_size=6), st.integers(0, 40))
def test_same_output_as_zlib_for_any_chunking_headers_and_padding(parts, cuts, padding):
    blob = b"".join(member(d, name=n, extra=e, hcrc=h, level=lv) for d, n, e, h, lv in parts) + b"\0" * padding
    expected = b"".join(d for d, *_ in parts)
    assert run(_gunzip_unchecked, chunked(blob, cuts)) == expected == run(_gunzip, chunked(blob, cuts))


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=5000), st.data())
def test_any_truncation_is_refused_like_zlib(data, draw):
    blob = member(data, name=b"n")
    cut = draw.draw(st.integers(0, len(blob) - 1))
    cuts = draw.draw(st.lists(st.integers(0, 6000), max_size=4))
    assert run(_gunzip_unchecked, chunked(blob[:cut], cuts)) is DecompressError
    assert run(_gunzip, chunked(blob[:cut], cuts)) is DecompressError


def test_bad_magic_method_flags_and_length_are_refused():
    good = member(b"hello world" * 100)
    for bad in (b"\x1f\x8c" + good[2:], good[:2] + b"\x07" + good[3:], good[:3] + b"\x80" + good[4:],
                good[:-4] + struct.pack("<I", 5)):
        assert run(_gunzip_unchecked, [memoryview(bad)]) is DecompressError
    assert run(_gunzip_unchecked, [b"not gzip at all"]) is DecompressError


def test_a_wrong_crc_is_not_noticed_here_the_diff_id_is_what_checks_the_bytes():
    good = member(b"hello world" * 100)
    wrong_crc = good[:-8] + b"\0\0\0\0" + good[-4:]
    assert run(_gunzip, [wrong_crc]) is DecompressError
    assert run(_gunzip_unchecked, [wrong_crc]) == b"hello world" * 100


@pytest.mark.parametrize("head,length", [(b"\x1f\x8b\x08\x00" + b"\0" * 6, 10), (b"\x1f\x8b\x08\x08" + b"\0" * 6 + b"ab", None),
                                         (b"\x1f\x8b\x08\x08" + b"\0" * 6 + b"ab\0", 13), (b"\x1f\x8b", None)])
def test_header_length(head, length):
    assert gzip_header_length(head) == length


def test_output_far_bigger_than_one_inflate_step_is_all_flushed():
    data = b"\0" * (20 << 20) + b"end"      # ~20 KiB compressed: one chunk inflates in many steps
    blob = member(data) + member(b"second")
    assert run(_gunzip_unchecked, [memoryview(blob)]) == data + b"second"
