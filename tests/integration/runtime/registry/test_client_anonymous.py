"""Pull and push of blobs and manifests against a real docker-registry, without auth."""

import io

import pytest

from runtime import errdefs
from runtime.registry import RegistryClient, download_blob
from tests.integration.runtime.registry.helpers import (ACCEPT, MANIFEST_V2, digest_of, push_image, client_config,
                                                       tiny_image)


@pytest.fixture
def client(tmp_path):
    with RegistryClient(client_config(tmp_path)) as client:
        yield client


def test_push_then_pull_manifest_and_blobs(client, registry):
    image = tiny_image("anon", (5000, 70000))
    digest = push_image(client, registry.address, "sytest/anon", "v1", image)
    assert digest == image.manifest_digest

    resolved = client.resolve(registry.address, "sytest/anon", "v1", ACCEPT)
    assert (resolved.media_type, resolved.digest, resolved.size) == (MANIFEST_V2, digest, len(image.manifest))
    descriptor, body = client.get_manifest(registry.address, "sytest/anon", digest, ACCEPT)
    assert body == image.manifest and descriptor.digest == digest

    layer = image.layers[1]
    with client.open_blob(registry.address, "sytest/anon", digest_of(layer)) as stream:
        assert stream.total_size == len(layer)
        assert b"".join(stream.iter_bytes(4096)) == layer
    with client.open_blob(registry.address, "sytest/anon", digest_of(layer), offset=60000) as stream:
        assert b"".join(stream.iter_bytes()) == layer[60000:]
        assert stream.total_size == len(layer)

    exists = client.blob_exists(registry.address, "sytest/anon", digest_of(layer))
    assert exists is not None and exists.size == len(layer)


def test_download_blob_resumes_from_bytes_on_disk(client, registry, tmp_path):
    image = tiny_image("resume-disk", (30000,))
    push_image(client, registry.address, "sytest/resume", "v1", image)
    layer = image.layers[0]
    path = tmp_path / "partial"
    path.write_bytes(layer[:12345])
    with open(path, "r+b") as sink:
        sink.seek(12345)
        assert download_blob(client, registry.address, "sytest/resume", digest_of(layer), sink, 12345) == len(layer)
    assert path.read_bytes() == layer


def test_download_blob_whole_and_already_complete(client, registry, tmp_path):
    image = tiny_image("complete", (2048,))
    push_image(client, registry.address, "sytest/complete", "v1", image)
    layer = image.layers[0]
    path = tmp_path / "blob"
    with open(path, "w+b") as sink:
        download_blob(client, registry.address, "sytest/complete", digest_of(layer), sink)
    assert path.read_bytes() == layer
    with open(path, "r+b") as sink:  # everything already there: a Range past the end is fine
        sink.seek(len(layer))
        assert download_blob(client, registry.address, "sytest/complete", digest_of(layer), sink, len(layer)) == len(layer)


def test_missing_manifest_and_blob_are_not_found(client, registry):
    with pytest.raises(errdefs.NotFound) as caught:
        client.resolve(registry.address, "sytest/nothing", "v1", ACCEPT)
    assert registry.address in str(caught.value) and "sytest/nothing" in str(caught.value)
    with pytest.raises(errdefs.NotFound, match="manifest unknown"):
        client.get_manifest(registry.address, "sytest/nothing", "v1", ACCEPT)
    missing = digest_of(b"never pushed")
    assert client.blob_exists(registry.address, "sytest/nothing", missing) is None
    with pytest.raises(errdefs.NotFound) as caught:
        with client.open_blob(registry.address, "sytest/nothing", missing):
            pass
    assert missing in str(caught.value) and "blob unknown" in str(caught.value)


def test_manifest_digest_mismatch_is_refused(client, registry):
    image = tiny_image("mismatch")
    push_image(client, registry.address, "sytest/mismatch", "v1", image)
    other = digest_of(b"something else")
    with pytest.raises(errdefs.InvalidArgument, match="hashes to"):
        client.put_manifest(registry.address, "sytest/mismatch", other, MANIFEST_V2, image.manifest)


def test_manifest_naming_missing_blob_is_refused(client, registry):
    image = tiny_image("noblobs")
    with pytest.raises(errdefs.InvalidArgument) as caught:
        client.put_manifest(registry.address, "sytest/noblobs", "v1", MANIFEST_V2, image.manifest)
    assert "blob unknown" in str(caught.value) and "sytest/noblobs" in str(caught.value)


def test_chunked_push_and_cross_repository_mount(tmp_path, registry):
    with RegistryClient(client_config(tmp_path, upload_chunk_size=4096)) as client:
        image = tiny_image("chunked", (10000, 4096))
        pieces = [image.layers[0][i:i + 777] for i in range(0, 10000, 777)]
        client.push_blob(registry.address, "sytest/chunked", digest_of(image.layers[0]), 10000, iter(pieces),
                         chunked=True)
        client.push_blob(registry.address, "sytest/chunked", digest_of(image.layers[1]), 4096,
                         io.BytesIO(image.layers[1]), chunked=True)
        client.push_blob(registry.address, "sytest/chunked", digest_of(image.config), len(image.config),
                         image.config)
        client.put_manifest(registry.address, "sytest/chunked", "v1", MANIFEST_V2, image.manifest)
        _, body = client.get_manifest(registry.address, "sytest/chunked", "v1", ACCEPT)
        assert body == image.manifest

        # Mount into another repository: the registry answers 201, no bytes are sent.
        for blob in [image.config, *image.layers]:
            client.push_blob(registry.address, "sytest/mounted", digest_of(blob), len(blob), iter([]),
                             mount_from="sytest/chunked")
        client.put_manifest(registry.address, "sytest/mounted", "v1", MANIFEST_V2, image.manifest)
        with client.open_blob(registry.address, "sytest/mounted", digest_of(image.layers[0])) as stream:
            assert b"".join(stream.iter_bytes()) == image.layers[0]


def test_push_refuses_wrong_digest(client, registry):
    data = b"x" * 100
    with pytest.raises(errdefs.InvalidArgument) as caught:
        client.push_blob(registry.address, "sytest/wrong", digest_of(b"other"), 100, data)
    assert "digest invalid" in str(caught.value) and "sytest/wrong" in str(caught.value)


def test_invalid_names_are_refused_before_any_request(client):
    with pytest.raises(errdefs.InvalidArgument, match="invalid repository name"):
        client.resolve("127.0.0.1:1", "../etc", "v1", ACCEPT)
    with pytest.raises(errdefs.InvalidArgument, match="invalid tag or digest"):
        client.get_manifest("127.0.0.1:1", "sytest/x", "bad tag", ACCEPT)
    with pytest.raises(errdefs.InvalidArgument, match="invalid digest"):
        client.blob_exists("127.0.0.1:1", "sytest/x", "sha256:123")
