"""Images from local bytes: `import` of a rootfs tarball, and what `load` shares with it.

Who calls it: `ImageService.import_rootfs`, and `runtime.images.load` (storing layers and
recording images). Layers go through the same safe unpacker as pulls, in one pass that also
stores the blob, and every blob is verified before it is stored. Archive formats are described
in load.py and save.py.
"""

from __future__ import annotations

import contextlib
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


# -- undoing a failed import/load ----------------------------------------------------------------

class Rollback:
    """What one import/load stored before its image was recorded, undone if it fails.

    A blob or chain snapshot that existed before is not ours to remove (another image may use
    it), so only new ones are noted. Snapshots go first, newest first (children before
    parents), then blobs, so nothing unreferenced stays behind."""

    def __init__(self, service) -> None:
        self.service = service
        self.snapshots: list[str] = []
        self.blobs: list[str] = []

    def snapshot(self, key_or_name: Optional[str]) -> None:
        if key_or_name is not None:
            self.snapshots.append(key_or_name)

    def blob(self, digest: str, existed: bool) -> None:
        if not existed:
            self.blobs.append(digest)

    def undo(self) -> None:
        for name in reversed(self.snapshots):
            if self.service.snapshots.exists(name):
                try:
                    self.service.snapshots.remove(name)
                except errdefs.StackyardError:
                    pass  # something else builds on it now: it is in use, not garbage
        for digest in self.blobs:
            self.service.content.delete(digest)
        self.snapshots, self.blobs = [], []


@contextlib.contextmanager
def rollback_on_failure(service) -> Iterator[Rollback]:
    undo = Rollback(service)
    try:
        yield undo
    except BaseException:
        undo.undo()
        raise


# -- storing one layer -------------------------------------------------------------------------

def store_layer(service, chunks: Iterator[bytes], compression: str, *, what: str,
                 expected_blob: Optional[str] = None, expected_diff_id: Optional[str] = None,
                 undo: Optional[Rollback] = None):
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
        existed = service.content.exists(writer.digest)
        digest = writer.commit(expected_blob, what=what)
    except BaseException:
        service.snapshots.remove(key)
        raise
    if undo is not None:
        undo.snapshot(key)
        undo.blob(digest, existed)
    return digest, writer.size, diff_id, key


def parse_config(config_bytes: bytes, *, where: str) -> dict[str, Any]:
    """An image config's JSON, which must be an object.

    Raises:
        errdefs.InvalidArgument: not JSON, or not an object.
    """
    try:
        config = json.loads(config_bytes)
    except ValueError as exc:
        raise errdefs.InvalidArgument(f"{where}: image config is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise errdefs.InvalidArgument(f"{where}: image config is not a JSON object")
    return config


def record_image(service, config_bytes: bytes, manifest_body: Optional[bytes], layer_descs: list[dict],
                  keys: list[Optional[str]], tags: list[str], undo: Optional[Rollback] = None) -> str:
    """Chain the unpacked layers, store config and manifest, record the image. Returns its id."""
    config = parse_config(config_bytes, where="image config")
    diff_ids = mf.config_diff_ids(config, where="image config")
    chains = mf.chain_ids(diff_ids)
    refs = [(str(parse_reference(t)), KIND_TAG) for t in tags]
    undo = undo or Rollback(service)
    for i, key in enumerate(keys):
        if key is not None and commit_layer(service.snapshots, key, chains[i], chains[i - 1] if i else None):
            undo.snapshot(chains[i])
    image_id = _write_blob(service, undo, config_bytes, "image config")
    if manifest_body is None:
        manifest_body = json.dumps({
            "schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
            "config": {"mediaType": mf.OCI_CONFIG, "digest": image_id, "size": len(config_bytes)},
            "layers": layer_descs}, separators=(",", ":")).encode()
    manifest_digest = _write_blob(service, undo, manifest_body, "manifest")
    media_type = mf.detect_media_type(manifest_body, mf.OCI_MANIFEST)
    service._record(image_id, mf.Descriptor(media_type, manifest_digest, len(manifest_body)),
                    chains[-1], config, refs)
    return image_id


def _write_blob(service, undo: Rollback, data: bytes, what: str) -> str:
    from runtime.content import sha256_digest
    existed = service.content.exists(sha256_digest(data))
    digest = service.content.write_blob(data, what=what)
    undo.blob(digest, existed)
    return digest


# -- import --------------------------------------------------------------------------------------

def import_rootfs(service, tar_stream: BinaryIO, ref: Optional[str], *, changes=None, message: str = "",
                  platform: Optional[str] = None):
    """`docker import`: one layer from a (gzip, zstd or plain) tarball; returns the Image.

    Raises:
        errdefs.InvalidArgument: bad reference or change, unsafe or malformed tarball.
    """
    tags = [str(parse_reference(ref))] if ref else []
    want = mf.parse_platform(platform) if platform else service.platform
    # Everything the user typed is checked before a byte is stored.
    container_config = apply_changes({}, changes or [])
    head = tar_stream.read(CHUNK)
    if not head:
        raise errdefs.InvalidArgument("import: the tarball is empty")
    compression = detect_compression(head)
    with service.busy(), rollback_on_failure(service) as undo:
        blob, size, diff_id, key = store_layer(service, stream_chunks(tar_stream, head), compression,
                                                what="import", undo=undo)
        now = _now()
        comment = message or "Imported from -"
        config: dict[str, Any] = {
            "architecture": want.architecture, "os": want.os, "created": now, "comment": comment,
            "config": container_config,
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
                                 [key], tags, undo)
    return service.get(image_id)


def _now() -> str:
    from runtime.images.service import now_rfc3339
    return now_rfc3339()
