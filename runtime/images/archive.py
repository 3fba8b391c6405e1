"""Image archives: `import` a rootfs tarball, `load` and `save` (docker save format, OCI layout).

Who calls it: `ImageService.import_rootfs/load/save`. Archives are read as a stream (they may
come from a pipe or an HTTP body); members are spooled to anonymous files under the store's
tmp/ by *index*, never by their names, so an archive's paths cannot write anywhere. Layers go
through the same safe unpacker as pulls, and every blob is verified before it is stored.

Formats:
  docker: manifest.json [{Config, RepoTags, Layers}], repositories, <config hex>.json,
          <diff id hex>/layer.tar (uncompressed).
  oci:    oci-layout, index.json (annotations io.containerd.image.name, and
          org.opencontainers.image.ref.name = the tag), blobs/sha256/<hex> as stored.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
from typing import Any, BinaryIO, Iterator, Optional

from runtime import errdefs
from runtime.images import manifest as mf
from runtime.images import progress as pg
from runtime.images.changes import apply_changes
from runtime.images.reference import parse_reference
from runtime.images.store import KIND_TAG
from runtime.images.stream import decompress, detect_compression
from runtime.images.unpacker import commit_layer, unpack_layer
from runtime.snapshots.tarstream import TarFormatError, TarReader

CHUNK = 1 << 20
COMPRESSED_TYPE = {"gzip": mf.OCI_LAYER_GZIP, "zstd": mf.OCI_LAYER_ZSTD, "": mf.OCI_LAYER}


def _stream_chunks(stream: BinaryIO, head: bytes = b"") -> Iterator[bytes]:
    if head:
        yield head
    while True:
        data = stream.read(CHUNK)
        if not data:
            return
        yield data


def _tmpdir(service) -> str:
    base = os.path.join(service.root, "tmp")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(dir=base)


# -- storing one layer -------------------------------------------------------------------------

def _store_layer(service, chunks: Iterator[bytes], compression: str, *, what: str,
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


def _record_image(service, config_bytes: bytes, manifest_body: Optional[bytes], layer_descs: list[dict],
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
        blob, size, diff_id, key = _store_layer(service, _stream_chunks(tar_stream, head), compression,
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
        image_id = _record_image(service, config_bytes, None,
                                 [{"mediaType": COMPRESSED_TYPE[compression], "digest": blob, "size": size}],
                                 [key], tags)
    return service.get(image_id)


def _now() -> str:
    from runtime.images.service import now_rfc3339
    return now_rfc3339()


# -- load --------------------------------------------------------------------------------------

class _Spool:
    """An archive's members spooled to numbered files; links resolved by name."""

    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.files: dict[str, str] = {}
        self.links: dict[str, str] = {}

    def add_all(self, chunks: Iterator[bytes]) -> None:
        reader = TarReader(chunks)
        try:
            while True:
                entry = reader.next_entry()
                if entry is None:
                    break
                name = posixpath.normpath("/" + entry.name).lstrip("/")
                if entry.type in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
                    path = os.path.join(self.dir, str(len(self.files)))
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                    try:
                        reader.copy_to(fd)
                    finally:
                        os.close(fd)
                    self.files[name] = path
                elif entry.type == tarfile.SYMTYPE:
                    self.links[name] = posixpath.normpath(
                        "/" + posixpath.join(posixpath.dirname(name), entry.linkname)).lstrip("/")
                elif entry.type == tarfile.LNKTYPE:
                    self.links[name] = posixpath.normpath("/" + entry.linkname).lstrip("/")
            reader.drain()
        except TarFormatError as exc:
            raise errdefs.InvalidArgument(f"load: the archive is not a valid tar: {exc}") from None

    def path(self, name: str) -> Optional[str]:
        name = posixpath.normpath("/" + name).lstrip("/")
        for _ in range(16):
            if name in self.files:
                return self.files[name]
            if name not in self.links:
                return None
            name = self.links[name]
        return None

    def read(self, name: str, what: str) -> bytes:
        path = self.path(name)
        if path is None:
            raise errdefs.InvalidArgument(f"load: {what} {name!r} is missing from the archive")
        with open(path, "rb") as f:
            return f.read()

    def chunks(self, name: str, what: str) -> Iterator[bytes]:
        path = self.path(name)
        if path is None:
            raise errdefs.InvalidArgument(f"load: {what} {name!r} is missing from the archive")
        with open(path, "rb") as f:
            while True:
                data = f.read(CHUNK)
                if not data:
                    return
                yield data


def load(service, tar_stream: BinaryIO, *, progress: pg.Progress = None) -> list[str]:
    """`docker load`: returns the "Loaded image: …" / "Loaded image ID: …" lines.

    Raises:
        errdefs.InvalidArgument: not an archive we know, or a blob/layer does not verify.
    """
    head = tar_stream.read(CHUNK)
    chunks = _stream_chunks(tar_stream, head)
    compression = detect_compression(head)
    directory = _tmpdir(service)
    try:
        spool = _Spool(directory)
        spool.add_all(decompress(chunks, compression) if compression else chunks)
        with service.busy():
            if spool.path("oci-layout") is not None and spool.path("index.json") is not None:
                lines = _load_oci(service, spool)
            elif spool.path("manifest.json") is not None:
                lines = _load_docker(service, spool)
            else:
                raise errdefs.InvalidArgument("load: the archive has neither manifest.json (docker save) "
                                              "nor oci-layout and index.json (OCI image layout)")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    for line in lines:
        pg.emit(progress, {"stream": line + "\n"})
    return lines


def _loaded_lines(service, image_id: str, tags: list[str]) -> list[str]:
    if tags:
        return [f"Loaded image: {parse_reference(t).familiar()}" for t in tags]
    return [f"Loaded image ID: {image_id}"]


def _layers_from_spool(service, spool: _Spool, sources: list[tuple[str, Optional[mf.Descriptor]]],
                       diff_ids: list[str]) -> tuple[list[dict], list[Optional[str]]]:
    chains = mf.chain_ids(diff_ids)
    descs: list[dict] = []
    keys: list[Optional[str]] = []
    try:
        for i, (name, desc) in enumerate(sources):
            what = f"load: layer {desc.digest if desc else name}"
            if desc is not None:
                compression = mf.LAYER_COMPRESSION.get(desc.media_type)
                if compression is None:
                    raise errdefs.Unsupported(f"{what}: unsupported layer media type {desc.media_type!r}")
            else:
                first = next(spool.chunks(name, "layer"), b"")
                compression = detect_compression(first)
            blob, size, diff_id, key = _store_layer(
                service, spool.chunks(name, "layer"), compression, what=what,
                expected_blob=desc.digest if desc else None, expected_diff_id=diff_ids[i])
            if service.snapshots.exists(chains[i]):
                service.snapshots.remove(key)
                key = None
            keys.append(key)
            descs.append(desc.to_json() if desc else
                         {"mediaType": COMPRESSED_TYPE[compression], "digest": blob, "size": size})
    except BaseException:
        for key in keys:
            if key is not None:
                service.snapshots.remove(key)
        raise
    return descs, keys


def _load_docker(service, spool: _Spool) -> list[str]:
    try:
        entries = json.loads(spool.read("manifest.json", "manifest"))
    except ValueError as exc:
        raise errdefs.InvalidArgument(f"load: manifest.json is not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise errdefs.InvalidArgument("load: manifest.json is not a list")
    lines: list[str] = []
    for entry in entries:
        config_name, layers = entry.get("Config"), entry.get("Layers")
        if not isinstance(config_name, str) or not isinstance(layers, list):
            raise errdefs.InvalidArgument("load: manifest.json entry without Config or Layers")
        config_bytes = spool.read(config_name, "image config")
        config = json.loads(config_bytes)
        diff_ids = mf.config_diff_ids(config, where=f"load: {config_name}")
        if len(diff_ids) != len(layers):
            raise errdefs.InvalidArgument(f"load: {config_name} lists {len(diff_ids)} diff ids but "
                                          f"manifest.json {len(layers)} layers")
        descs, keys = _layers_from_spool(service, spool, [(n, None) for n in layers], diff_ids)
        tags = [t for t in entry.get("RepoTags") or [] if isinstance(t, str)]
        image_id = _record_image(service, config_bytes, None, descs, keys, tags)
        lines += _loaded_lines(service, image_id, tags)
    return lines


def _blob_name(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"blobs/{algorithm}/{hexpart}"


def _verified_blob(spool: _Spool, desc: mf.Descriptor, what: str) -> bytes:
    from runtime.content import sha256_digest
    data = spool.read(_blob_name(desc.digest), what)
    if sha256_digest(data) != desc.digest:
        raise errdefs.InvalidArgument(f"load: {what} {desc.digest}: digest mismatch")
    return data


def _load_oci(service, spool: _Spool) -> list[str]:
    index = mf.parse(spool.read("index.json", "index"), mf.OCI_INDEX, where="load: index.json")
    if not isinstance(index, mf.Index):
        raise errdefs.InvalidArgument("load: index.json is not an image index")
    lines: list[str] = []
    for desc in index.manifests:
        name = (desc.annotations or {}).get("io.containerd.image.name") or \
            (desc.annotations or {}).get("org.opencontainers.image.ref.name") or ""
        tags = [name] if name and ("/" in name or ":" in name) else []
        body = _verified_blob(spool, desc, "manifest")
        parsed = mf.parse(body, desc.media_type, where=f"load: {desc.digest}")
        if isinstance(parsed, mf.Index):
            try:
                chosen = mf.select_manifest(parsed, service.platform, where=f"load: {desc.digest}")
            except errdefs.NotFound:
                if len(parsed.manifests) != 1:
                    raise
                chosen = parsed.manifests[0]
            body = _verified_blob(spool, chosen, "manifest")
            parsed = mf.parse(body, chosen.media_type, where=f"load: {chosen.digest}")
            if not isinstance(parsed, mf.Manifest):
                raise errdefs.Unsupported(f"load: nested index {chosen.digest}")
        config_bytes = _verified_blob(spool, parsed.config, "image config")
        diff_ids = mf.config_diff_ids(json.loads(config_bytes), where=f"load: {parsed.config.digest}")
        if len(diff_ids) != len(parsed.layers):
            raise errdefs.InvalidArgument(f"load: {desc.digest}: layer count differs from the config's diff ids")
        _, keys = _layers_from_spool(service, spool, [(_blob_name(l.digest), l) for l in parsed.layers],
                                     diff_ids)
        image_id = _record_image(service, config_bytes, body, [], keys, tags)
        lines += _loaded_lines(service, image_id, tags)
    return lines


# -- save --------------------------------------------------------------------------------------

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
                _add_file(tar, _blob_name(digest), service.content.path(digest))
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
    directory = _tmpdir(service)
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
