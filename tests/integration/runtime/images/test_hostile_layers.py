"""Hostile layers pulled from a real registry: nothing may be written outside the snapshot.

A canary directory sits next to the store (the store's root is tmp/root, the canary tmp/canary);
each layer tries to reach it by `..`, an absolute name, a symlink written earlier (relative,
absolute, or to "/"), or a hard link. Each is either contained (written inside the snapshot) or
refused with an error naming the layer — and then nothing of the layer is left behind.
"""

import os
import shutil
import uuid

import pytest

from runtime import errdefs
from tests.integration.runtime.images.conftest import mounted_view, push_layout_image
from tests.integration.runtime.images.layouts import Entry, layer_tar

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo (Debian skopeo)")

UP = "../" * 12


def _cases(canary: str):
    rel = canary.lstrip("/")
    secret = f"{canary}/secret"
    return {
        "dotdot": [Entry(f"{UP}{rel}/pwned", data=b"x")],
        "dotdot-inside-path": [Entry("a", "dir", mode=0o755), Entry(f"a/{UP}{rel}/pwned", data=b"x")],
        "absolute": [Entry(f"{canary}/pwned", data=b"x")],
        "symlink-relative-then-write": [Entry("evil", "symlink", link=f"{UP}{rel}"),
                                        Entry("evil/pwned", data=b"x")],
        "symlink-absolute-then-write": [Entry("evil", "symlink", link=canary), Entry("evil/pwned", data=b"x")],
        "symlink-to-root-then-write": [Entry("rootlink", "symlink", link="/"),
                                       Entry(f"rootlink/{rel}/pwned", data=b"x")],
        "dir-replaced-by-symlink": [Entry("d", "dir", mode=0o755), Entry("d", "symlink", link=canary),
                                    Entry("d/pwned", data=b"x")],
        "symlink-chain": [Entry("one", "symlink", link="two"), Entry("two", "symlink", link=f"{UP}{rel}"),
                          Entry("one/pwned", data=b"x")],
        "symlink-file-then-overwrite": [Entry("s", "symlink", link=secret), Entry("s", data=b"overwritten")],
        "hardlink-relative": [Entry("hl", "hardlink", link=f"{UP}{rel}/secret")],
        "hardlink-absolute-then-write": [Entry("hl", "hardlink", link=secret), Entry("hl", data=b"overwritten")],
        "hardlink-through-symlink": [Entry("r", "symlink", link="/"), Entry("hl", "hardlink", link=f"r/{rel}/secret")],
        "opaque-through-symlink": [Entry("e", "symlink", link=canary), Entry("e/.wh..wh..opq")],
        "whiteout-through-symlink": [Entry("e", "symlink", link=canary), Entry("e/.wh.secret")],
    }


CASES = list(_cases("/x"))


@pytest.mark.parametrize("case", CASES)
def test_hostile_layer_never_writes_outside_the_snapshot(service, registry, tmp_path, case):
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "secret").write_bytes(b"original")
    entries = [Entry("ok", data=b"fine")] + _cases(str(canary))[case]
    repo = f"sytest/hostile-{case}-{uuid.uuid4().hex[:6]}"
    push_layout_image(tmp_path, registry.address, repo, "v1", [layer_tar(entries)])
    try:
        image = service.pull(f"{registry.address}/{repo}:v1")
    except errdefs.InvalidArgument as exc:
        assert "layer sha256:" in str(exc) and "refused entry" in str(exc), exc
        assert service.snapshots.list() == [] and service.list() == []
        image = None
    # The canary is untouched: same names, same content, no extra hard link.
    assert sorted(os.listdir(canary)) == ["secret"]
    assert (canary / "secret").read_bytes() == b"original"
    assert os.stat(canary / "secret").st_nlink == 1
    if image is not None:
        with mounted_view(service, image.chain_id, tmp_path) as root:
            assert open(os.path.join(root, "ok"), "rb").read() == b"fine"


def test_dotdot_escape_is_refused_with_the_entry_named(service, registry, tmp_path):
    repo = f"sytest/hostile-named-{uuid.uuid4().hex[:6]}"
    push_layout_image(tmp_path, registry.address, repo, "v1",
                      [layer_tar([Entry("ok", data=b"x"), Entry("../../etc/evil", data=b"x")])])
    with pytest.raises(errdefs.InvalidArgument) as info:
        service.pull(f"{registry.address}/{repo}:v1")
    assert "'../../etc/evil'" in str(info.value) and "climbs out" in str(info.value)
    assert service.snapshots.list() == []


def test_absolute_names_are_contained_inside_the_rootfs(service, registry, tmp_path):
    repo = f"sytest/hostile-abs-{uuid.uuid4().hex[:6]}"
    push_layout_image(tmp_path, registry.address, repo, "v1",
                      [layer_tar([Entry("/etc", "dir", mode=0o755), Entry("/etc/motd", data=b"inside")])])
    image = service.pull(f"{registry.address}/{repo}:v1")
    with mounted_view(service, image.chain_id, tmp_path) as root:
        assert open(os.path.join(root, "etc/motd"), "rb").read() == b"inside"
