"""Turn one layer's bytes into a committed snapshot named by its chain id.

Who calls it: `runtime.images.pull` (bytes from the registry), `archive` (load) and `service`
(import). Layers are unpacked into snapshots prepared *without* a parent, so several can be
unpacked at once; `commit_layer` then chains them in order (an upper dir's contents do not
depend on the layers below it). A layer that fails for any reason leaves no snapshot behind.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Iterable, Optional

from runtime import errdefs
from runtime.images.stream import DecompressError, decompress, hashed
from runtime.snapshots import Snapshotter
from runtime.snapshots.unpack import apply_layer

EXTRACT_LABEL = "io.stackyard.extract"
EXTRACT_PREFIX = "extract-"


def unpack_layer(snapshots: Snapshotter, chunks: Iterable[bytes], *, compression: str, what: str,
                 expected_diff_id: Optional[str] = None) -> tuple[str, str]:
    """Unpack a (compressed) layer into a new active snapshot; returns (key, diff id).

    Reads `chunks` to the end. `what` names the layer in errors ("layer sha256:…").

    Raises:
        errdefs.InvalidArgument: corrupt compression, unsafe or malformed tar, diff id mismatch.
    """
    key = f"{EXTRACT_PREFIX}{uuid.uuid4().hex}"
    snapshots.prepare(key, None, labels={EXTRACT_LABEL: str(os.getpid()), "layer": what})
    try:
        hasher = hashlib.sha256()
        try:
            # With a diff id to check, gzip's CRC-32 is redundant: the sha256 covers every byte.
            tar = decompress(chunks, compression, checked_after=expected_diff_id is not None)
            apply_layer(snapshots.upper_dir(key), hashed(tar, hasher), what=what)
        except DecompressError as exc:
            raise errdefs.InvalidArgument(f"{what}: {exc}") from None
        diff_id = "sha256:" + hasher.hexdigest()
        if expected_diff_id is not None and diff_id != expected_diff_id:
            raise errdefs.InvalidArgument(f"{what}: diff id mismatch: the image config says "
                                          f"{expected_diff_id}, the layer's tar hashes to {diff_id}")
        return key, diff_id
    except BaseException:
        snapshots.remove(key)
        raise


def commit_layer(snapshots: Snapshotter, key: str, chain_id: str, parent: Optional[str]) -> bool:
    """Commit an unpacked layer as `chain_id` on `parent`. False if another pull got there first
    (the duplicate is removed; the existing snapshot has the same contents by definition)."""
    try:
        snapshots.commit(chain_id, key, parent=parent)
        return True
    except errdefs.AlreadyExists:
        snapshots.remove(key)
        return False


def remove_stale_extractions(snapshots: Snapshotter) -> None:
    """Drop active extract snapshots a crashed process left (called when a service starts)."""
    for info in snapshots.list():
        if info.kind == "active" and info.name.startswith(EXTRACT_PREFIX):
            if _alive(info.labels.get(EXTRACT_LABEL, "")):
                continue  # another process (a CLI pull next to the daemon) is still at it
            try:
                snapshots.remove(info.name)
            except errdefs.StackyardError:
                pass


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
