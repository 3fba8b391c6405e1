"""Faults between the client and a real registry: cut downloads, corrupted blobs, 429/5xx, a dead registry."""

import io
import socket
import time

import pytest

from runtime import errdefs
from runtime.registry import DigestVerifier, RegistryClient, download_blob
from tests.integration.runtime.registry.faultproxy import FaultProxy
from tests.integration.runtime.registry.helpers import ACCEPT, MANIFEST_V2, client_config, digest_of, push_image, tiny_image

LAYER = 300_000


@pytest.fixture(scope="module")
def pushed(registry, tmp_path_factory):
    image = tiny_image("faults", (LAYER,))
    with RegistryClient(client_config(tmp_path_factory.mktemp("push"))) as client:
        push_image(client, registry.address, "sytest/faults", "v1", image)
    return image


@pytest.fixture
def proxy(registry):
    server = FaultProxy(registry.address).start()
    try:
        yield server
    finally:
        server.stop()


def test_cut_download_resumes_with_range(tmp_path, proxy, pushed):
    proxy.rules.cut_blob_at = [100_000, 50_000]
    layer = pushed.layers[0]
    sink = tmp_path / "blob"
    with RegistryClient(client_config(tmp_path)) as client, open(sink, "w+b") as handle:
        download_blob(client, proxy.address, "sytest/faults", digest_of(layer), handle)
    assert sink.read_bytes() == layer
    ranges = [s.range for s in proxy.requests("GET", "/blobs/")]
    assert ranges == [None, "bytes=100000-", "bytes=150000-"]


def test_stream_gives_up_after_too_many_cuts(tmp_path, proxy, pushed):
    proxy.rules.cut_blob_at = [1000] * 10
    layer = pushed.layers[0]
    with RegistryClient(client_config(tmp_path, resume_attempts=2)) as client:
        with pytest.raises(errdefs.Unavailable) as caught:
            with client.open_blob(proxy.address, "sytest/faults", digest_of(layer)) as stream:
                for _ in stream.iter_bytes():
                    pass
    assert "interrupted 3 times" in str(caught.value) and digest_of(layer) in str(caught.value)


def test_corrupted_blob_fails_the_digest_check(tmp_path, proxy, pushed):
    proxy.rules.corrupt_blobs = True
    layer = pushed.layers[0]
    with RegistryClient(client_config(tmp_path)) as client, open(tmp_path / "blob", "w+b") as handle:
        with pytest.raises(errdefs.InvalidArgument) as caught:
            download_blob(client, proxy.address, "sytest/faults", digest_of(layer), handle, size=LAYER)
        message = str(caught.value)
        assert "digest mismatch" in message and digest_of(layer) in message and "sytest/faults" in message
        # The same check by hand on a stream.
        verifier = DigestVerifier(digest_of(layer), size=LAYER)
        with client.open_blob(proxy.address, "sytest/faults", digest_of(layer)) as stream:
            for data in stream.iter_bytes():
                verifier.update(data)
        with pytest.raises(errdefs.InvalidArgument, match="digest mismatch"):
            verifier.verify()


def test_429_is_retried_after_retry_after(tmp_path, proxy, pushed):
    proxy.rules.status_path = "/manifests/"
    proxy.rules.statuses = [(429, {"Retry-After": "1"})]
    slept: list[float] = []

    def sleep(seconds):
        slept.append(seconds)
        time.sleep(seconds)

    with RegistryClient(client_config(tmp_path, backoff_max=2.0), sleep=sleep) as client:
        started = time.monotonic()
        descriptor = client.resolve(proxy.address, "sytest/faults", "v1", ACCEPT)
        assert time.monotonic() - started >= 1.0
    assert descriptor.digest == pushed.manifest_digest
    assert slept == [1.0]
    assert len(proxy.requests("HEAD", "/manifests/")) == 2


def test_resolve_falls_back_to_get_when_head_has_no_digest(tmp_path, proxy, pushed):
    proxy.rules.drop_headers = {"docker-content-digest"}
    with RegistryClient(client_config(tmp_path)) as client:
        descriptor = client.resolve(proxy.address, "sytest/faults", "v1", ACCEPT)
    assert (descriptor.digest, descriptor.size) == (pushed.manifest_digest, len(pushed.manifest))
    assert [s.method for s in proxy.requests(contains="/manifests/v1")] == ["HEAD", "GET"]


def test_5xx_is_retried_with_backoff_then_reported(tmp_path, proxy, pushed):
    proxy.rules.status_path = "/manifests/"
    proxy.rules.statuses = [(503, {}), (502, {})]
    slept: list[float] = []
    with RegistryClient(client_config(tmp_path), sleep=slept.append) as client:
        _, body = client.get_manifest(proxy.address, "sytest/faults", "v1", ACCEPT)
        assert body == pushed.manifest
        assert slept == [0.01, 0.02]  # exponential from backoff_base

        proxy.rules.statuses = [(500, {})] * 10
        with pytest.raises(errdefs.Unavailable) as caught:
            client.get_manifest(proxy.address, "sytest/faults", "v1", ACCEPT)
    assert proxy.address in str(caught.value) and "sytest/faults" in str(caught.value)
    assert "HTTP 500" in str(caught.value)


def test_registry_down_is_a_clear_error(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    slept: list[float] = []
    with RegistryClient(client_config(tmp_path), sleep=slept.append) as client:
        with pytest.raises(errdefs.Unavailable) as caught:
            client.resolve(f"127.0.0.1:{port}", "sytest/faults", "v1", ACCEPT)
    assert str(caught.value) == f"cannot reach registry at 127.0.0.1:{port}: connection refused"
    assert len(slept) == 3  # attempts=4 in the test config


def test_push_retries_5xx_on_every_upload_step(tmp_path, proxy):
    image = tiny_image("push-retry", (9000, 5000))
    layer, other = image.layers
    slept: list[float] = []
    with RegistryClient(client_config(tmp_path, upload_chunk_size=4000), sleep=slept.append) as client:
        proxy.rules.status_path = "/blobs/uploads/"
        # Chunked: a failure on each of the three PATCHes (each followed by an upload-status GET).
        proxy.rules.status_method = "PATCH"
        proxy.rules.statuses = [(502, {}), (0, {}), (500, {}), (0, {}), (503, {})]
        client.push_blob(proxy.address, "sytest/pushretry", digest_of(layer), len(layer), io.BytesIO(layer),
                         chunked=True)
        assert len(slept) == 3 and len(proxy.requests("GET", "/blobs/uploads/")) == 3
        # The closing PUT of a chunked upload, then POST and PUT of a monolithic upload of a file.
        proxy.rules.status_method = "PUT"
        proxy.rules.statuses = [(504, {})]
        client.push_blob(proxy.address, "sytest/pushretry", digest_of(other), len(other), io.BytesIO(other),
                         chunked=True)
        proxy.rules.status_method = None
        proxy.rules.statuses = [(503, {}), (0, {}), (503, {})]
        client.push_blob(proxy.address, "sytest/pushretry", digest_of(image.config), len(image.config),
                         io.BytesIO(image.config))
        assert len(slept) == 6
        client.put_manifest(proxy.address, "sytest/pushretry", "v1", MANIFEST_V2, image.manifest)
        for blob in (layer, other):
            with client.open_blob(proxy.address, "sytest/pushretry", digest_of(blob)) as stream:
                assert b"".join(stream.iter_bytes()) == blob


def test_patch_cut_mid_chunk_restarts_a_replayable_upload(tmp_path, proxy):
    image = tiny_image("patch-cut", (10000,))
    layer = image.layers[0]
    # The second chunk (bytes 4000-7999) reaches the registry only up to byte 5499 and the
    # client gets no answer. Distribution then refuses the session: a file source restarts.
    proxy.rules.truncate_patches = [None, 1500]
    with RegistryClient(client_config(tmp_path, upload_chunk_size=4000)) as client:
        client.push_blob(proxy.address, "sytest/patchcut", digest_of(layer), len(layer), io.BytesIO(layer),
                         chunked=True)
        with client.open_blob(proxy.address, "sytest/patchcut", digest_of(layer)) as stream:
            assert b"".join(stream.iter_bytes()) == layer
    assert len(proxy.requests("POST", "/blobs/uploads/")) == 2  # a second session
    assert len(proxy.requests("PATCH")) == 2 + 3


def test_patch_cut_mid_chunk_of_a_stream_is_a_clear_error(tmp_path, proxy):
    layer = tiny_image("patch-cut-stream", (10000,)).layers[0]
    proxy.rules.truncate_patches = [None, 1500]
    with RegistryClient(client_config(tmp_path, upload_chunk_size=4000)) as client:
        with pytest.raises(errdefs.Unavailable) as caught:
            client.push_blob(proxy.address, "sytest/patchcut2", digest_of(layer), len(layer), iter([layer]),
                             chunked=True)
    message = str(caught.value)
    assert "upload session lost after a failed PATCH at byte 4000" in message
    assert digest_of(layer) in message and "sytest/patchcut2" in message


def test_push_of_a_short_stream_is_refused_before_the_registry_sees_it(tmp_path, registry):
    with RegistryClient(client_config(tmp_path)) as client:
        with pytest.raises(errdefs.InvalidArgument, match="3 bytes, 5 announced"):
            client.push_blob(registry.address, "sytest/short", digest_of(b"abcde"), 5, iter([b"abc"]))
        with pytest.raises(errdefs.InvalidArgument, match="more than the 2 bytes announced"):
            client.push_blob(registry.address, "sytest/short", digest_of(b"ab"), 2, iter([b"abc"]), chunked=True)


def _read_all(stream, size=1 << 20):
    out, buf = bytearray(), memoryview(bytearray(size))
    while n := stream.readinto(buf):
        out += buf[:n]
    return bytes(out)


@pytest.fixture(scope="module")
def pushed_big(registry, tmp_path_factory):
    from runtime.registry.blobs import RAW_BODY_MIN
    image = tiny_image("faults-big", (2 * RAW_BODY_MIN,))
    with RegistryClient(client_config(tmp_path_factory.mktemp("push"))) as client:
        push_image(client, registry.address, "sytest/faultsbig", "v1", image)
    return image


def test_readinto_reads_big_bodies_from_the_socket_and_resumes_cuts_with_range(tmp_path, proxy, pushed_big):
    layer = pushed_big.layers[0]
    proxy.rules.cut_blob_at = [1_000_000, 3_333_333]
    with RegistryClient(client_config(tmp_path)) as client:
        with client.open_blob(proxy.address, "sytest/faultsbig", digest_of(layer)) as stream:
            assert _read_all(stream, 777_777) == layer
    assert stream.resumes == 2 and stream.direct_bytes > len(layer) - 3 * (64 << 10)
    ranges = [s.range for s in proxy.requests("GET", "/blobs/")]
    assert ranges == [None, "bytes=1000000-", "bytes=4333333-"]


def _open_sockets() -> int:
    import gc
    import os
    gc.collect()
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except FileNotFoundError:
            pass
    return count


def test_readinto_keeps_small_bodies_on_pooled_connections_and_closes_the_raw_ones(tmp_path, registry,
                                                                                  pushed, pushed_big):
    small, big = pushed.layers[0], pushed_big.layers[0]
    with RegistryClient(client_config(tmp_path)) as client:
        client.resolve(registry.address, "sytest/faults", "v1", ACCEPT)
        before = _open_sockets()   # the pooled connection of that request
        with client.open_blob(registry.address, "sytest/faults", digest_of(small), 1000) as stream:
            assert _read_all(stream, 4096) == small[1000:]
        assert stream.direct_bytes == 0 and _open_sockets() == before   # back in the pool
        with client.open_blob(registry.address, "sytest/faultsbig", digest_of(big)) as stream:
            assert _read_all(stream) == big
        # Read past h11: that connection cannot be reused and is closed, not leaked.
        assert stream.direct_bytes > 0 and _open_sockets() == before - 1


def test_readinto_gives_up_after_too_many_cuts_but_hands_over_what_arrived(tmp_path, proxy, pushed_big):
    layer = pushed_big.layers[0]
    proxy.rules.cut_blob_at = [3_000_000, 1_000_000]
    with RegistryClient(client_config(tmp_path, resume_attempts=1)) as client:
        with client.open_blob(proxy.address, "sytest/faultsbig", digest_of(layer)) as stream:
            buf = memoryview(bytearray(10 << 20))
            assert stream.readinto(buf) == 4_000_000     # the bytes before the second cut
            assert bytes(buf[:4_000_000]) == layer[:4_000_000]
            with pytest.raises(errdefs.Unavailable, match="interrupted 2 times"):
                stream.readinto(buf)
