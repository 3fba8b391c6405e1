"""The image store: references, manifests, pull/push, local images, import/load/save.

Who calls it: the daemon's services, `runtime.cli.image`, and the container side (which asks
`ImageService.get(...)` and `rootfs_parent(image)` for the snapshot to prepare a rootfs on).
Import cost stays small: the registry client (httpx) is imported only when a pull or push needs it.
"""

from runtime.images.service import Image, ImageService

__all__ = ["Image", "ImageService"]
