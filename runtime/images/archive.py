"""Images from local bytes: `import` of a rootfs tarball, and what `load` shares with it.

Who calls it: `ImageService.import_rootfs`, and `runtime.images.load` (storing layers and
recording images). Layers go through the same safe unpacker as pulls, in one pass that also
stores the blob, and every blob is verified before it is stored. Archive formats are described
in load.py and save.py.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, BinaryIO, Iterator, Optional

from runtime import errdefs
from runtime.images import manifest as mf
from runtime.images.changes import apply_changes
from runtime.images.reference import parse_reference
from runtime.images.store import KIND_TAG
from runtime.images.stream import detect_compression
from runtime.images.unpacker import commit_layer, unpack_layer

CHUNK = 1 << 20
COMPRESSED_TYPE = {"gzip": mf.OCI_LAYER_GZIP, "zstd": mf.OCI_LAYER_ZSTD, "": mf.OCI_LAYER}


def stream_chunks(stream: BinaryIO, head: bytes = b"") -> Iterator[bytes]:
    if head:
        yield head
    while True:
        data = stream.read(CHUNK)
        if not data:
            return
        yield data


def tmpdir(service) -> str:
    base = os.path.join(service.root, "tmp")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(dir=base)


# -- storing one layer -------------------------------------------------------------------------

def store_layer(service, chunks: Iterator[bytes], compression: str, *, what: str,
                 expected_blob: Optional[str] = None, expected_diff_id: Optional[str] = None):
    """Blob (as given) into the content store and its tar into a new snapshot, in one pass.

    Returns (blob digest, blob size, diff id, snapshot key or None when the chain exists)."""
    writer = service.content.writer()

    def tee() -> Iterator[bytes]:
        for chunk in chunks:
            writer.write(chunk)
            yield chunk

    try:
        key, diff_id = unpack_layer(service.snapshots, tee(), compression=compression, what=what,
                                    expected_diff_id=expected_diff_id)
    except BaseException:
        writer.abort()
        raise
    try:
        digest = writer.commit(expected_blob, what=what)
    except BaseException:
        service.snapshots.remove(key)
        raise
    return digest, writer.size, diff_id, key


def record_image(service, config_bytes: bytes, manifest_body: Optional[bytes], layer_descs: list[dict],
                  keys: list[Optional[str]], tags: list[str]) -> str:
    """Chain the unpacked layers, store config and manifest, record the image. Returns its id."""
    config = json.loads(config_bytes)
    diff_ids = mf.config_diff_ids(config, where="image config")
    chains = mf.chain_ids(diff_ids)
    for i, key in enumerate(keys):
        if key is not None:
            commit_layer(service.snapshots, key, chains[i], chains[i - 1] if i else None)
    image_id = service.content.write_blob(config_bytes, what="image config")
    if manifest_body is None:
        manifest_body = json.dumps({
            "schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
            "config": {"mediaType": mf.OCI_CONFIG, "digest": image_id, "size": len(config_bytes)},
            "layers": layer_descs}, separators=(",", ":")).encode()
    manifest_digest = service.content.write_blob(manifest_body, what="manifest")
    media_type = mf.detect_media_type(manifest_body, mf.OCI_MANIFEST)
    refs = [(str(parse_reference(t)), KIND_TAG) for t in tags]
    service._record(image_id, mf.Descriptor(media_type, manifest_digest, len(manifest_body)),
                    chains[-1], config, refs)
    return image_id


# -- import --------------------------------------------------------------------------------------

def import_rootfs(service, tar_stream: BinaryIO, ref: Optional[str], *, changes=None, message: str = "",
                  platform: Optional[str] = None):
    """`docker import`: one layer from a (gzip, zstd or plain) tarball; returns the Image.

    Raises:
        errdefs.InvalidArgument: bad reference or change, unsafe or malformed tarball.
    """
    tags = [str(parse_reference(ref))] if ref else []
    want = mf.parse_platform(platform) if platform else service.platform
    head = tar_stream.read(CHUNK)
    if not head:
        raise errdefs.InvalidArgument("import: the tarball is empty")
    compression = detect_compression(head)
    with service.busy():
        blob, size, diff_id, key = store_layer(service, stream_chunks(tar_stream, head), compression,
                                                what="import")
        now = _now()
        comment = message or "Imported from -"
        config: dict[str, Any] = {
            "architecture": want.architecture, "os": want.os, "created": now, "comment": comment,
            "config": apply_changes({}, changes or []),
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": now, "created_by": "", "comment": comment}],
        }
        if want.variant:
            config["variant"] = want.variant
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        if service.snapshots.exists(diff_id):
            service.snapshots.remove(key)
            key = None
        image_id = record_image(service, config_bytes, None,
                                 [{"mediaType": COMPRESSED_TYPE[compression], "digest": blob, "size": size}],
                                 [key], tags)
    return service.get(image_id)


def _now() -> str:
    from runtime.images.service import now_rfc3339
    return now_rfc3339()
