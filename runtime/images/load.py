"""`load`: images from a `docker save` archive or an OCI image layout archive.

Who calls it: `ImageService.load`. The archive is read as a stream (a pipe, an HTTP body); its
members are spooled to files under the store's tmp/ named by *index*, never by their own names,
so an archive's paths cannot write anywhere. Then:
  docker: manifest.json [{Config, RepoTags, Layers}], <config>.json, <dir>/layer.tar
          (uncompressed, or compressed by newer tools) — an OCI manifest is made for them;
  oci:    oci-layout, index.json (names from io.containerd.image.name or a full
          org.opencontainers.image.ref.name), blobs/sha256/<hex> — kept byte for byte, so the
          manifest digest survives a save/load round trip.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tarfile
from typing import BinaryIO, Iterator, Optional

from runtime import errdefs
from runtime.images import manifest as mf
from runtime.images import progress as pg
from runtime.images.archive import (CHUNK, COMPRESSED_TYPE, Rollback, parse_config, record_image,
                                     rollback_on_failure, store_layer, stream_chunks, tmpdir)
from runtime.images.reference import parse_reference
from runtime.images.stream import DecompressError, decompress, detect_compression
from runtime.snapshots.tarstream import TarFormatError, TarReader


# Bound on a JSON file or small blob read whole from an archive (manifests, configs, index).
MAX_JSON = 8 << 20


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
        except DecompressError as exc:
            # A truncated or corrupt compressed archive (e.g. `load -i half.tgz`).
            raise errdefs.InvalidArgument(f"load: the archive's compression is corrupt: {exc}") from None

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
        if os.path.getsize(path) > MAX_JSON:
            raise errdefs.InvalidArgument(f"load: {what} {name!r} is larger than {MAX_JSON} bytes")
        with open(path, "rb") as f:
            return f.read()

    def read_json(self, name: str, what: str):
        try:
            return json.loads(self.read(name, what))
        except ValueError as exc:
            raise errdefs.InvalidArgument(f"load: {name} is not JSON: {exc}") from None

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
    chunks = stream_chunks(tar_stream, head)
    compression = detect_compression(head)
    directory = tmpdir(service)
    try:
        spool = _Spool(directory)
        spool.add_all(decompress(chunks, compression) if compression else chunks)
        if spool.path("repositories") is not None:
            _check_repositories(spool.read_json("repositories", "repositories file"))
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


# -- the archive's JSON shapes, checked before anything is stored ----------------------------------

def _check_repositories(doc) -> None:
    """Legacy `repositories`: {"name": {"tag": "<layer id>"}}. We load from manifest.json or
    index.json, but a file that is there must not be garbage."""
    if not isinstance(doc, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) and
            all(isinstance(t, str) and isinstance(i, str) for t, i in v.items()) for k, v in doc.items()):
        raise errdefs.InvalidArgument('load: repositories is not an object of {"name": {"tag": "id"}}')


def check_docker_manifest(doc) -> list[dict]:
    """manifest.json of `docker save`: [{"Config": str, "RepoTags": [str]|null, "Layers": [str]}].

    Raises:
        errdefs.InvalidArgument: naming the entry and the field that is wrong.
    """
    if not isinstance(doc, list):
        raise errdefs.InvalidArgument("load: manifest.json is not a list")
    for i, entry in enumerate(doc):
        where = f"load: manifest.json entry {i}"
        if not isinstance(entry, dict):
            raise errdefs.InvalidArgument(f"{where} is not an object")
        if not isinstance(entry.get("Config"), str) or not entry["Config"]:
            raise errdefs.InvalidArgument(f"{where}: Config is not a file name")
        layers = entry.get("Layers")
        if not isinstance(layers, list) or not all(isinstance(n, str) and n for n in layers):
            raise errdefs.InvalidArgument(f"{where}: Layers is not a list of file names")
        tags = entry.get("RepoTags")
        if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
            raise errdefs.InvalidArgument(f"{where}: RepoTags is not a list of strings")
        for tag in tags or []:
            try:
                parse_reference(tag)
            except errdefs.InvalidArgument as exc:
                raise errdefs.InvalidArgument(f"{where}: RepoTags: {exc}") from None
    return doc


def _loaded_lines(service, image_id: str, tags: list[str]) -> list[str]:
    if tags:
        return [f"Loaded image: {parse_reference(t).familiar()}" for t in tags]
    return [f"Loaded image ID: {image_id}"]


def _layers_from_spool(service, spool: _Spool, sources: list[tuple[str, Optional[mf.Descriptor]]],
                       diff_ids: list[str], undo: Rollback) -> tuple[list[dict], list[Optional[str]]]:
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
            blob, size, diff_id, key = store_layer(
                service, spool.chunks(name, "layer"), compression, what=what,
                expected_blob=desc.digest if desc else None, expected_diff_id=diff_ids[i], undo=undo)
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
    entries = check_docker_manifest(spool.read_json("manifest.json", "manifest"))
    # Every image's config is checked before any layer is stored.
    configs = []
    for entry in entries:
        config_name, layers = entry["Config"], entry["Layers"]
        config_bytes = spool.read(config_name, "image config")
        config = parse_config(config_bytes, where=f"load: {config_name}")
        diff_ids = mf.config_diff_ids(config, where=f"load: {config_name}")
        if len(diff_ids) != len(layers):
            raise errdefs.InvalidArgument(f"load: {config_name} lists {len(diff_ids)} diff ids but "
                                          f"manifest.json {len(layers)} layers")
        configs.append((config_bytes, diff_ids))
    lines: list[str] = []
    for entry, (config_bytes, diff_ids) in zip(entries, configs):
        tags = list(entry.get("RepoTags") or [])
        with rollback_on_failure(service) as undo:
            descs, keys = _layers_from_spool(service, spool, [(n, None) for n in entry["Layers"]],
                                             diff_ids, undo)
            image_id = record_image(service, config_bytes, None, descs, keys, tags, undo)
        lines += _loaded_lines(service, image_id, tags)
    return lines


def blob_name(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"blobs/{algorithm}/{hexpart}"


def _verified_blob(spool: _Spool, desc: mf.Descriptor, what: str) -> bytes:
    from runtime.content import sha256_digest
    data = spool.read(blob_name(desc.digest), what)
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
        where = f"load: {parsed.config.digest}"
        diff_ids = mf.config_diff_ids(parse_config(config_bytes, where=where), where=where)
        if len(diff_ids) != len(parsed.layers):
            raise errdefs.InvalidArgument(f"load: {desc.digest}: layer count differs from the config's diff ids")
        with rollback_on_failure(service) as undo:
            _, keys = _layers_from_spool(service, spool, [(blob_name(l.digest), l) for l in parsed.layers],
                                         diff_ids, undo)
            image_id = record_image(service, config_bytes, body, [], keys, tags, undo)
        lines += _loaded_lines(service, image_id, tags)
    return lines
