"""Local images: load/save round trips (docker and OCI formats), import, tag, rm, prune."""

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid

import pytest

from runtime import errdefs
from runtime.images import ImageService
from tests.integration.runtime.images.conftest import mounted_view, push_layout_image
from tests.integration.runtime.images.layouts import Entry, layer_tar

needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo (Debian skopeo)")


def _tree(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            data = open(path, "rb").read() if os.path.isfile(path) and not os.path.islink(path) else None
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_uid, st.st_gid, data)
    return out


@pytest.fixture
def pulled(service, registry, tmp_path):
    repo = f"sytest/local-{uuid.uuid4().hex[:6]}"
    layers = [layer_tar([Entry("etc", "dir", mode=0o755), Entry("etc/a", data=b"a" * 5000, uid=7)]),
              layer_tar([Entry("etc", "dir", mode=0o755), Entry("etc/.wh.a"), Entry("etc/b", data=b"b")])]
    push_layout_image(tmp_path, registry.address, repo, "v1", layers)
    return service.pull(f"{registry.address}/{repo}:v1")


@needs_skopeo
@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_save_then_load_round_trip(service, pulled, tmp_path, fmt):
    archive = io.BytesIO()
    tag = pulled.repo_tags[0]
    service.save([tag], archive, format=fmt)
    names = tarfile.open(fileobj=io.BytesIO(archive.getvalue())).getnames()
    if fmt == "docker":
        assert "manifest.json" in names and "repositories" in names and f"{pulled.id[7:]}.json" in names
    else:
        assert {"oci-layout", "index.json"} <= set(names) and f"blobs/sha256/{pulled.manifest_digest[7:]}" in names
        # Another tool reads the archive: skopeo finds the image by its tag and checks its blobs.
        path = tmp_path / "saved-oci.tar"
        path.write_bytes(archive.getvalue())
        copied = tmp_path / "skopeo-copy"
        subprocess.run(["skopeo", "copy", "--quiet", f"oci-archive:{path}:v1", f"oci:{copied}:v1"],
                       check=True, capture_output=True, timeout=60)
        index = json.loads((copied / "index.json").read_text())
        assert index["manifests"][0]["digest"] == pulled.manifest_digest
    with mounted_view(service, pulled.chain_id, tmp_path) as root:
        before = _tree(root)
    other = ImageService(str(tmp_path / f"other-{fmt}"), service.registry)
    try:
        lines = other.load(io.BytesIO(archive.getvalue()))
        assert lines == [f"Loaded image: {tag}"]
        loaded = other.get(tag)
        assert loaded.id == pulled.id and loaded.repo_tags == [tag]
        if fmt == "oci":
            assert loaded.manifest_digest == pulled.manifest_digest
        with mounted_view(other, loaded.chain_id, tmp_path) as root:
            assert _tree(root) == before
        # Loading the same archive again changes nothing and unpacks nothing twice.
        other.load(io.BytesIO(archive.getvalue()))
        assert len([s for s in other.snapshots.list() if s.kind == "committed"]) == 2
    finally:
        other.close()


def test_docker_save_archive_from_another_tool_loads(service, tmp_path):
    # The layout `docker save` writes (legacy format, uncompressed layers), made by hand.
    layer = layer_tar([Entry("hello", data=b"world\n", mode=0o755)])
    diff_id = "sha256:" + __import__("hashlib").sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                         "config": {"Cmd": ["/hello"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_hex = __import__("hashlib").sha256(config).hexdigest()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in [(f"{config_hex}.json", config), ("abc/layer.tar", layer), ("abc/VERSION", b"1.0"),
                           ("manifest.json", json.dumps([{"Config": f"{config_hex}.json",
                                                          "RepoTags": ["example/hello:1"],
                                                          "Layers": ["abc/layer.tar"]}]).encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert service.load(io.BytesIO(gzip.compress(out.getvalue()))) == ["Loaded image: example/hello:1"]
    image = service.get("example/hello:1")
    assert image.id == "sha256:" + config_hex and image.config["config"]["Cmd"] == ["/hello"]


def test_load_refuses_a_layer_that_does_not_match_its_diff_id(service):
    layer = layer_tar([Entry("x", data=b"x")])
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in [("c.json", config), ("l/layer.tar", layer),
                           ("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["bad/img:1"],
                                                          "Layers": ["l/layer.tar"]}]).encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(errdefs.InvalidArgument, match="diff id mismatch"):
        service.load(io.BytesIO(out.getvalue()))
    assert service.list() == [] and service.snapshots.list() == []


def test_import_rootfs_tarball(service, tmp_path):
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", src / "bin" / "busybox")
    os.symlink("busybox", src / "bin" / "sh")
    tarball = tmp_path / "rootfs.tar.gz"
    subprocess.run(["tar", "-C", str(src), "-czf", str(tarball), "."], check=True)
    with open(tarball, "rb") as f:
        image = service.import_rootfs(f, "example/imported:v1", changes=['CMD ["/bin/sh"]', "ENV A=b"],
                                      message="from a test")
    assert image.repo_tags == ["example/imported:v1"]
    assert image.config["config"]["Cmd"] == ["/bin/sh"] and image.config["config"]["Env"] == ["A=b"]
    assert image.config["comment"] == "from a test"
    with mounted_view(service, image.chain_id, tmp_path) as root:
        assert os.readlink(os.path.join(root, "bin/sh")) == "busybox"
        assert os.path.getsize(os.path.join(root, "bin/busybox")) == os.path.getsize("/bin/busybox")
    # An untagged import is dangling; prune removes it (and only it).
    with open(tarball, "rb") as f:
        dangling = service.import_rootfs(f, None, message="again")
    assert dangling.repo_tags == [] and [i.id for i in service.list(dangling=True)] == [dangling.id]
    report = service.prune()
    assert {"Deleted": dangling.id} in report["ImagesDeleted"]
    assert [i.id for i in service.list()] == [image.id]


def test_tag_rm_and_prune(service, pulled, tmp_path):
    service.tag(pulled.repo_tags[0], "example/alias:1")
    service.tag(pulled.id, "example/alias:2")
    assert sorted(service.get(pulled.id).repo_tags) == sorted(pulled.repo_tags + ["example/alias:1", "example/alias:2"])
    assert [i.id for i in service.list(reference_filter="example/alias")] == [pulled.id]
    # Removing one of several tags only untags.
    assert service.remove("example/alias:2") == [{"Untagged": "example/alias:2"}]
    # By id with tags in several repositories: refused unless forced.
    with pytest.raises(errdefs.Conflict, match="must be forced"):
        service.remove(pulled.id)
    # While a container uses it: refused.
    service.remove("example/alias:1")
    with pytest.raises(errdefs.Conflict, match="being used"):
        service.remove(pulled.repo_tags[0], in_use=lambda image_id: image_id == pulled.id)
    # A container's rootfs snapshot on the image keeps its layers through a forced removal.
    service.snapshots.prepare("container-rootfs", pulled.chain_id)
    result = service.remove(pulled.repo_tags[0], force=True, in_use=lambda i: True)
    assert {"Untagged": pulled.repo_tags[0]} in result and {"Deleted": pulled.id} in result
    assert service.snapshots.exists(pulled.chain_id)
    with pytest.raises(errdefs.NotFound, match="No such image"):
        service.get(pulled.id)
    service.snapshots.remove("container-rootfs")


def test_rm_deletes_layers_and_blobs_nothing_else_uses(service, pulled):
    blobs_before = set(service.content.list())
    assert pulled.manifest_digest in blobs_before
    result = service.remove(pulled.repo_tags[0])
    deleted = [r["Deleted"] for r in result if "Deleted" in r]
    assert deleted[0] == pulled.id and len(deleted) == 3  # image + two layer chain ids
    assert service.snapshots.list() == [] and service.content.list() == []
    with pytest.raises(errdefs.NotFound):
        service.remove(pulled.id)


def test_prune_collects_layers_and_blobs_no_image_records(service, pulled):
    # As after a crash between unpacking and recording: layers and blobs without an image.
    service.records.remove_image(pulled.id)
    assert service.snapshots.list() and service.content.list()
    report = service.prune()
    assert sorted(d["Deleted"] for d in report["ImagesDeleted"]) == sorted(
        __import__("runtime.images.manifest", fromlist=["chain_ids"]).chain_ids(pulled.diff_ids))
    assert service.snapshots.list() == [] and service.content.list() == []
    assert report["SpaceReclaimed"] > 0


def test_unknown_names_are_not_found(service):
    with pytest.raises(errdefs.NotFound, match="No such image: nothere:1"):
        service.get("nothere:1")
    with pytest.raises(errdefs.InvalidArgument, match="lowercase"):
        service.pull("Bad/Name")
    with pytest.raises(errdefs.NotFound):
        service.tag("nothere:1", "example/x:1")
