"""Content store: verified commits, resumable ingests, one writer per digest."""

import threading

import pytest

from runtime import errdefs
from runtime.content import ContentStore, sha256_digest


def test_write_blob_and_read_back(tmp_path):
    store = ContentStore(str(tmp_path))
    digest = store.write_blob(b"hello")
    assert digest == sha256_digest(b"hello")
    assert store.read(digest) == b"hello" and store.list() == [digest]


def test_mismatched_digest_never_visible(tmp_path):
    store = ContentStore(str(tmp_path))
    want = sha256_digest(b"good")
    with store.lock(want):
        ing = store.ingest(want, 4)
        ing.write(b"evil")
        with pytest.raises(errdefs.InvalidArgument, match="digest mismatch"):
            ing.commit(what="layer x")
    assert not store.exists(want) and store.ingest_offset(want) == 0


def test_size_mismatch_refused(tmp_path):
    store = ContentStore(str(tmp_path))
    want = sha256_digest(b"good")
    ing = store.ingest(want, 10)
    ing.write(b"good")
    with pytest.raises(errdefs.InvalidArgument, match="size mismatch"):
        ing.commit()
    assert not store.exists(want)


def test_interrupted_ingest_resumes_from_offset(tmp_path):
    store = ContentStore(str(tmp_path))
    data = bytes(range(256)) * 1000
    digest = sha256_digest(data)
    first = store.ingest(digest, len(data))
    first.write(data[:100_000])
    first.abort(keep=True)
    again = ContentStore(str(tmp_path)).ingest(digest, len(data))
    assert again.offset == 100_000
    assert b"".join(again.replay(chunk_size=4096)) == data[:100_000]
    again.write(data[100_000:])
    again.commit()
    assert store.read(digest) == data


def test_lock_serialises_writers(tmp_path):
    store = ContentStore(str(tmp_path))
    digest = sha256_digest(b"x")
    inside, overlap = [], []

    def worker():
        with store.lock(digest):
            inside.append(1)
            if len(inside) > 1:
                overlap.append(1)
            threading.Event().wait(0.05)
            inside.pop()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not overlap


def test_invalid_digest_refused(tmp_path):
    with pytest.raises(errdefs.InvalidArgument):
        ContentStore(str(tmp_path)).path("sha256:../../etc")
