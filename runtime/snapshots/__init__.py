"""Snapshots: the overlay snapshotter, mount lists, and safe layer unpacking.

Who calls it: `runtime.images` (unpacks layers into snapshots named by chain id) and the
container side (prepares a container's rootfs on an image's chain id, then `mount_all`s it).
"""

from runtime.snapshots.mount import Mount, mount_all, unmount
from runtime.snapshots.overlay import (KIND_ACTIVE, KIND_COMMITTED, KIND_VIEW, SnapshotInfo,
                                       Snapshotter, disk_usage)

OverlaySnapshotter = Snapshotter

__all__ = ["Mount", "mount_all", "unmount", "Snapshotter", "OverlaySnapshotter", "SnapshotInfo",
           "KIND_ACTIVE", "KIND_COMMITTED", "KIND_VIEW", "disk_usage"]
