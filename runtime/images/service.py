"""ImageService: the image store's façade (content store + snapshotter + records + registry).

Who calls it: `runtime.services` (the daemon), `runtime.cli.image` (in-process verbs), the
container side (`get` + `rootfs_parent` to prepare a container's rootfs). Layout under `root`:
content/ (blobs), overlay/ (snapshots), images.db (image records and references).
The work lives in pull.py, push.py, archive.py and gc.py; this module looks things up, keeps
Docker's semantics for tag/rm/prune and renders Docker's JSON shapes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import fnmatch
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Optional

from runtime import errdefs
from runtime.content import ContentStore
from runtime.images import manifest as mf
from runtime.images import progress as pg
from runtime.images.reference import (Reference, image_id_prefix, is_full_image_id, parse_reference)
from runtime.images.store import KIND_DIGEST, KIND_TAG, ImageRecord, ImageRecords
from runtime.images.unpacker import remove_stale_extractions
from runtime.snapshots import Snapshotter

InUse = Optional[Callable[[str], bool]]


@dataclass
class Image:
    id: str                       # "sha256:" + config digest
    config: dict[str, Any]
    manifest_digest: str
    repo_tags: list[str]
    repo_digests: list[str]
    chain_id: str
    size: int
    created: str                  # RFC 3339, from the config
    manifest_media_type: str = mf.OCI_MANIFEST
    added: float = 0.0
    refs: list[tuple[str, str]] = field(default_factory=list)   # fully qualified (name, kind)

    @property
    def short_id(self) -> str:
        return self.id.partition(":")[2][:12]

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids", []))

    @property
    def created_unix(self) -> int:
        return parse_time(self.created)


def parse_time(text: str) -> int:
    """Unix seconds of an RFC 3339 timestamp (nanosecond fractions allowed); 0 if unparseable."""
    if not text:
        return 0
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    head, dot, rest = value.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        value = head + "." + digits[:6] + rest[len(digits):]
    try:
        return int(_dt.datetime.fromisoformat(value).timestamp())
    except ValueError:
        return 0


def now_rfc3339() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _default_registry(config=None):
    from runtime.registry import RegistryClient, RegistryConfig
    return RegistryClient(config or RegistryConfig())


class ImageService:
    def __init__(self, root: str, registry=None, platform: Optional[str] = None, *,
                 registry_config=None) -> None:
        """`registry`: a RegistryClient the caller owns (and closes). Without one, the service
        makes its own from `registry_config` (default settings if None) on first use, and
        `close()` closes it."""
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.content = ContentStore(os.path.join(root, "content"))
        self.snapshots = Snapshotter(os.path.join(root, "overlay"))
        self.records = ImageRecords(os.path.join(root, "images.db"))
        self._registry = registry
        self._registry_config = registry_config
        self._owns_registry = False
        self._registry_lock = threading.Lock()
        self._busy = 0          # pulls/loads in flight: blob sweeps wait for none (see gc)
        self._busy_lock = threading.Lock()
        self.platform = mf.parse_platform(platform) if platform else mf.host_platform()
        remove_stale_extractions(self.snapshots)
        self.snapshots.cleanup()
        self.content.clean_ingests()

    @property
    def registry(self):
        with self._registry_lock:
            if self._registry is None:
                self._registry = _default_registry(self._registry_config)
                self._owns_registry = True
            return self._registry

    def close(self) -> None:
        with self._registry_lock:
            # Only what we made: a client passed in may be shared (the daemon's).
            if self._owns_registry and self._registry is not None:
                self._registry.close()
                self._registry, self._owns_registry = None, False
        self.records.db.close()
        self.snapshots.db.close()

    @contextlib.contextmanager
    def busy(self):
        """Marks work that stores blobs and layers before recording an image (a pull, load,
        import): garbage collection, in this process or another on the same root, skips while
        any is running (a shared flock on gc.lock; GC tries an exclusive one)."""
        fd = os.open(os.path.join(self.root, "gc.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            with self._busy_lock:
                self._busy += 1
            try:
                yield
            finally:
                with self._busy_lock:
                    self._busy -= 1
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def collecting(self):
        """Yields True when garbage may be collected now (no pull/load/import on this root)."""
        fd = os.open(os.path.join(self.root, "gc.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    @property
    def is_busy(self) -> bool:
        return self._busy > 0

    # -- lookup ----------------------------------------------------------------------------------
    def _image(self, record: ImageRecord) -> Image:
        config = json.loads(self.content.read(record.id))
        refs = self.records.refs_of(record.id)
        tags = [parse_reference(n).familiar() for n, k in refs if k == KIND_TAG]
        digests = [parse_reference(n).familiar() for n, k in refs if k == KIND_DIGEST]
        return Image(record.id, config, record.manifest_digest, tags, digests, record.chain_id,
                     record.size, record.created, record.manifest_media_type, record.added, refs)

    def resolve_id(self, ref_or_id: str) -> str:
        """The image id a reference, id or unambiguous id prefix names.

        Raises:
            errdefs.NotFound: "No such image: …". errdefs.InvalidArgument: ambiguous prefix.
        """
        text = ref_or_id.strip()
        if is_full_image_id(text):
            full = text if text.startswith("sha256:") else "sha256:" + text
            self.records.get(full)
            return full
        try:
            ref = parse_reference(text)
        except errdefs.InvalidArgument:
            ref = None
        if ref is not None:
            name = str(ref.with_digest(ref.digest)) if ref.digest else str(ref)
            found = self.records.lookup_ref(name)
            if found is not None:
                return found
        prefix = image_id_prefix(text)
        if prefix is not None:  # Docker: a name first, then an unambiguous id prefix
            matches = self.records.by_prefix(prefix)
            if len(matches) == 1:
                return matches[0].id
            if len(matches) > 1:
                raise errdefs.InvalidArgument(f"image id prefix {text!r} is ambiguous "
                                              f"({len(matches)} images match)")
        raise errdefs.NotFound(f"No such image: {text}")

    def get(self, ref_or_id: str) -> Image:
        """Raises errdefs.NotFound "No such image: …"."""
        return self._image(self.records.get(self.resolve_id(ref_or_id)))

    def rootfs_parent(self, image: Image) -> str:
        """The committed snapshot (top chain id) a container's rootfs is prepared on."""
        return image.chain_id

    def list(self, *, dangling: Optional[bool] = None, reference_filter: Optional[str] = None) -> list[Image]:
        out = []
        for record in self.records.all():
            image = self._image(record)
            if dangling is not None and (not image.repo_tags) != dangling:
                continue
            if reference_filter and not _matches_reference(image, reference_filter):
                continue
            out.append(image)
        return out

    # -- pull / push -----------------------------------------------------------------------------
    def _use_auth(self, ref: Reference, auth) -> None:
        if not auth:
            return
        if isinstance(auth, dict):
            self.registry.set_credentials(ref.domain, auth.get("username", ""), auth.get("password", ""),
                                          identity_token=auth.get("identitytoken", "") or "")
        else:
            self.registry.set_credentials(ref.domain, getattr(auth, "username", ""),
                                          getattr(auth, "password", ""),
                                          identity_token=getattr(auth, "identity_token", "") or "")

    def pull(self, ref: str, *, platform: Optional[str] = None, auth=None,
             progress: pg.Progress = None) -> Image:
        """Pull `ref` for `platform` (default: the service's) and record it.

        Raises:
            errdefs.InvalidArgument (bad reference, corrupt or unsafe layer), errdefs.NotFound,
            errdefs.Unsupported (schema 1, media types), registry errors (Unauthenticated, …).
        """
        from runtime.images.pull import Puller
        parsed = parse_reference(ref)
        want = mf.parse_platform(platform) if platform else self.platform
        self._use_auth(parsed, auth)
        tag_or_digest = parsed.digest or parsed.tag or "latest"
        pg.emit(progress, pg.status(f"Pulling from {parsed.path}", tag_or_digest))
        puller = Puller(self.content, self.snapshots, self.registry, progress=progress)
        with self.busy():
            resolved = puller.resolve(parsed, want, strict_platform=platform is not None)
            chain_id = puller.fetch_layers(parsed, resolved)
            image_id = resolved.manifest.config.digest
            before = self.records.lookup_ref(str(parsed) if not parsed.digest
                                             else str(parsed.with_digest(parsed.digest)))
            refs = [(str(parsed.with_digest(resolved.top_digest)), KIND_DIGEST)]
            if parsed.tag and not parsed.digest:
                refs.append((str(parsed), KIND_TAG))
            self._record(image_id, resolved.manifest_desc, chain_id, resolved.config, refs)
        pg.emit(progress, pg.status(f"Digest: {resolved.top_digest}"))
        shown = parsed.familiar()
        if puller.downloaded == 0 and before == image_id:
            pg.emit(progress, pg.status(f"Status: Image is up to date for {shown}"))
        else:
            pg.emit(progress, pg.status(f"Status: Downloaded newer image for {shown}"))
        return self.get(image_id)

    def _record(self, image_id: str, manifest_desc: mf.Descriptor, chain_id: str,
                config: dict[str, Any], refs: list[tuple[str, str]]) -> None:
        diff_ids = mf.config_diff_ids(config, where=image_id)
        size = sum(self.snapshots.usage(c) for c in mf.chain_ids(diff_ids))
        record = ImageRecord(image_id, manifest_desc.digest, manifest_desc.media_type, chain_id, size,
                             str(config.get("created", "")), time.time(), {})
        self.records.put(record, refs)

    def push(self, ref: str, *, auth=None, progress: pg.Progress = None) -> str:
        """Push the local image `ref` to its registry; returns the manifest digest.

        Raises:
            errdefs.NotFound: no such local image (or a layer blob is missing), registry errors.
        """
        from runtime.images.push import push_image
        parsed = parse_reference(ref)
        if parsed.digest:
            raise errdefs.InvalidArgument(f"cannot push a digest reference: {ref}")
        image = self.get(str(parsed))
        self._use_auth(parsed, auth)
        digest = push_image(self.content, self.registry, parsed, image, progress=progress)
        self.records.add_refs(image.id, [(str(parsed.with_digest(digest)), KIND_DIGEST)])
        return digest

    # -- local images ------------------------------------------------------------------------
    def tag(self, source: str, target: str) -> None:
        """Raises errdefs.NotFound (source), errdefs.InvalidArgument (target)."""
        image_id = self.resolve_id(source)
        ref = parse_reference(target)
        if ref.digest:
            raise errdefs.InvalidArgument(f"refusing to create a tag with a digest reference: {target}")
        self.records.add_refs(image_id, [(str(ref), KIND_TAG)])

    def remove(self, ref_or_id: str, *, force: bool = False, in_use: InUse = None,
               prune_children: bool = True) -> list[dict]:
        """Docker's `rmi`: untag, and delete the image when no reference is left.

        `in_use(image_id)` says whether a container uses it. `prune_children` is accepted for
        the Engine API's `noprune`; images here have no parent images to prune.

        Raises:
            errdefs.NotFound: no such image.
            errdefs.Conflict: in use by a container, or referenced by several repositories
            when named by id (both unless `force`).
        """
        from runtime.images.gc import delete_image
        image_id = self.resolve_id(ref_or_id)
        refs = self.records.refs_of(image_id)
        tags = [n for n, k in refs if k == KIND_TAG]
        named = self._named_ref(ref_or_id, refs)
        short = image_id.partition(":")[2][:12]
        used = bool(in_use and in_use(image_id))
        if named is not None and (named in tags) and len(tags) > 1:
            self.records.remove_ref(named)
            return [{"Untagged": parse_reference(named).familiar()}]
        if used and not force:
            what = f'repository reference "{parse_reference(named).familiar()}"' if named else short
            raise errdefs.Conflict(f"conflict: unable to delete {what} (must force) - "
                                   f"image {short} is being used by a container")
        if named is None and len({parse_reference(t).name for t in tags}) > 1 and not force:
            raise errdefs.Conflict(f"conflict: unable to delete {short} (must be forced) - "
                                   "image is referenced in multiple repositories")
        return delete_image(self, image_id)

    def _named_ref(self, text: str, refs: list[tuple[str, str]]) -> Optional[str]:
        try:
            ref = parse_reference(text)
        except errdefs.InvalidArgument:
            return None
        name = str(ref.with_digest(ref.digest)) if ref.digest else str(ref)
        return name if any(n == name for n, _ in refs) else None

    def prune(self, *, dangling_only: bool = True, in_use: InUse = None) -> dict:
        """Remove dangling images (or, with dangling_only=False, every image not in use)."""
        from runtime.images.gc import delete_image, remove_orphan_layers, sweep_blobs
        deleted: list[dict] = []
        before = self.disk_usage()
        for image in self.list():
            if dangling_only and image.repo_tags:
                continue
            if in_use and in_use(image.id):
                continue
            deleted.extend(delete_image(self, image.id))
        deleted.extend({"Deleted": chain} for chain in remove_orphan_layers(self))
        sweep_blobs(self)
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": max(0, before - self.disk_usage())}

    def disk_usage(self) -> int:
        total = sum(os.path.getsize(self.content.path(d)) for d in self.content.list())
        total += sum(self.snapshots.usage(s.name) for s in self.snapshots.list() if s.kind == "committed")
        return total

    # -- inspect / history -----------------------------------------------------------------------
    def inspect(self, ref_or_id: str) -> dict[str, Any]:
        image = self.get(ref_or_id)
        config = image.config
        top = self.snapshots.upper_dir(image.chain_id) if self.snapshots.exists(image.chain_id) else ""
        lowers = self.snapshots.parent_dirs(self.snapshots.stat(image.chain_id).parent) \
            if top and self.snapshots.stat(image.chain_id).parent else []
        graph = {"UpperDir": top, "MergedDir": "", "WorkDir": ""}
        if lowers:
            graph["LowerDir"] = ":".join(lowers)
        out: dict[str, Any] = {
            "Id": image.id,
            "RepoTags": image.repo_tags,
            "RepoDigests": image.repo_digests,
            "Parent": "",
            "Comment": config.get("comment", ""),
            "Created": image.created,
            "Container": config.get("container", ""),
            "ContainerConfig": config.get("container_config") or _empty_config(),
            "DockerVersion": config.get("docker_version", ""),
            "Author": config.get("author", ""),
            "Config": _docker_config(config.get("config")),
            "Architecture": config.get("architecture", ""),
            "Os": config.get("os", ""),
            "Size": image.size,
            "VirtualSize": image.size,
            "GraphDriver": {"Name": "overlay2", "Data": graph},
            "RootFS": {"Type": "layers", "Layers": image.diff_ids},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        }
        if config.get("variant"):
            out["Variant"] = config["variant"]
        if config.get("os.version"):
            out["OsVersion"] = config["os.version"]
        return out

    def history(self, ref_or_id: str) -> list[dict[str, Any]]:
        """Docker's image history: newest first; layers with their sizes, empty steps size 0."""
        image = self.get(ref_or_id)
        entries = image.config.get("history") or []
        chains = mf.chain_ids(image.diff_ids)
        sizes = [self.snapshots.usage(c) if self.snapshots.exists(c) else 0 for c in chains]
        out, layer = [], 0
        for entry in entries:
            empty = bool(entry.get("empty_layer"))
            size = 0 if empty or layer >= len(sizes) else sizes[layer]
            if not empty:
                layer += 1
            out.append({"Id": "<missing>", "Created": parse_time(entry.get("created", "")),
                        "CreatedBy": entry.get("created_by", ""), "Tags": None, "Size": size,
                        "Comment": entry.get("comment", "")})
        if not entries:  # images without history (import, some tools): one entry per layer
            for size in sizes:
                out.append({"Id": "<missing>", "Created": image.created_unix, "CreatedBy": "",
                            "Tags": None, "Size": size, "Comment": ""})
        out.reverse()
        if out:
            out[0]["Id"] = image.id
            out[0]["Tags"] = image.repo_tags or None
        return out

    # -- archives --------------------------------------------------------------------------------
    def import_rootfs(self, tar_stream: BinaryIO, ref: Optional[str] = None, *, changes=None,
                      message: str = "", platform: Optional[str] = None) -> Image:
        from runtime.images.archive import import_rootfs
        return import_rootfs(self, tar_stream, ref, changes=changes, message=message, platform=platform)

    def load(self, tar_stream: BinaryIO, progress: pg.Progress = None) -> list[str]:
        from runtime.images.load import load
        return load(self, tar_stream, progress=progress)

    def save(self, refs: list[str], out_stream: BinaryIO, *, format: str = "docker") -> None:
        from runtime.images.save import save
        save(self, refs, out_stream, format=format)


def _empty_config() -> dict[str, Any]:
    return {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
            "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
            "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
            "OnBuild": None, "Labels": None}


def _docker_config(config: Optional[dict[str, Any]]) -> dict[str, Any]:
    """The image config's `config` in the shape docker inspect prints (all keys present)."""
    out = _empty_config()
    for key, value in (config or {}).items():
        out[key] = value
    return out


def _matches_reference(image: Image, pattern: str) -> bool:
    """Docker's `reference=` filter: a glob on the familiar name, or on name:tag."""
    for tag in image.repo_tags:
        name = tag.rsplit(":", 1)[0]
        if fnmatch.fnmatchcase(tag, pattern) or fnmatch.fnmatchcase(name, pattern):
            return True
    return False
