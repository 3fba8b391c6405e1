"""Push a local image: layer blobs (skipped, mounted or uploaded), config, then the manifest.

Who calls it: `ImageService.push`. The image's manifest, config and layer blobs come from the
content store exactly as pulled (or as load/import stored them), so the pushed manifest has the
same digest as the one we hold. Layers go up in parallel (at most 3); when the image was pulled
from another repository of the same registry, the registry is asked to mount the blob from
there instead of receiving it again. The registry client does skip/mount/upload.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Optional

from runtime import errdefs
from runtime.content import ContentStore
from runtime.images import manifest as mf
from runtime.images import progress as pg
from runtime.images.reference import Reference, parse_reference
from runtime.images.store import KIND_DIGEST

MAX_PARALLEL = 3
CHUNKED_ABOVE = 256 << 20   # monolithic below (one request); chunked for very large blobs


def _mount_source(image, ref: Reference) -> Optional[str]:
    """Another repository on the same registry this image came from (cross-repository mount)."""
    for name, kind in image.refs:
        if kind != KIND_DIGEST:
            continue
        other = parse_reference(name)
        if other.domain == ref.domain and other.repository != ref.repository:
            return other.repository
    return None


def push_image(content: ContentStore, client, ref: Reference, image, *, progress: pg.Progress) -> str:
    """Returns the manifest digest the registry stored under the tag.

    Raises:
        errdefs.NotFound: a blob of the image is not in the content store.
        registry errors (Unauthenticated, PermissionDenied, Unavailable, InvalidArgument).
    """
    lock = threading.Lock()

    def emit(event: dict) -> None:
        if progress is not None:
            with lock:
                progress(event)

    body = content.read(image.manifest_digest)
    parsed = mf.parse(body, image.manifest_media_type, where=ref.familiar())
    if not isinstance(parsed, mf.Manifest):
        raise errdefs.Internal(f"{ref.familiar()}: stored manifest {image.manifest_digest} is not a manifest")
    emit(pg.status(f"The push refers to repository [{ref.familiar_name() if ref.domain != 'docker.io' else ref.name}]"))
    for layer in reversed(parsed.layers):
        emit(pg.status("Preparing", pg.short_id(layer.digest)))
    for desc in list(parsed.layers) + [parsed.config]:
        if not content.exists(desc.digest):
            raise errdefs.NotFound(f"{ref.familiar()}: blob {desc.digest} is not in the local content "
                                   "store (pull the image again to push it)")
    mount_from = _mount_source(image, ref)

    def push_layer(layer: mf.Descriptor) -> None:
        ident = pg.short_id(layer.digest)
        if client.blob_exists(ref.domain, ref.repository, layer.digest, push=True) is not None:
            emit(pg.status("Layer already exists", ident))
            return
        state = {"sent": 0, "last": 0.0}

        def chunks() -> Iterator[bytes]:
            with content.open(layer.digest) as f:
                while True:
                    data = f.read(1 << 20)
                    if not data:
                        return
                    state["sent"] += len(data)
                    now = time.monotonic()
                    if now - state["last"] >= 0.1 or state["sent"] >= layer.size:
                        state["last"] = now
                        emit(pg.detail("Pushing", ident, state["sent"], layer.size))
                    yield data

        client.push_blob(ref.domain, ref.repository, layer.digest, layer.size, chunks(),
                         mount_from=mount_from, chunked=layer.size > CHUNKED_ABOVE)
        emit(pg.status("Mounted from " + mount_from if mount_from and state["sent"] == 0 else "Pushed", ident))

    with ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="push") as pool:
        for future in [pool.submit(push_layer, layer) for layer in parsed.layers]:
            future.result()
    config_bytes = content.read(parsed.config.digest)
    client.push_blob(ref.domain, ref.repository, parsed.config.digest, len(config_bytes), config_bytes)
    tag = ref.tag or "latest"
    digest = client.put_manifest(ref.domain, ref.repository, tag, parsed.media_type, body)
    emit(pg.status(f"{tag}: digest: {digest} size: {len(body)}"))
    emit({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": len(body)}})
    return digest
