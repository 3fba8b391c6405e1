"""`save`: images to a `docker save` archive or an OCI image layout archive.

Who calls it: `ImageService.save`. Written as a tar stream (a file or an HTTP body).
  docker: manifest.json [{Config, RepoTags, Layers}], repositories, <config hex>.json,
          <diff id hex>/layer.tar (uncompressed, as `docker load` expects) and VERSION;
  oci:    oci-layout, index.json (annotations io.containerd.image.name = the full name and
          org.opencontainers.image.ref.name = the tag), blobs/sha256/<hex> exactly as stored.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from typing import BinaryIO

from runtime import errdefs
from runtime.images import manifest as mf
from runtime.images.archive import CHUNK, tmpdir
from runtime.images.load import blob_name
from runtime.images.reference import parse_reference
from runtime.images.store import KIND_TAG
from runtime.images.stream import decompress


def _tags_to_save(service, text: str, image) -> list[str]:
    named = service._named_ref(text, image.refs)
    if named is not None and any(n == named and k == KIND_TAG for n, k in image.refs):
        return [named]
    return []


def _add_file(tar: tarfile.TarFile, name: str, path: str) -> None:
    info = tarfile.TarInfo(name)
    info.size = os.path.getsize(path)
    info.mode = 0o644
    with open(path, "rb") as f:
        tar.addfile(info, f)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def save(service, refs: list[str], out_stream: BinaryIO, *, format: str = "docker") -> None:
    """Write the images `refs` name as one archive to `out_stream`.

    Raises:
        errdefs.NotFound: an image or one of its blobs is missing.
        errdefs.InvalidArgument: unknown format.
    """
    if format not in ("docker", "oci"):
        raise errdefs.InvalidArgument(f"unknown save format {format!r} (docker or oci)")
    if not refs:
        raise errdefs.InvalidArgument("save: name at least one image")
    selected = []
    for text in refs:
        image = service.get(text)
        selected.append((image, _tags_to_save(service, text, image)))
    with tarfile.open(fileobj=out_stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if format == "oci":
            _save_oci(service, selected, tar)
        else:
            _save_docker(service, selected, tar)


def _save_oci(service, selected, tar: tarfile.TarFile) -> None:
    _add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    _add_dir(tar, "blobs")
    _add_dir(tar, "blobs/sha256")
    written: set[str] = set()
    index: list[dict] = []
    for image, tags in selected:
        body = service.content.read(image.manifest_digest)
        parsed = mf.parse(body, image.manifest_media_type, where=image.id)
        for digest in [image.manifest_digest, parsed.config.digest] + [l.digest for l in parsed.layers]:
            if digest not in written:
                _add_file(tar, blob_name(digest), service.content.path(digest))
                written.add(digest)
        base = {"mediaType": parsed.media_type, "digest": image.manifest_digest, "size": len(body)}
        for tag in tags or [None]:
            entry = dict(base)
            if tag:
                ref = parse_reference(tag)
                entry["annotations"] = {"io.containerd.image.name": str(ref),
                                        "org.opencontainers.image.ref.name": ref.tag or "latest"}
            index.append(entry)
    _add_bytes(tar, "index.json", json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_INDEX,
                                              "manifests": index}).encode())


def _save_docker(service, selected, tar: tarfile.TarFile) -> None:
    manifest: list[dict] = []
    repositories: dict[str, dict[str, str]] = {}
    written: set[str] = set()
    directory = tmpdir(service)
    try:
        for image, tags in selected:
            body = service.content.read(image.manifest_digest)
            parsed = mf.parse(body, image.manifest_media_type, where=image.id)
            config_name = image.id.partition(":")[2] + ".json"
            if config_name not in written:
                _add_file(tar, config_name, service.content.path(image.id))
                written.add(config_name)
            layer_names = []
            for layer, diff_id in zip(parsed.layers, image.diff_ids):
                hexpart = diff_id.partition(":")[2]
                name = f"{hexpart}/layer.tar"
                layer_names.append(name)
                if name in written:
                    continue
                _add_dir(tar, hexpart)
                _add_bytes(tar, f"{hexpart}/VERSION", b"1.0")
                compression = mf.LAYER_COMPRESSION.get(layer.media_type, "")
                if compression == "":
                    _add_file(tar, name, service.content.path(layer.digest))
                else:
                    plain = os.path.join(directory, hexpart)
                    with open(plain, "wb") as out, service.content.open(layer.digest) as f:
                        for data in decompress(iter(lambda: f.read(CHUNK), b""), compression):
                            out.write(data)
                    _add_file(tar, name, plain)
                    os.unlink(plain)
                written.add(name)
            familiar = [parse_reference(t).familiar() for t in tags]
            manifest.append({"Config": config_name, "RepoTags": familiar or None, "Layers": layer_names})
            for tag in tags:
                ref = parse_reference(tag)
                repositories.setdefault(ref.familiar_name(), {})[ref.tag or "latest"] = \
                    layer_names[-1].split("/")[0]
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
        if repositories:
            _add_bytes(tar, "repositories", json.dumps(repositories).encode())
    finally:
        shutil.rmtree(directory, ignore_errors=True)
