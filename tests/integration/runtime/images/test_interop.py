"""Interop with clients nobody here wrote: skopeo pushes, we pull; we push, skopeo + umoci pull.

The image is built from busybox-static with the kinds of entries layers carry (setuid binary,
applet symlinks, hard link, fifo, char device, xattr, non-root owners, sticky and setgid dirs)
plus a second layer with a whiteout and an opaque directory. Our unpacked rootfs (the mounted
overlay view) must equal what `umoci unpack` makes of the same image, entry by entry: names,
types, modes, owners, link targets, device numbers, contents and user xattrs.
"""

import hashlib
import os
import shutil
import stat
import subprocess
import uuid

import pytest

from tests.integration.runtime.images.conftest import mounted_view, push_layout_image
from tests.integration.runtime.images.layouts import Entry, layer_tar

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("skopeo", "umoci")) or not os.path.exists("/bin/busybox"),
    reason="needs skopeo, umoci and busybox-static (Debian packages)")

APPLETS = ["sh", "ls", "cat", "echo", "true"]


def _layers():
    busybox = open("/bin/busybox", "rb").read()
    base = [Entry("bin", "dir", mode=0o755), Entry("bin/busybox", data=busybox, mode=0o4755),
            *[Entry(f"bin/{a}", "symlink", link="busybox") for a in APPLETS],
            Entry("bin/busybox-again", "hardlink", link="bin/busybox"),
            Entry("etc", "dir", mode=0o755), Entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"),
            Entry("etc/shadow", data=b"root:*:1::::::\n", mode=0o640, gid=42),
            Entry("home", "dir", mode=0o755), Entry("home/alice", "dir", mode=0o2750, uid=1000, gid=1000),
            Entry("home/alice/notes", data=b"hello\n", mode=0o600, uid=1000, gid=1000),
            Entry("tmp", "dir", mode=0o1777), Entry("dev", "dir", mode=0o755),
            Entry("dev/null", "char", mode=0o666, major=1, minor=3), Entry("run", "dir", mode=0o755),
            Entry("run/fifo", "fifo", mode=0o644),
            Entry("usr", "dir", mode=0o755), Entry("usr/lib", "dir", mode=0o755),
            Entry("usr/lib/tagged", data=b"xattr\n", xattrs={"user.origin": "test"}),
            Entry("lib", "symlink", link="usr/lib"),
            Entry("var", "dir", mode=0o755), Entry("var/cache", "dir", mode=0o755),
            Entry("var/cache/old1", data=b"1"), Entry("var/cache/old2", data=b"2"),
            Entry("etc/removed", data=b"bye")]
    top = [Entry("etc", "dir", mode=0o755), Entry("etc/.wh.removed"),
           Entry("var", "dir", mode=0o755), Entry("var/cache", "dir", mode=0o700),
           Entry("var/cache/.wh..wh..opq"), Entry("var/cache/new", data=b"new"),
           Entry("etc/hostname", data=b"interop\n")]
    return [layer_tar(base), layer_tar(top)]


def snapshot_tree(root: str) -> dict:
    """Everything a user of the rootfs could notice, per relative path (mtimes aside)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            item = {"mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid, "mtime": st.st_mtime_ns}
            if stat.S_ISLNK(st.st_mode):
                item["link"] = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    item["sha256"] = hashlib.sha256(f.read()).hexdigest()
                item["user_xattrs"] = {k: os.getxattr(path, k) for k in os.listxattr(path) if k.startswith("user.")}
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                item["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            out[rel] = item
    return out


def umoci_rootfs(registry_ref: str, workdir) -> str:
    layout = os.path.join(str(workdir), f"layout-{uuid.uuid4().hex[:6]}")
    bundle = os.path.join(str(workdir), f"bundle-{uuid.uuid4().hex[:6]}")
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{registry_ref}",
                    f"oci:{layout}:img"], check=True, capture_output=True, timeout=120)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:img", bundle], check=True, capture_output=True,
                   timeout=120)
    return os.path.join(bundle, "rootfs")


def test_skopeo_pushed_image_unpacks_like_umoci(service, registry, tmp_path):
    repo = f"sytest/interop-{uuid.uuid4().hex[:6]}"
    push_layout_image(tmp_path, registry.address, repo, "v1", _layers())
    ref = f"{registry.address}/{repo}:v1"
    image = service.pull(ref)
    theirs = snapshot_tree(umoci_rootfs(ref, tmp_path))
    with mounted_view(service, image.chain_id, tmp_path) as root:
        ours = snapshot_tree(root)
    assert "etc/removed" not in ours and "var/cache/old1" not in ours and ours["var/cache/new"]
    assert ours["bin/busybox"]["mode"] == oct(stat.S_IFREG | 0o4755)
    assert ours["usr/lib/tagged"]["user_xattrs"] == {"user.origin": b"test"}
    assert ours == theirs


def test_image_we_push_is_pulled_and_unpacked_by_skopeo_and_umoci(service, registry, tmp_path):
    source = f"sytest/interop-src-{uuid.uuid4().hex[:6]}"
    push_layout_image(tmp_path, registry.address, source, "v1", _layers())
    image = service.pull(f"{registry.address}/{source}:v1")
    with mounted_view(service, image.chain_id, tmp_path) as root:
        ours = snapshot_tree(root)
    target = f"{registry.address}/sytest/interop-dst-{uuid.uuid4().hex[:6]}:v2"
    service.tag(image.id, target)
    events = []
    digest = service.push(target, progress=events.append)
    assert digest == image.manifest_digest  # the same manifest, byte for byte
    assert any(e.get("aux", {}).get("Digest") == digest for e in events)
    # Same registry, another repository: the layers are mounted, not uploaded again.
    assert [e["status"] for e in events if e.get("status", "").startswith("Mounted from")] == \
        [f"Mounted from {source}"] * 2
    inspected = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{target}"],
                               check=True, capture_output=True, text=True, timeout=60)
    assert digest in inspected.stdout
    assert snapshot_tree(umoci_rootfs(target, tmp_path)) == ours
