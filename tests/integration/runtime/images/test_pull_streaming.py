"""The streaming pull path for big layers, against a real registry: the blob is read from the
socket (BlobStream.readinto), hashed and written to the ingest in one thread while another
inflates, hashes the diff and untars it. Its failure cases: a corrupt blob, a diff id mismatch
and a connection dropped mid-layer (resumed with Range, within one pull and across pulls)."""

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import threading
import uuid

import pytest

from runtime import errdefs
from runtime.images import ImageService
from runtime.images import manifest as mf
from runtime.registry import RegistryClient
from runtime.registry.blobs import RAW_BODY_MIN
from tests.integration.runtime.images.layouts import Entry, Layout, digest_of, layer_tar, skopeo_push
from tests.integration.runtime.registry.faultproxy import FaultProxy
from tests.integration.runtime.registry.helpers import client_config

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo (Debian skopeo)")

# Random data does not compress: the layer blob is bigger than RAW_BODY_MIN, so it takes the
# socket path (the tests check that it did).
BIG = RAW_BODY_MIN + 700_000


def _needs_root():
    if os.geteuid() != 0:
        pytest.skip("layer unpacking needs root (chown, mknod)")


def _repo(name):
    return f"sytest/{name}-{uuid.uuid4().hex[:8]}"


class RecordingClient(RegistryClient):
    """A RegistryClient that keeps every blob stream it opened (to see which path they took)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.streams = []

    @contextlib.contextmanager
    def open_blob(self, host, repository, digest, offset=0):
        with super().open_blob(host, repository, digest, offset) as stream:
            self.streams.append((digest, stream))
            yield stream


@pytest.fixture
def proxy(registry):
    server = FaultProxy(registry.address).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_service(tmp_path):
    """ImageService factory over one root (a second call is a restarted process); all closed."""
    _needs_root()
    made = []

    def make(**config):
        client = RecordingClient(client_config(tmp_path, **config))
        svc = ImageService(str(tmp_path / "root"), client)
        made.append((svc, client))
        return svc, client

    try:
        yield make
    finally:
        for svc, client in made:
            svc.close()
            client.close()


def _pushed(tmp_path, registry, name, data):
    repo = _repo(name)
    layout = Layout(str(tmp_path / f"layout-{name}"))
    layer = layer_tar([Entry("big.bin", data=data)])
    desc = layout.image([layer])
    layout.tag(desc, "v1")
    skopeo_push(layout.path, "v1", registry.address, repo)
    manifest = json.loads(open(os.path.join(layout.path, "blobs", "sha256", desc["digest"][7:]), "rb").read())
    return repo, manifest["layers"][0]["digest"]


def _file_in_image(svc, image, name):
    chain = mf.chain_ids(image.diff_ids)[-1]
    with open(os.path.join(svc.snapshots.upper_dir(chain), name), "rb") as f:
        return f.read()


def _ingest_data(svc, blob):
    return os.path.exists(os.path.join(svc.content.ingest_root, blob[7:], "data"))


def _no_leftovers(svc, blob):
    assert not svc.content.exists(blob)
    assert not _ingest_data(svc, blob)
    assert svc.snapshots.list() == []        # no committed layer and no active extract snapshot
    assert svc.list() == []


def test_big_layer_is_read_from_the_socket_and_unpacks_byte_identical(make_service, registry, tmp_path):
    data = os.urandom(BIG)
    repo, blob = _pushed(tmp_path, registry, "stream", data)
    svc, client = make_service()
    image = svc.pull(f"{registry.address}/{repo}:v1")
    assert _file_in_image(svc, image, "big.bin") == data
    assert svc.content.exists(blob) and not _ingest_data(svc, blob)
    with svc.content.open(blob) as f:
        assert "sha256:" + hashlib.file_digest(f, "sha256").hexdigest() == blob
    (stream,) = [s for d, s in client.streams if d == blob]
    assert stream.direct_bytes > RAW_BODY_MIN - (64 << 10)   # all but what h11 read with the headers


def test_corrupt_big_blob_is_a_digest_error_and_nothing_is_kept(make_service, registry, tmp_path):
    data = os.urandom(BIG)
    repo, blob = _pushed(tmp_path, registry, "corrupt", data)
    # Flip a byte in the middle of the file data inside the registry's own storage: gzip of
    # random data is stored blocks, so the tar still parses and the diff id would be wrong too.
    stored = os.path.join(registry.root, "data", "docker", "registry", "v2", "blobs", "sha256",
                          blob[7:9], blob[7:], "data")
    with open(stored, "r+b") as f:
        f.seek(BIG // 2)
        byte = f.read(1)
        f.seek(BIG // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    svc, client = make_service()
    with pytest.raises(errdefs.InvalidArgument) as info:
        svc.pull(f"{registry.address}/{repo}:v1")
    message = str(info.value)
    assert "digest mismatch" in message and f"layer {blob}" in message
    _no_leftovers(svc, blob)
    assert [s.direct_bytes > 0 for d, s in client.streams if d == blob] == [True]


def test_big_layer_not_matching_its_diff_id_leaves_no_snapshot_and_no_blob(make_service, registry, tmp_path):
    tar = layer_tar([Entry("big.bin", data=os.urandom(BIG))])
    blob = gzip.compress(tar, compresslevel=1, mtime=0)
    wrong = "sha256:" + hashlib.sha256(b"not the tar").hexdigest()
    layout = Layout(str(tmp_path / "layout"))
    desc = layout.image([], raw_layers=[(blob, wrong)])
    layout.tag(desc, "v1")
    repo = _repo("diffid")
    skopeo_push(layout.path, "v1", registry.address, repo)
    svc, client = make_service()
    with pytest.raises(errdefs.InvalidArgument) as info:
        svc.pull(f"{registry.address}/{repo}:v1")
    message = str(info.value)
    assert "diff id mismatch" in message and wrong in message and f"layer {digest_of(blob)}" in message
    # The blob verified, but no image may use it: it never entered the content store.
    _no_leftovers(svc, digest_of(blob))
    assert [s.direct_bytes > 0 for d, s in client.streams if d == digest_of(blob)] == [True]


def test_connection_cut_mid_layer_resumes_with_range_on_the_socket_path(make_service, registry, proxy, tmp_path):
    # Big enough that the resumed replies (the rest of the blob) take the socket path too.
    data = os.urandom(2 * RAW_BODY_MIN)
    repo, blob = _pushed(tmp_path, registry, "cut", data)
    svc, client = make_service()
    # Blob GETs in order: the config (not cut), then the layer, cut twice.
    proxy.rules.cut_blob_at = [1 << 30, 3_000_000, 2_000_000]
    image = svc.pull(f"{proxy.address}/{repo}:v1")
    assert _file_in_image(svc, image, "big.bin") == data
    assert [s.range for s in proxy.requests("GET", "/blobs/" + blob)] == [None, "bytes=3000000-",
                                                                          "bytes=5000000-"]
    (stream,) = [s for d, s in client.streams if d == blob]
    assert stream.resumes == 2 and stream.direct_bytes > 2 * RAW_BODY_MIN - 3 * (64 << 10)


def test_interrupted_pull_keeps_what_arrived_and_the_next_pull_asks_for_the_rest(make_service, registry,
                                                                                 proxy, tmp_path):
    data = os.urandom(BIG)
    repo, blob = _pushed(tmp_path, registry, "resume", data)
    ref = f"{proxy.address}/{repo}:v1"
    svc, _ = make_service(resume_attempts=1)
    proxy.rules.cut_blob_at = [1 << 30, 3_000_000, 2_000_000]
    with pytest.raises(errdefs.Unavailable, match="interrupted 2 times"):
        svc.pull(ref)
    # Every byte that arrived (not only whole buffers) is in the ingest; nothing is visible.
    assert svc.content.ingest_offset(blob) == 5_000_000
    assert not svc.content.exists(blob) and svc.snapshots.list() == [] and svc.list() == []
    svc.close()
    again, _ = make_service()
    before = len(proxy.seen)
    image = again.pull(ref)
    assert [s.range for s in proxy.seen[before:] if "/blobs/" + blob in s.path] == ["bytes=5000000-"]
    assert _file_in_image(again, image, "big.bin") == data
    assert again.content.exists(blob) and not _ingest_data(again, blob)


def test_concurrent_pulls_of_a_big_layer_share_one_download(make_service, registry, proxy, tmp_path):
    data = os.urandom(BIG)
    repo, blob = _pushed(tmp_path, registry, "shared", data)
    svc, _ = make_service()
    results, errors = [], []

    def worker():
        try:
            results.append(svc.pull(f"{proxy.address}/{repo}:v1"))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len({i.id for i in results}) == 1
    assert len(proxy.requests("GET", "/blobs/" + blob)) == 1
    assert len(svc.snapshots.list()) == 1
    assert _file_in_image(svc, results[0], "big.bin") == data
