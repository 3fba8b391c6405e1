"""Pull against a real registry (Debian docker-registry): merged views, platform selection,
shared layers, request counting, corrupted and cut blobs, refused manifests."""

import gc
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import uuid

import pytest

from runtime import errdefs
from runtime.images import ImageService
from runtime.images import manifest as mf
from runtime.registry import RegistryClient
from tests.integration.runtime.images.conftest import mounted_view, push_layout_image
from tests.integration.runtime.images.layouts import Entry, Layout, digest_of, layer_tar, skopeo_push
from tests.integration.runtime.registry.faultproxy import FaultProxy
from tests.integration.runtime.registry.helpers import client_config

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo (Debian skopeo)")


def _repo(name):
    return f"sytest/{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def proxy(registry):
    server = FaultProxy(registry.address).start()
    try:
        yield server
    finally:
        server.stop()


def test_whiteouts_and_opaque_dirs_give_the_right_merged_view(service, registry, tmp_path):
    base = layer_tar([Entry("a", "dir", mode=0o755), Entry("a/keep", data=b"keep"), Entry("a/gone", data=b"x"),
                      Entry("d", "dir", mode=0o755), Entry("d/old", data=b"old"),
                      Entry("d/sub", "dir", mode=0o755), Entry("d/sub/deep", data=b"deep")])
    top = layer_tar([Entry("a", "dir", mode=0o755), Entry("a/.wh.gone"),
                     Entry("d", "dir", mode=0o755), Entry("d/.wh..wh..opq"), Entry("d/new", data=b"new")])
    repo = _repo("whiteout")
    push_layout_image(tmp_path, registry.address, repo, "v1", [base, top])
    image = service.pull(f"{registry.address}/{repo}:v1")
    with mounted_view(service, service.rootfs_parent(image), tmp_path) as root:
        assert sorted(os.listdir(os.path.join(root, "a"))) == ["keep"]
        assert sorted(os.listdir(os.path.join(root, "d"))) == ["new"]
        with open(os.path.join(root, "d/new"), "rb") as f:
            assert f.read() == b"new"


def test_pull_records_tags_digests_and_inspect_shape(service, registry, tmp_path):
    repo = _repo("inspect")
    layer = layer_tar([Entry("etc", "dir", mode=0o755), Entry("etc/hostname", data=b"x\n")])
    push_layout_image(tmp_path, registry.address, repo, "v1", [layer])
    events = []
    image = service.pull(f"{registry.address}/{repo}:v1", progress=events.append)
    assert image.repo_tags == [f"{registry.address}/{repo}:v1"]
    assert image.repo_digests[0].startswith(f"{registry.address}/{repo}@sha256:")
    statuses = [e.get("status") for e in events]
    assert statuses[0] == f"Pulling from {repo}" and events[0]["id"] == "v1"
    assert "Pulling fs layer" in statuses and "Pull complete" in statuses
    assert statuses[-2].startswith("Digest: sha256:")
    assert statuses[-1] == f"Status: Downloaded newer image for {registry.address}/{repo}:v1"
    downloading = [e for e in events if e.get("status") == "Downloading"]
    assert downloading and set(downloading[-1]["progressDetail"]) == {"current", "total"}
    assert len(downloading[-1]["id"]) == 12
    info = service.inspect(image.id)
    for key in ("Id", "RepoTags", "RepoDigests", "Created", "Config", "RootFS", "Size", "Architecture", "Os"):
        assert key in info
    assert info["RootFS"]["Layers"] == image.diff_ids and info["Config"]["Cmd"] == ["/bin/sh"]
    assert service.get(image.id[:19]).id == image.id  # "sha256:" + 12 hex prefix
    # The records survive a restart of the process (a new service on the same root).
    from runtime.images import ImageService
    again = ImageService(service.root, service.registry)
    assert again.get(f"{registry.address}/{repo}:v1").id == image.id
    again.close()


def test_second_pull_costs_only_manifest_requests(service, registry, proxy, tmp_path):
    repo = _repo("second")
    layers = [layer_tar([Entry(f"f{i}", data=os.urandom(20_000))]) for i in range(3)]
    push_layout_image(tmp_path, registry.address, repo, "v1", layers)
    ref = f"{proxy.address}/{repo}:v1"
    service.pull(ref)
    assert proxy.requests("GET", "/blobs/"), "the first pull downloads blobs"
    before = len(proxy.seen)
    events = []
    service.pull(ref, progress=events.append)
    later = proxy.seen[before:]
    assert later and all("/manifests/" in s.path or s.path == "/v2/" for s in later), later
    assert [s.method for s in later if "/manifests/" in s.path] == ["HEAD"]
    assert [e["status"] for e in events if e.get("id") and e["status"] != f"Pulling from {repo}"] == \
        ["Already exists"] * 3
    assert events[-1]["status"].startswith("Status: Image is up to date for")


@pytest.mark.parametrize("compression,manifest_format", [("zstd", ""), ("", ""), ("gzip", "v2s2")])
def test_zstd_plain_and_docker_schema2_images(service, registry, tmp_path, compression, manifest_format):
    from runtime.images import manifest as mf
    repo = _repo(f"kind-{compression or 'plain'}")
    layers = [layer_tar([Entry("one", data=b"1" * 3000)]), layer_tar([Entry("two", data=os.urandom(70_000))])]
    push_layout_image(tmp_path, registry.address, repo, "v1", layers, compression=compression,
                      manifest_format=manifest_format)
    image = service.pull(f"{registry.address}/{repo}:v1")
    stored = mf.parse(service.content.read(image.manifest_digest), None, where="x")
    if manifest_format == "v2s2":
        assert stored.media_type == mf.DOCKER_MANIFEST
        assert stored.layers[0].media_type == mf.DOCKER_LAYER_GZIP
    else:
        assert stored.layers[0].media_type == mf.OCI_LAYER_ZSTD if compression == "zstd" else mf.OCI_LAYER
    with mounted_view(service, image.chain_id, tmp_path) as root:
        assert open(os.path.join(root, "one"), "rb").read() == b"1" * 3000
        assert os.path.getsize(os.path.join(root, "two")) == 70_000


def test_concurrent_pulls_of_the_same_image_share_one_download(service, registry, proxy, tmp_path):
    import threading
    repo = _repo("concurrent")
    push_layout_image(tmp_path, registry.address, repo, "v1", [layer_tar([Entry("big", data=os.urandom(3_000_000))])])
    ref = f"{proxy.address}/{repo}:v1"
    results, errors = [], []

    def worker():
        try:
            results.append(service.pull(ref).id)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    layer_gets = [s for s in proxy.requests("GET", "/blobs/") if s.range is None]
    assert len(layer_gets) == len({s.path for s in layer_gets}) == 2  # config + layer, once each
    assert len([s for s in service.snapshots.list()]) == 1


def test_layers_shared_between_images_are_stored_once(service, registry, tmp_path):
    shared = layer_tar([Entry("shared", data=os.urandom(10_000))])
    repo = _repo("shared")
    push_layout_image(tmp_path, registry.address, repo, "a", [shared, layer_tar([Entry("a", data=b"a")])])
    push_layout_image(tmp_path, registry.address, repo, "b", [shared, layer_tar([Entry("b", data=b"b")])])
    service.pull(f"{registry.address}/{repo}:a")
    events = []
    service.pull(f"{registry.address}/{repo}:b", progress=events.append)
    assert [e["status"] for e in events if e.get("status") in ("Already exists", "Pull complete")] == \
        ["Already exists", "Pull complete"]
    committed = [s for s in service.snapshots.list() if s.kind == "committed"]
    assert len(committed) == 3


def test_multi_platform_index_picks_the_platform(service, registry, tmp_path):
    layout = Layout(str(tmp_path / "multi"))
    amd = layout.image([layer_tar([Entry("arch", data=b"amd64\n")])], arch="amd64")
    arm = layout.image([layer_tar([Entry("arch", data=b"arm64\n")])], arch="arm64", variant="v8")
    layout.tag(layout.index_of([amd, arm]), "multi")
    repo = _repo("multi")
    skopeo_push(layout.path, "multi", registry.address, repo, all_images=True)
    ref = f"{registry.address}/{repo}:multi"
    host = service.platform.architecture
    image = service.pull(ref)
    assert image.config["architecture"] == host
    arm_image = service.pull(ref, platform="linux/arm64/v8")
    assert arm_image.config["architecture"] == "arm64" and arm_image.id != image.id
    with mounted_view(service, arm_image.chain_id, tmp_path) as root:
        with open(os.path.join(root, "arch"), "rb") as f:
            assert f.read() == b"arm64\n"
    # RepoDigests name the index (what the tag points at), as Docker does.
    index_digest = image.repo_digests[0].rpartition("@")[2]
    assert arm_image.repo_digests[0].endswith(index_digest)
    with pytest.raises(errdefs.NotFound, match="linux/s390x"):
        service.pull(ref, platform="linux/s390x")


def test_platform_flag_refuses_a_single_manifest_image_of_another_platform(service, registry, tmp_path):
    repo = _repo("single")
    push_layout_image(tmp_path, registry.address, repo, "v1", [layer_tar([Entry("f", data=b"x")])], arch="amd64")
    ref = f"{registry.address}/{repo}:v1"
    with pytest.raises(errdefs.NotFound) as caught:
        service.pull(ref, platform="linux/s390x")
    assert str(caught.value) == (f"image with reference {ref} was found but does not match the specified "
                                 "platform: wanted linux/s390x, actual: linux/amd64")
    assert service.list() == [] and service.snapshots.list() == []
    # The matching platform, or none given (the host's, as Docker pulls), still works.
    assert service.pull(ref, platform="linux/amd64").config["architecture"] == "amd64"


def _open_sockets() -> int:
    gc.collect()  # sockets other tests dropped are closed now, not in the middle of ours
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except FileNotFoundError:
            pass  # the directory's own fd, gone once listed
    return count


def test_close_closes_the_registry_client_the_service_made_not_one_passed_in(registry, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root (layer unpacking)")
    repo = _repo("close")
    push_layout_image(tmp_path, registry.address, repo, "v1", [layer_tar([Entry("f", data=b"x")])])
    ref = f"{registry.address}/{repo}:v1"
    before = _open_sockets()
    own = ImageService(str(tmp_path / "own"), registry_config=client_config(tmp_path))
    own.pull(ref)
    assert _open_sockets() > before  # the pool keeps its connection to the registry
    own.close()
    assert _open_sockets() == before
    shared = RegistryClient(client_config(tmp_path))
    try:
        svc = ImageService(str(tmp_path / "shared"), shared)
        svc.pull(ref)
        svc.close()
        # Still the caller's to use (and close).
        assert shared.resolve(registry.address, repo, "v1", mf.ACCEPT).digest.startswith("sha256:")
    finally:
        shared.close()
    assert _open_sockets() == before


def _open_ingest_fds() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:
            continue
        if "/content/ingest/" in target:
            out.append(target)
    return out


def test_disk_full_while_draining_a_bad_layer_closes_the_ingest(registry, tmp_path):
    """The layer fails to unpack (bad gzip header); reading the rest to check its digest then
    hits ENOSPC in the download thread (the root is a 4 MiB tmpfs). The pull fails naming the
    layer, and no ingest file stays open."""
    if os.geteuid() != 0:
        pytest.skip("needs root (tmpfs mount, layer unpacking)")
    # A gzip header, then a deflate block of the reserved type 3: refused at the first byte.
    blob = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x07" + os.urandom(12 << 20)
    layout = Layout(str(tmp_path / "layout"))
    desc = layout.image([], raw_layers=[(blob, "sha256:" + "2" * 64)])
    layout.tag(desc, "v1")
    repo = _repo("enospc")
    skopeo_push(layout.path, "v1", registry.address, repo)
    layer_digest = layout.blob(blob)
    root = tmp_path / "small"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "sytest-small", str(root)], check=True)
    try:
        client = RegistryClient(client_config(tmp_path))
        svc = ImageService(str(root / "images"), client)
        try:
            with pytest.raises(errdefs.InvalidArgument, match=f"layer {layer_digest}"):
                svc.pull(f"{registry.address}/{repo}:v1")
            assert _open_ingest_fds() == []
            assert svc.snapshots.list() == [] and svc.list() == []
        finally:
            svc.close()
            client.close()
    finally:
        # Busy means something here still holds a file on it: detach it anyway, then fail.
        if subprocess.run(["umount", str(root)]).returncode != 0:
            subprocess.run(["umount", "-l", str(root)], check=True)
            pytest.fail("a file on the image root was still open after ImageService.close()")


def _push_raw(client, host, repo, tag, layer_tar_bytes, *, config_size_delta=0, index_size_delta=None):
    """Push config, layer and manifest by hand, with descriptor sizes that may lie."""
    layer = gzip.compress(layer_tar_bytes, mtime=0)
    diff_id = "sha256:" + hashlib.sha256(layer_tar_bytes).hexdigest()
    config = json.dumps({"os": "linux", "architecture": "amd64", "comment": "x" * 100_000,
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    for blob in (layer, config):
        client.push_blob(host, repo, digest_of(blob), len(blob), blob)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
                           "config": {"mediaType": mf.OCI_CONFIG, "digest": digest_of(config),
                                      "size": len(config) + config_size_delta},
                           "layers": [{"mediaType": mf.OCI_LAYER_GZIP, "digest": digest_of(layer),
                                       "size": len(layer)}]}).encode()
    digest = client.put_manifest(host, repo, digest_of(manifest), mf.OCI_MANIFEST, manifest)
    if index_size_delta is None:
        client.put_manifest(host, repo, tag, mf.OCI_MANIFEST, manifest)
        return config, manifest
    index = json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": [
        {"mediaType": mf.OCI_MANIFEST, "digest": digest, "size": len(manifest) + index_size_delta,
         "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    client.put_manifest(host, repo, tag, mf.OCI_INDEX, index)
    return config, manifest


@pytest.mark.parametrize("lie, message", [
    ({"config_size_delta": -99_000}, "image config sha256:"),
    ({"index_size_delta": -10}, "manifest larger than"),
])
def test_config_and_manifest_reads_stop_at_the_descriptor_size(service, registry, tmp_path, lie, message):
    repo = _repo("sizes")
    client = service.registry
    config, manifest = _push_raw(client, registry.address, repo, "v1", layer_tar([Entry("f", data=b"x")]), **lie)
    with pytest.raises(errdefs.InvalidArgument, match=message):
        service.pull(f"{registry.address}/{repo}:v1", platform="linux/amd64")
    assert not service.content.exists(digest_of(config if "config" in message else manifest))
    assert service.list() == [] and service.snapshots.list() == []
    # Honest sizes pull fine.
    _push_raw(client, registry.address, repo, "v2", layer_tar([Entry("f", data=b"x")]),
              index_size_delta=0 if "index_size_delta" in lie else None)
    assert service.pull(f"{registry.address}/{repo}:v2").config["architecture"] == "amd64"


def test_layer_not_matching_its_diff_id_fails_the_pull_naming_it(service, registry, tmp_path):
    """The blob verifies (the registry serves what the manifest names) but its tar is not the
    one the config's diff_ids promise."""
    good = layer_tar([Entry("a", data=b"a\n")])
    other = layer_tar([Entry("b", data=os.urandom(50_000))])
    layout = Layout(str(tmp_path / "layout"))
    wrong = "sha256:" + hashlib.sha256(b"not the tar").hexdigest()
    blob = gzip.compress(other, mtime=0)
    desc = layout.image([good], raw_layers=[(blob, wrong)])
    layout.tag(desc, "v1")
    repo = _repo("diffid")
    skopeo_push(layout.path, "v1", registry.address, repo)
    with pytest.raises(errdefs.InvalidArgument) as info:
        service.pull(f"{registry.address}/{repo}:v1")
    message = str(info.value)
    assert f"layer {digest_of(blob)}" in message and "diff id mismatch" in message and wrong in message
    assert not service.content.exists(digest_of(blob))  # verified, but not a layer we can use
    assert service.list() == []
    # The first layer, complete and correct, is kept for the next attempt; nothing else is.
    assert [s.name for s in service.snapshots.list()] == ["sha256:" + hashlib.sha256(good).hexdigest()]


def test_history_is_dockers_shape_newest_first_with_layer_sizes(service, registry, tmp_path):
    first = layer_tar([Entry("a", data=os.urandom(10_000))])
    second = layer_tar([Entry("b", data=os.urandom(50_000))])
    history = [{"created": "2024-01-02T03:04:05Z", "created_by": "ADD a /", "comment": "first"},
               {"created": "2024-01-02T03:04:06Z", "created_by": "ENV X=1", "empty_layer": True},
               {"created": "2024-01-02T03:04:07Z", "created_by": "ADD b /"}]
    repo = _repo("history")
    push_layout_image(tmp_path, registry.address, repo, "v1", [first, second], config_extra={"history": history})
    ref = f"{registry.address}/{repo}:v1"
    image = service.pull(ref)
    got = service.history(ref)
    assert [set(h) for h in got] == [{"Id", "Created", "CreatedBy", "Tags", "Size", "Comment"}] * 3
    assert [h["CreatedBy"] for h in got] == ["ADD b /", "ENV X=1", "ADD a /"]
    assert [h["Id"] for h in got] == [image.id, "<missing>", "<missing>"]
    assert [h["Tags"] for h in got] == [[ref], None, None]
    assert [h["Created"] for h in got] == [1704164647, 1704164646, 1704164645]
    assert [h["Comment"] for h in got] == ["", "", "first"]
    sizes = [h["Size"] for h in got]
    assert 50_000 <= sizes[0] < 50_000 + 16_384 and sizes[1] == 0 and 10_000 <= sizes[2] < 10_000 + 16_384
    assert sum(sizes) == image.size


def test_corrupted_blob_is_a_digest_error_naming_the_layer(service, registry, tmp_path):
    repo = _repo("corrupt")
    layer = layer_tar([Entry("big", data=os.urandom(200_000))])
    desc = push_layout_image(tmp_path, registry.address, repo, "v1", [layer])
    manifest = json.loads(open(tmp_path.glob("oci-*").__next__() / "blobs" / "sha256" / desc["digest"][7:], "rb").read())
    blob = manifest["layers"][0]["digest"]
    # Flip a byte in the middle of the blob inside the registry's own storage.
    stored = os.path.join(registry.root, "data", "docker", "registry", "v2", "blobs", "sha256", blob[7:9], blob[7:], "data")
    with open(stored, "r+b") as f:
        f.seek(100_000)
        byte = f.read(1)
        f.seek(100_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(errdefs.InvalidArgument) as info:
        service.pull(f"{registry.address}/{repo}:v1")
    assert "digest mismatch" in str(info.value) and blob in str(info.value)
    assert not service.content.exists(blob)
    assert service.snapshots.list() == []
    assert service.list() == []


def test_cut_download_resumes_and_an_interrupted_pull_continues_from_its_ingest(tmp_path, registry, proxy):
    from runtime.images import ImageService
    from runtime.registry import RegistryClient
    from tests.integration.runtime.registry.helpers import client_config
    if os.geteuid() != 0:
        pytest.skip("needs root")
    repo = _repo("resume")
    layer = layer_tar([Entry("big", data=os.urandom(600_000))])
    desc = push_layout_image(tmp_path, registry.address, repo, "v1", [layer])
    ref = f"{proxy.address}/{repo}:v1"
    root = str(tmp_path / "root")
    # First attempt: the connection is cut more often than the client resumes on its own.
    with RegistryClient(client_config(tmp_path, resume_attempts=1)) as client:
        svc = ImageService(root, client)
        proxy.rules.cut_blob_at = [150_000, 100_000, 100_000]
        with pytest.raises(errdefs.Unavailable):
            svc.pull(ref)
        blob = [s.path for s in proxy.requests("GET", "/blobs/")][-1].rpartition("/")[2]
        kept = svc.content.ingest_offset(blob)
        assert kept > 0 and svc.snapshots.list() == []
        svc.close()
    # A new process-like service resumes from the partial ingest with a Range request.
    proxy.rules.cut_blob_at = []
    with RegistryClient(client_config(tmp_path)) as client:
        svc = ImageService(root, client)
        before = len(proxy.seen)
        image = svc.pull(ref)
        ranges = [s.range for s in proxy.seen[before:] if "/blobs/" + blob in s.path]
        assert ranges == [f"bytes={kept}-"]
        assert svc.content.exists(blob) and image.repo_tags
        svc.close()
    del desc


class _ManifestServer:
    """A loopback HTTP server answering /v2/ and one manifest with a chosen media type: the
    real registry refuses to store schema 1 or unknown manifests, but others serve them."""

    def __init__(self, body: bytes, media_type: str) -> None:
        import hashlib
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        digest = "sha256:" + hashlib.sha256(body).hexdigest()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, send_body: bool):
                if self.path == "/v2/":
                    data, headers = b"{}", {"Content-Type": "application/json"}
                elif "/manifests/" in self.path:
                    data, headers = body, {"Content-Type": media_type, "Docker-Content-Digest": digest}
                else:
                    data, headers = b"{}", {}
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data if send_body else b"")
                    return
                self.send_response(200)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if send_body:
                    self.wfile.write(data)

            def do_GET(self):
                self._reply(True)

            def do_HEAD(self):
                self._reply(False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


SCHEMA1 = json.dumps({"schemaVersion": 1, "name": "old/app", "tag": "v1", "architecture": "amd64",
                      "fsLayers": [], "history": [], "signatures": []}).encode()
STRANGE = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.example.strange+json"}).encode()


@pytest.mark.parametrize("body,media_type,error,message", [
    (SCHEMA1, "application/vnd.docker.distribution.manifest.v1+prettyjws", errdefs.Unsupported, "schema 1"),
    (STRANGE, "application/vnd.example.strange+json", errdefs.Unsupported, "unsupported manifest media type"),
])
def test_schema1_and_unknown_manifests_are_refused(service, body, media_type, error, message):
    server = _ManifestServer(body, media_type)
    try:
        with pytest.raises(error, match=message) as info:
            service.pull(f"{server.address}/old/app:v1")
        assert "old/app" in str(info.value)
    finally:
        server.stop()
    assert service.list() == [] and service.snapshots.list() == []
