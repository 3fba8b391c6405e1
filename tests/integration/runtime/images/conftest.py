"""Fixtures for the image-store tests: an ImageService in a temp root talking to the session's
private registry, and helpers to mount a snapshot view (always unmounted and removed)."""

import contextlib
import os
import shutil
import uuid

import pytest

from runtime.images import ImageService
from runtime.registry import RegistryClient
from runtime.snapshots import mount_all, unmount
from tests.integration.runtime.registry.helpers import client_config


def _needs_root():
    if os.geteuid() != 0:
        pytest.skip("image store tests need root (mknod whiteouts, chown, overlay mounts)")


@pytest.fixture
def service(tmp_path):
    _needs_root()
    client = RegistryClient(client_config(tmp_path))
    svc = ImageService(str(tmp_path / "root"), client)
    try:
        yield svc
    finally:
        svc.close()
        client.close()


@contextlib.contextmanager
def mounted_view(svc: ImageService, chain_id: str, where):
    """The image's merged rootfs, read-only, at a temp dir; unmounted and removed afterwards."""
    key = f"test-view-{uuid.uuid4().hex}"
    target = os.path.join(str(where), key)
    os.makedirs(target)
    mounts = svc.snapshots.view(key, chain_id)
    mounted = False
    try:
        mount_all(mounts, target)
        mounted = True
        yield target
    finally:
        if mounted:
            unmount(target)
        svc.snapshots.remove(key)
        shutil.rmtree(target, ignore_errors=True)


def push_layout_image(tmp_path, registry_address: str, repo: str, tag: str, layers, *,
                      manifest_format: str = "", **kwargs):
    """Build a one-manifest OCI layout from `layers` (tar bytes) and skopeo-push it."""
    from tests.integration.runtime.images.layouts import Layout, skopeo_push
    layout = Layout(str(tmp_path / f"oci-{uuid.uuid4().hex[:8]}"))
    desc = layout.image(layers, **kwargs)
    layout.tag(desc, tag)
    skopeo_push(layout.path, tag, registry_address, repo, manifest_format=manifest_format)
    return desc
