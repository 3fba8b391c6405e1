"""What the container manager needs from the image store and the network manager.

Both are optional (ContainerManager(image_hook=None, network_hook=None)): the daemon passes
adapters over runtime/images + runtime/snapshots and runtime/network; tests pass
`DirectoryImageHook` (an overlay over a plain root filesystem directory) and run containers
with `network_mode: none`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Rootfs:
    path: str               # where the executor mounts the root filesystem (root.path)
    mounts: list[dict]      # the snapshot's mount list (mounted by the executor in the container's mount ns)
    image_config: dict      # the image's config (Env, Cmd, Entrypoint, WorkingDir, User, Volumes, Healthcheck...)
    image_id: str = ""      # "sha256:..." for inspect's Image field


@dataclass(frozen=True)
class Endpoint:
    netns_path: str | None                      # None: a fresh empty namespace; "host": the host's
    hosts: str | None = None                    # /etc/hosts content (None: the manager writes a default)
    resolv_conf: str | None = None              # /etc/resolv.conf content
    settings: dict = field(default_factory=dict)  # NetworkSettings for inspect


class ImageHook(Protocol):
    def prepare_rootfs(self, container_id: str, image: str) -> Rootfs:
        """A writable rootfs for the container from image reference/id `image`. Raises NotFound."""

    def release_rootfs(self, container_id: str) -> None:
        """Drops the container's writable layer (idempotent)."""


class NetworkHook(Protocol):
    def connect(self, container_id: str, name: str, body: dict) -> Endpoint:
        """Namespace and resolver files for the container's networks (HostConfig.NetworkMode...)."""

    def disconnect(self, container_id: str) -> None:
        """Releases the container's namespace and endpoints (idempotent)."""


class DirectoryImageHook:
    """Every container gets an overlay over one read-only root filesystem directory.

    For tests and for running a plain directory as a container (no image store). The overlay
    is mounted by the executor inside the container's mount namespace, so nothing is mounted
    on the host; `state_dir/<id>/{upper,work,rootfs}` hold the writable layer.
    """

    def __init__(self, lower: str, state_dir: str, image_config: dict | None = None) -> None:
        self.lower = lower
        self.state_dir = state_dir
        self.image_config = image_config or {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}

    def prepare_rootfs(self, container_id: str, image: str) -> Rootfs:
        base = os.path.join(self.state_dir, container_id)
        paths = {name: os.path.join(base, name) for name in ("upper", "work", "rootfs")}
        for path in paths.values():
            os.makedirs(path, exist_ok=True)
        mounts = [{"type": "overlay", "source": "overlay",
                   "options": [f"lowerdir={self.lower}", f"upperdir={paths['upper']}", f"workdir={paths['work']}"]}]
        return Rootfs(paths["rootfs"], mounts, dict(self.image_config), image_id=f"dir:{self.lower}")

    def release_rootfs(self, container_id: str) -> None:
        shutil.rmtree(os.path.join(self.state_dir, container_id), ignore_errors=True)
