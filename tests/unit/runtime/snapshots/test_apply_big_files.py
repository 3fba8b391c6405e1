"""apply_layer with files big enough for early writeback, fed in lent (memoryview) chunks as
the pull feeds it: same bytes on disk, modes and mtimes kept."""

import io
import os
import tarfile

import pytest

from runtime.snapshots.unpack import WRITEBACK_MIN, apply_layer


def _tar(files):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o640, 1_700_000_000
            info.uid, info.gid = os.getuid(), os.getgid()
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_big_and_small_files_from_memoryview_chunks(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("apply_layer chowns entries; needs root")
    big, small = os.urandom(WRITEBACK_MIN * 3 + 17), b"small"
    tar = _tar([("big.bin", big), ("small.txt", small)])
    root = tmp_path / "root"
    root.mkdir()
    chunks = (memoryview(tar)[i:i + 65536] for i in range(0, len(tar), 65536))
    assert apply_layer(str(root), chunks, what="layer test") == 2
    assert (root / "big.bin").read_bytes() == big and (root / "small.txt").read_bytes() == small
    st = os.stat(root / "big.bin")
    assert st.st_mode & 0o7777 == 0o640 and st.st_mtime == 1_700_000_000
