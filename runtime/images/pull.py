"""Pull: reference → manifest (platform picked) → config → layers unpacked into snapshots.

Who calls it: `ImageService.pull`. Steps, in order:
  1. resolve the tag to a descriptor (HEAD); a manifest or index already in the content store
     is not fetched again, so a repeated pull costs the HEAD round trip(s) only;
  2. pick the platform's manifest from an index; fetch the config (small, verified);
  3. chain ids from the config's diff ids: a layer whose chain id is a committed snapshot
     "Already exists" — nothing downloaded;
  4. the other layers are fetched in parallel (at most `MAX_PARALLEL`), each streamed through
     the blob hash (into the content store's ingest) and the decompressor into its own
     snapshot, checking its diff id; then committed in order, each on the previous chain id;
  5. record the image and move the tag, in one transaction.
A failure anywhere removes the partial snapshots of this pull; a partial *download* stays in
the ingest area so the next attempt resumes it with a Range request.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from runtime import errdefs
from runtime.content import ContentStore
from runtime.images import manifest as mf
from runtime.images import progress as pg
from runtime.images.reference import Reference
from runtime.images.stream import BufferPool, Lease, prefetch, read_file_chunks
from runtime.images.unpacker import commit_layer, unpack_layer
from runtime.snapshots import Snapshotter

MAX_PARALLEL = 3
PROGRESS_INTERVAL = 0.1
# Layer bytes move in 1 MiB buffers, BUFFERS per layer in flight (bounded memory per pull).
CHUNK = 1 << 20
BUFFERS = 8
# Configs and manifests are read into memory whole: never more than this, whatever the
# registry or a descriptor says.
MAX_SMALL_BLOB = 8 << 20


def read_capped(chunks: Iterator[bytes], size: int, *, what: str) -> bytes:
    """The bytes of a small blob of descriptor size `size`; an error as soon as more arrive.

    Raises:
        errdefs.InvalidArgument: more than `size` bytes (the digest check catches fewer).
    """
    parts: list[bytes] = []
    total = 0
    for data in chunks:
        total += len(data)
        if total > size:
            raise errdefs.InvalidArgument(f"{what}: registry sent more than the {size} bytes "
                                          "its descriptor says")
        parts.append(data)
    return b"".join(parts)


@dataclass
class Resolved:
    """What a reference names, for one platform."""
    top_digest: str            # what the tag points at (index or manifest): goes into RepoDigests
    manifest: mf.Manifest
    manifest_desc: mf.Descriptor
    config: dict[str, Any]
    config_bytes: bytes


class Puller:
    def __init__(self, content: ContentStore, snapshots: Snapshotter, client, *, progress: pg.Progress,
                 cancel: Optional[threading.Event] = None) -> None:
        self.content, self.snapshots, self.client = content, snapshots, client
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self._lock = threading.Lock()
        self.downloaded = 0   # layers fetched by this pull

    def _emit(self, event: dict[str, Any]) -> None:
        if self.progress is not None:
            with self._lock:
                self.progress(event)

    # -- manifests -----------------------------------------------------------------------------
    def _manifest_bytes(self, ref: Reference, desc_digest: str, media_type: str, size: Optional[int]) -> bytes:
        """A manifest/index by digest: from the content store if we have it, else the registry
        (read no further than `size`, the descriptor's, and MAX_SMALL_BLOB)."""
        if self.content.exists(desc_digest):
            return self.content.read(desc_digest)
        limit = MAX_SMALL_BLOB if size is None else min(size, MAX_SMALL_BLOB)
        with self.content.lock(desc_digest):  # concurrent pulls fetch it once
            if self.content.exists(desc_digest):
                return self.content.read(desc_digest)
            _, body = self.client.get_manifest(ref.domain, ref.repository, desc_digest, mf.ACCEPT,
                                               max_size=limit)
            self.content.write_blob(body, desc_digest, what=f"{ref} manifest {desc_digest}", locked=True)
        return body

    def resolve(self, ref: Reference, platform: mf.Platform, *, strict_platform: bool = False) -> Resolved:
        """Steps 1–2. Raises errdefs.NotFound / Unsupported / InvalidArgument / registry errors.

        `strict_platform` (the user asked for `--platform`): an image whose config is for
        another platform is refused, as Docker does, even when it is a single manifest."""
        where = str(ref.familiar())
        top = self.client.resolve(ref.domain, ref.repository, ref.reference, mf.ACCEPT)
        body = self._manifest_bytes(ref, top.digest, top.media_type, top.size or None)
        parsed = mf.parse(body, top.media_type, where=where)
        desc = mf.Descriptor(top.media_type if top.media_type else parsed.media_type, top.digest, len(body))
        if isinstance(parsed, mf.Index):
            desc = mf.select_manifest(parsed, platform, where=where)
            body = self._manifest_bytes(ref, desc.digest, desc.media_type, desc.size)
            parsed = mf.parse(body, desc.media_type, where=f"{where} ({platform})")
            if isinstance(parsed, mf.Index):
                raise errdefs.Unsupported(f"{where}: nested index for {platform} is not supported")
        desc = mf.Descriptor(parsed.media_type, desc.digest, len(body))
        config_bytes = self._config_bytes(ref, parsed.config)
        try:
            config = json.loads(config_bytes)
        except ValueError as exc:
            raise errdefs.InvalidArgument(f"{where}: image config {parsed.config.digest} is not JSON: {exc}") from None
        if not isinstance(config, dict):
            raise errdefs.InvalidArgument(f"{where}: image config {parsed.config.digest} is not an object")
        actual = mf.config_platform_mismatch(platform, config) if strict_platform else None
        if actual is not None:
            raise errdefs.NotFound(f"image with reference {where} was found but does not match the "
                                   f"specified platform: wanted {platform}, actual: {actual}")
        diff_ids = mf.config_diff_ids(config, where=where)
        if len(diff_ids) != len(parsed.layers):
            raise errdefs.InvalidArgument(f"{where}: manifest has {len(parsed.layers)} layers but the "
                                          f"image config lists {len(diff_ids)} diff ids")
        return Resolved(top.digest, parsed, desc, config, config_bytes)

    def _config_bytes(self, ref: Reference, desc: mf.Descriptor) -> bytes:
        what = f"{ref.familiar()}: image config {desc.digest}"
        if self.content.exists(desc.digest):
            return self.content.read(desc.digest)
        if desc.size > MAX_SMALL_BLOB:
            raise errdefs.InvalidArgument(f"{what} is {desc.size} bytes (at most {MAX_SMALL_BLOB})")
        with self.content.lock(desc.digest):
            if self.content.exists(desc.digest):
                return self.content.read(desc.digest)
            with self.client.open_blob(ref.domain, ref.repository, desc.digest) as stream:
                data = read_capped(stream.iter_bytes(1 << 16), desc.size, what=what)
            self.content.write_blob(data, desc.digest, what=what, locked=True)
        return data

    # -- layers --------------------------------------------------------------------------------
    def fetch_layers(self, ref: Reference, resolved: Resolved) -> str:
        """Steps 3–4; returns the top chain id."""
        layers = resolved.manifest.layers
        diff_ids = mf.config_diff_ids(resolved.config, where=str(ref))
        chains = mf.chain_ids(diff_ids)
        if not layers:
            raise errdefs.InvalidArgument(f"{ref.familiar()}: image has no layers")
        missing = [i for i, c in enumerate(chains) if not self.snapshots.exists(c)]
        first_missing = missing[0] if missing else len(layers)
        for i, layer in enumerate(layers):
            if i < first_missing:
                self._emit(pg.status("Already exists", pg.short_id(layer.digest)))
            else:
                self._emit(pg.status("Pulling fs layer", pg.short_id(layer.digest)))
        todo = list(range(first_missing, len(layers)))
        if not todo:
            return chains[-1]
        futures: dict[int, Future] = {}
        committed: set[int] = set()
        pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(todo)), thread_name_prefix="pull")
        try:
            for i in todo:
                if i >= first_missing + MAX_PARALLEL:
                    self._emit(pg.status("Waiting", pg.short_id(layers[i].digest)))
                futures[i] = pool.submit(self._layer, ref, layers[i], diff_ids[i])
            # Unpacked in parallel, chained in order: layer i goes on chain id i-1.
            for i in todo:
                key = futures[i].result()
                commit_layer(self.snapshots, key, chains[i], chains[i - 1] if i > 0 else None)
                committed.add(i)
                self._emit(pg.status("Pull complete", pg.short_id(layers[i].digest)))
        except BaseException:
            self.cancel.set()
            for i, fut in futures.items():
                if i in committed:
                    continue  # a complete layer is worth keeping for the next attempt
                try:
                    key = fut.result()
                except BaseException:
                    continue  # that worker already removed its snapshot
                try:
                    self.snapshots.remove(key)
                except errdefs.StackyardError:
                    pass
            raise
        finally:
            pool.shutdown(wait=True)
        return chains[-1]

    def _layer(self, ref: Reference, layer: mf.Descriptor, diff_id: str) -> str:
        """Fetch (or read locally) and unpack one layer; returns its active snapshot key."""
        if self.cancel.is_set():
            raise errdefs.Unavailable("pull cancelled")
        ident = pg.short_id(layer.digest)
        what = f"{ref.familiar()}: layer {layer.digest}"
        compression = mf.LAYER_COMPRESSION[layer.media_type]
        with self.content.lock(layer.digest):
            if self.content.exists(layer.digest):
                # Another image (or a concurrent pull that held the lock) has the blob already.
                self._emit(pg.status("Verifying Checksum", ident))
                self._emit(pg.status("Download complete", ident))
                self._emit(pg.detail("Extracting", ident, 0, layer.size))
                key, _ = unpack_layer(self.snapshots, read_file_chunks(self.content.path(layer.digest)),
                                      compression=compression, what=what, expected_diff_id=diff_id)
                self._emit(pg.detail("Extracting", ident, layer.size, layer.size))
                return key
            return self._download_and_unpack(ref, layer, diff_id, compression, what, ident)

    def _download_and_unpack(self, ref: Reference, layer: mf.Descriptor, diff_id: str, compression: str,
                             what: str, ident: str) -> str:
        ingest = self.content.ingest(layer.digest, layer.size)
        state = {"last": 0.0}

        def note(received: int) -> None:
            now = time.monotonic()
            if now - state["last"] >= PROGRESS_INTERVAL or received >= layer.size:
                state["last"] = now
                self._emit(pg.detail("Downloading", ident, received, layer.size))

        pool = BufferPool(BUFFERS, min(CHUNK, layer.size + 1))

        def source() -> Iterator:
            # Bytes a previous, interrupted attempt stored: re-hashed and re-fed to the tar.
            yield from ingest.replay()
            if ingest.offset >= layer.size:
                return
            # The network side, in its own thread: each 1 MiB buffer is filled from the socket,
            # hashed and written to the ingest, then lent to the unpack side (see BufferPool).
            # What arrived is in the ingest before the unpack sees it, so a resumed pull asks
            # only for the rest.
            with self.client.open_blob(ref.domain, ref.repository, layer.digest, ingest.offset) as stream:
                while True:
                    if self.cancel.is_set():
                        raise errdefs.Unavailable("pull cancelled")
                    buf = pool.take()
                    try:
                        # One byte more than the blob may have left: a longer reply shows at once.
                        n = stream.readinto(buf[:min(pool.size, layer.size - ingest.received + 1)])
                        if n and ingest.received + n > layer.size:
                            raise errdefs.InvalidArgument(f"{what}: registry sent more than the "
                                                          f"{layer.size} bytes the manifest says")
                        if n:
                            ingest.write(buf[:n])
                    except BaseException:
                        pool.give(buf)
                        raise
                    if not n:
                        pool.give(buf)
                        return
                    note(ingest.received)
                    yield Lease(buf[:n], buf, pool)

        chunks = prefetch(source(), stop=pool.halt)
        # Only the gzip reader is done with a lent buffer when it asks for the next one (zlib
        # copies what it keeps); the plain tar and zstd readers get their own copies.
        feed = chunks if compression == "gzip" else (bytes(c) for c in chunks)
        try:
            try:
                key, _ = unpack_layer(self.snapshots, feed, compression=compression, what=what,
                                      expected_diff_id=diff_id)
            except errdefs.InvalidArgument as exc:
                # A corrupt blob usually shows first as bad gzip or tar: finish reading it so the
                # error names the real cause (digest mismatch) and nothing unverified is kept.
                try:
                    for _ in chunks:
                        pass
                    ingest.verify(what=what)
                except errdefs.InvalidArgument as digest_error:
                    raise digest_error from None
                except Exception:
                    # The rest could not be read or stored (registry gone, disk full): the
                    # layer's own error is what failed this pull.
                    raise exc from None
                # The blob is what the manifest names, but not a layer this image can use
                # (wrong diff id, unsafe entry): it never enters the content store.
                ingest.abort(keep=False)
                raise
            except BaseException:
                chunks.close()
                raise
            self._emit(pg.status("Verifying Checksum", ident))
            try:
                ingest.commit(what=what)
            except BaseException:
                self.snapshots.remove(key)
                raise
        finally:
            # Whatever happened, the ingest's fd is closed; its partial data stays for a resumed
            # pull (a failed digest check has already removed it; after commit this does nothing).
            ingest.abort(keep=True)
        self.downloaded += 1
        self._emit(pg.status("Download complete", ident))
        self._emit(pg.detail("Extracting", ident, layer.size, layer.size))
        return key
