"""Deleting an image and collecting what nothing references any more.

Who calls it: `ImageService.remove` and `prune`. An image's snapshots (one per chain id) are
removed from the top down while no other image's chain includes them and no snapshot (a
container's rootfs, a later layer) builds on them. Blobs are swept by reachability from the
remaining images: manifests, configs, layers and the indexes their digest references name.
"""

from __future__ import annotations

import json

from runtime import errdefs
from runtime.images import manifest as mf
from runtime.images.reference import parse_reference
from runtime.images.store import KIND_DIGEST


def delete_image(service, image_id: str) -> list[dict]:
    """Untag everything, delete the record, then the snapshots and blobs only it used.

    Snapshots something still builds on (a container's rootfs) stay until that is removed."""
    service.records.get(image_id)
    config = json.loads(service.content.read(image_id))
    names = service.records.remove_image(image_id)
    out: list[dict] = []
    for name in sorted(names):
        out.append({"Untagged": parse_reference(name).familiar()})
    out.append({"Deleted": image_id})
    with service.collecting() as allowed:
        # While a pull runs it may be about to build on these layers: leave them to a prune.
        if allowed:
            out.extend({"Deleted": c} for c in remove_unused_snapshots(service, config))
    sweep_blobs(service)
    return out


def _used_chains(service) -> set[str]:
    used: set[str] = set()
    for record in service.records.all():
        try:
            config = json.loads(service.content.read(record.id))
            used.update(mf.chain_ids(mf.config_diff_ids(config, where=record.id)))
        except errdefs.StackyardError:
            continue
    return used


def remove_unused_snapshots(service, config: dict) -> list[str]:
    chains = mf.chain_ids(mf.config_diff_ids(config, where="image"))
    used = _used_chains(service)
    removed = []
    for chain in reversed(chains):
        if chain in used or not service.snapshots.exists(chain):
            break
        if service.snapshots.children(chain):
            break  # a container's rootfs (or another image's layer) is built on it
        service.snapshots.remove(chain)
        removed.append(chain)
    return removed


def reachable_blobs(service) -> set[str]:
    keep: set[str] = set()
    for record in service.records.all():
        keep.update((record.id, record.manifest_digest))
        try:
            body = service.content.read(record.manifest_digest)
            parsed = mf.parse(body, record.manifest_media_type, where=record.id)
            if isinstance(parsed, mf.Manifest):
                keep.add(parsed.config.digest)
                keep.update(layer.digest for layer in parsed.layers)
        except errdefs.StackyardError:
            pass
        for name, kind in service.records.refs_of(record.id):
            if kind == KIND_DIGEST:
                digest = name.rpartition("@")[2]
                keep.add(digest)
                if service.content.exists(digest):
                    try:
                        parsed = mf.parse(service.content.read(digest), None, where=name)
                    except errdefs.StackyardError:
                        continue
                    if isinstance(parsed, mf.Index):
                        keep.update(d.digest for d in parsed.manifests)
    return keep


def sweep_blobs(service) -> int:
    with service.collecting() as allowed:
        if not allowed:
            return 0  # a pull may have stored blobs it has not recorded yet; next time
        keep = reachable_blobs(service)
        removed = 0
        for digest in service.content.list():
            if digest not in keep:
                service.content.delete(digest)
                removed += 1
        return removed


def remove_orphan_layers(service) -> list[str]:
    """Committed layer snapshots no image uses and nothing builds on (left by a crash between
    unpacking and recording an image, or by a failed pull). Skipped while a pull, load or import runs on the root."""
    with service.collecting() as allowed:
        if not allowed:
            return []
        used = _used_chains(service)
        removed: list[str] = []
        changed = True
        while changed:  # removing a top layer can free its parent
            changed = False
            for info in service.snapshots.list():
                if info.kind != "committed" or info.name in used or service.snapshots.children(info.name):
                    continue
                try:
                    service.snapshots.remove(info.name)
                except errdefs.StackyardError:
                    continue
                removed.append(info.name)
                changed = True
        return removed
