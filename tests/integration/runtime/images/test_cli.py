"""`stackyard image …` verbs, run as a user would (a subprocess), against the private registry."""

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid

import pytest

from tests.integration.runtime.images.conftest import push_layout_image
from tests.integration.runtime.images.layouts import Entry, layer_tar

pytestmark = [pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo (Debian skopeo)"),
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (layer unpacking)")]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))


def stackyard(root, *args, stdin=None):
    env = dict(os.environ, DOCKER_CONFIG=os.path.join(str(root), "docker"))
    return subprocess.run([sys.executable, "-m", "stackyard.main", "image", "--root", str(root), *args],
                          capture_output=True, text=stdin is None, input=stdin, cwd=REPO_ROOT, env=env, timeout=120)


def test_cli_pull_ls_inspect_tag_push_rm(registry, tmp_path):
    repo = f"sytest/cli-{uuid.uuid4().hex[:6]}"
    push_layout_image(tmp_path, registry.address, repo, "v1", [layer_tar([Entry("hello", data=b"hi\n")])])
    root = tmp_path / "root"
    ref = f"{registry.address}/{repo}:v1"
    pulled = stackyard(root, "pull", ref)
    assert pulled.returncode == 0, pulled.stderr
    lines = pulled.stdout.splitlines()
    assert lines[0] == f"v1: Pulling from {repo}" and "Pull complete" in pulled.stdout
    assert lines[-2].startswith("Status: Downloaded newer image for") and lines[-1] == ref
    again = stackyard(root, "pull", ref)
    assert "Already exists" in again.stdout and "Image is up to date" in again.stdout
    listed = stackyard(root, "ls")
    assert listed.stdout.splitlines()[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert f"{registry.address}/{repo}" in listed.stdout
    info = json.loads(stackyard(root, "inspect", ref).stdout)
    assert info[0]["RepoTags"] == [ref]
    target = f"{registry.address}/{repo}-copy:v2"
    assert stackyard(root, "tag", ref, target).returncode == 0
    pushed = stackyard(root, "push", target)
    assert pushed.returncode == 0, pushed.stderr
    assert "v2: digest: sha256:" in pushed.stdout
    removed = stackyard(root, "rm", target)
    assert removed.stdout.strip() == f"Untagged: {target}"


def test_cli_errors_are_one_line_with_exit_codes(tmp_path):
    bad = stackyard(tmp_path / "root", "pull", "Not/Valid")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "lowercase" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = stackyard(tmp_path / "root", "rm", "nothere:1")
    assert missing.returncode == 1 and missing.stderr.strip() == "stackyard image rm: No such image: nothere:1"
    down = stackyard(tmp_path / "root", "pull", "127.0.0.1:1/x:1")
    assert down.returncode == 1 and down.stderr.count("\n") == 1


def test_cli_save_load_import(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("content\n")
    subprocess.run(["tar", "-C", str(src), "-czf", str(tmp_path / "rootfs.tgz"), "."], check=True)
    root = tmp_path / "root"
    imported = stackyard(root, "import", str(tmp_path / "rootfs.tgz"), "example/cli:1", "-c", "CMD [\"/file\"]")
    assert imported.returncode == 0, imported.stderr
    image_id = imported.stdout.strip()
    assert image_id.startswith("sha256:")
    saved = stackyard(root, "save", "-o", str(tmp_path / "out.tar"), "--format", "oci", "example/cli:1")
    assert saved.returncode == 0, saved.stderr
    other = tmp_path / "other"
    loaded = stackyard(other, "load", "-i", str(tmp_path / "out.tar"))
    assert loaded.stdout.strip() == "Loaded image: example/cli:1"
    assert stackyard(other, "ls", "-q", "--no-trunc").stdout.strip() == image_id


# -- corrupt archives: one line on stderr, exit 2, nothing stored ---------------------------------

def _leftovers(root) -> dict:
    """What a failed load/import left in the root, read without opening an ImageService (whose
    start-up hygiene would remove stale extractions and hide a leak)."""
    from runtime.snapshots import Snapshotter
    root = str(root)
    out = {}
    overlay = os.path.join(root, "overlay")
    if os.path.exists(os.path.join(overlay, "metadata.db")):
        snaps = Snapshotter(overlay)
        out["snapshots"] = [s.name for s in snaps.list()]
        out["snapshot dirs"] = os.listdir(os.path.join(overlay, "snapshots"))
        snaps.db.close()
    for name, sub in (("blobs", "content/blobs/sha256"), ("ingest", "content/ingest"), ("tmp", "tmp")):
        path = os.path.join(root, sub)
        out[name] = os.listdir(path) if os.path.isdir(path) else []
    return {k: v for k, v in out.items() if v}


def _tar(path, members: dict) -> str:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def _docker_archive(path, *, manifest=None, config=None, layers=None) -> str:
    """A `docker save` archive; by default a valid one-layer image tagged example/ok:1."""
    layers = layers if layers is not None else [layer_tar([Entry("file", data=b"x\n")])]
    diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for t in layers]
    if config is None:
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    members = {"config.json": config}
    for i, tar in enumerate(layers):
        members[f"l{i}/layer.tar"] = tar
    if manifest is None:
        manifest = json.dumps([{"Config": "config.json", "RepoTags": ["example/ok:1"],
                                "Layers": [f"l{i}/layer.tar" for i in range(len(layers))]}]).encode()
    members["manifest.json"] = manifest
    return _tar(path, members)


def _assert_clean_failure(result, root, *words):
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert _leftovers(root) == {}


def test_load_truncated_gzip_archive(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(3_000_000))
    subprocess.run(["tar", "-C", str(src), "-czf", str(tmp_path / "big.tgz"), "big"], check=True)
    with open(tmp_path / "big.tgz", "rb") as f:
        (tmp_path / "t.tgz").write_bytes(f.read(1_500_000))
    root = tmp_path / "root"
    result = stackyard(root, "load", "-i", str(tmp_path / "t.tgz"))
    _assert_clean_failure(result, root, "t.tgz", "truncated")


@pytest.mark.parametrize("name, kwargs, words", [
    ("config-not-json", {"config": b"{not json"}, ["config.json: image config is not JSON"]),
    ("config-not-object", {"config": b"[1, 2]"}, ["config.json: image config is not a JSON object"]),
    ("entry-not-object", {"manifest": b'["notadict"]'}, ["manifest.json entry 0 is not an object"]),
    ("manifest-not-json", {"manifest": b"\x00\x01"}, ["manifest.json is not JSON"]),
    ("layers-not-names", {"manifest": b'[{"Config": "config.json", "Layers": [1]}]'},
     ["entry 0: Layers is not a list of file names"]),
    ("bad-repotag", {"manifest": b'[{"Config": "config.json", "RepoTags": ["Bad/Name"], '
                                  b'"Layers": ["l0/layer.tar"]}]'}, ["RepoTags"]),
])
def test_load_docker_archive_with_bad_json(tmp_path, name, kwargs, words):
    archive = _docker_archive(tmp_path / f"{name}.tar", **kwargs)
    root = tmp_path / "root"
    _assert_clean_failure(stackyard(root, "load", "-i", archive), root, f"{name}.tar", *words)


def test_load_docker_archive_second_layer_bad_leaves_nothing(tmp_path):
    """The first layer is stored (blob + snapshot) before the second fails its diff id: both go."""
    good = layer_tar([Entry("a", data=os.urandom(5000))])
    bad = layer_tar([Entry("b", data=b"b\n")])
    diff_ids = ["sha256:" + hashlib.sha256(good).hexdigest(), "sha256:" + "0" * 64]
    config = json.dumps({"os": "linux", "architecture": "amd64",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    archive = _docker_archive(tmp_path / "twolayer.tar", config=config, layers=[good, bad])
    root = tmp_path / "root"
    _assert_clean_failure(stackyard(root, "load", "-i", archive), root, "diff id mismatch", "l1/layer.tar")


@pytest.mark.parametrize("name, index, words", [
    ("index-not-json", b"{{", ["index.json", "not valid JSON"]),
    ("index-not-object", b'["x"]', ["index.json", "not a JSON object"]),
    ("index-no-manifests", b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}',
     ["index.json", "no manifests"]),
])
def test_load_oci_archive_with_bad_index(tmp_path, name, index, words):
    archive = _tar(tmp_path / f"{name}.tar", {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
                                              "index.json": index})
    root = tmp_path / "root"
    _assert_clean_failure(stackyard(root, "load", "-i", archive), root, f"{name}.tar", *words)


def test_load_oci_archive_with_corrupt_layer_leaves_nothing(tmp_path):
    from tests.integration.runtime.images.layouts import Layout
    layout = Layout(str(tmp_path / "layout"))
    good = layer_tar([Entry("a", data=os.urandom(5000))])
    desc = layout.image([good], raw_layers=[(b"\x1f\x8bnot really gzip", "sha256:" + "1" * 64)])
    layout.tag(desc, "example/oci:1")
    archive = str(tmp_path / "oci.tar")
    subprocess.run(["tar", "-C", layout.path, "-cf", archive, "."], check=True)
    root = tmp_path / "root"
    _assert_clean_failure(stackyard(root, "load", "-i", archive), root, "oci.tar", "gzip")


def test_load_repositories_file_must_be_valid(tmp_path):
    archive = tmp_path / "repos.tar"
    _docker_archive(tmp_path / "ok.tar")
    with tarfile.open(tmp_path / "ok.tar") as src, tarfile.open(archive, "w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member))
        info = tarfile.TarInfo("repositories")
        info.size = 4
        dst.addfile(info, io.BytesIO(b"[42]"))
    root = tmp_path / "root"
    _assert_clean_failure(stackyard(root, "load", "-i", str(archive)), root, "repositories")


def test_import_bad_change_stores_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("content\n")
    subprocess.run(["tar", "-C", str(src), "-czf", str(tmp_path / "rootfs.tgz"), "."], check=True)
    root = tmp_path / "root"
    result = stackyard(root, "import", str(tmp_path / "rootfs.tgz"), "example/bad:1", "-c", "BOGUS x")
    _assert_clean_failure(result, root, "BOGUS")


def test_import_corrupt_tarball_stores_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(2_000_000))
    subprocess.run(["tar", "-C", str(src), "-czf", str(tmp_path / "big.tgz"), "big"], check=True)
    with open(tmp_path / "big.tgz", "rb") as f:
        (tmp_path / "cut.tgz").write_bytes(f.read(1_000_000))
    root = tmp_path / "root"
    result = stackyard(root, "import", str(tmp_path / "cut.tgz"), "example/cut:1")
    _assert_clean_failure(result, root, "cut.tgz", "truncated")
