"""A busybox image in the test registry, for the daemon tests (pulled by the docker CLI through us).

Built from tests/integration/runtime/rootfs.py's busybox rootfs as one OCI layer and pushed with
skopeo (a client nobody here wrote), so nothing is ever pulled from outside the machine.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path

from tests.integration.runtime.images.layouts import Layout, skopeo_push
from tests.integration.runtime.rootfs import build_busybox_rootfs


def rootfs_layer(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return buffer.getvalue()


def push_busybox(registry_address: str, repo: str = "sytest/busybox", tag: str = "1") -> str:
    with tempfile.TemporaryDirectory(prefix="sy-bbimg-") as work:
        root = build_busybox_rootfs(Path(work) / "rootfs")
        layout = Layout(str(Path(work) / "layout"))
        desc = layout.image([rootfs_layer(root)], config_extra={
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Cmd": ["sh"], "Labels": {"org.example.kind": "busybox"}}})
        layout.tag(desc, tag)
        skopeo_push(layout.path, tag, registry_address, repo)
    return f"{registry_address}/{repo}:{tag}"
