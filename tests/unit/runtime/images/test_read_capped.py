"""Small blobs (configs) read from the registry stop at their descriptor's size."""

import pytest

from runtime import errdefs
from runtime.images.pull import read_capped


def test_exact_size_is_read_whole():
    assert read_capped(iter([b"ab", b"cd"]), 4, what="config") == b"abcd"


def test_more_than_the_descriptor_says_stops_at_once():
    pulled = []

    def chunks():
        for piece in (b"abc", b"def", b"ghi"):
            pulled.append(piece)
            yield piece

    with pytest.raises(errdefs.InvalidArgument, match="config x: registry sent more than the 4 bytes"):
        read_capped(chunks(), 4, what="config x")
    assert pulled == [b"abc", b"def"]  # nothing read after the limit was passed
