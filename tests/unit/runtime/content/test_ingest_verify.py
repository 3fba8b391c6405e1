"""Ingest.verify (check without committing) and the early writeback of big blobs."""

import os

import pytest

from runtime import errdefs
from runtime import content as content_mod
from runtime.content import WRITEBACK_EVERY, ContentStore, sha256_digest


def test_verify_checks_without_making_the_blob_visible(tmp_path):
    store = ContentStore(str(tmp_path))
    data = os.urandom(3000)
    digest = sha256_digest(data)
    with store.lock(digest):
        ing = store.ingest(digest, len(data))
        ing.write(data[:1000])
        ing.write(memoryview(data)[1000:])
        ing.verify(what="layer x")
        assert not store.exists(digest)          # verified is not committed
        ing.abort(keep=False)                    # e.g. its diff id was wrong: drop it
    assert not store.exists(digest) and store.ingest_offset(digest) == 0


def test_verify_failure_discards_the_partial_data_and_names_the_blob(tmp_path):
    store = ContentStore(str(tmp_path))
    digest = sha256_digest(b"good")
    with store.lock(digest):
        ing = store.ingest(digest, 4)
        ing.write(b"evil")
        with pytest.raises(errdefs.InvalidArgument, match="layer x: digest mismatch"):
            ing.verify(what="layer x")
    assert not store.exists(digest) and store.ingest_offset(digest) == 0


def test_big_blob_writeback_is_queued_in_steps_and_the_blob_still_verifies(tmp_path, monkeypatch):
    queued = []
    monkeypatch.setattr(content_mod, "start_writeback", lambda fd, off, n: queued.append((off, n)))
    store = ContentStore(str(tmp_path))
    data = os.urandom(2 * WRITEBACK_EVERY + 12345)
    digest = sha256_digest(data)
    with store.lock(digest):
        ing = store.ingest(digest, len(data))
        for i in range(0, len(data), 1 << 20):
            ing.write(memoryview(data)[i:i + (1 << 20)])
        ing.commit()
    assert queued == [(0, WRITEBACK_EVERY), (WRITEBACK_EVERY, WRITEBACK_EVERY)]
    assert store.read(digest) == data


def test_start_writeback_on_a_real_file_is_harmless(tmp_path):
    from runtime.writeback import start_writeback
    path = tmp_path / "f"
    with open(path, "wb") as f:
        f.write(b"x" * 100_000)
        f.flush()
        start_writeback(f.fileno())
        start_writeback(f.fileno(), 4096, 8192)
    assert path.read_bytes() == b"x" * 100_000
