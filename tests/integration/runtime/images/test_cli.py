"""`stackyard image …` verbs, run as a user would (a subprocess), against the private registry."""

import json
import os
import shutil
import subprocess
import sys
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
