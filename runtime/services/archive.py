"""Archive part of the façade: `docker cp` (HEAD/GET/PUT /containers/{id}/archive).

Mixed into `runtime.services.Services`; called by the container routes. Decides which root a
call works in — /proc/<pid>/root of a running container (its volumes and binds visible), or
its snapshot mounted on a private temp dir under the exec root (with its bind-mounted volumes)
for a created or stopped one — and leaves the file-system work to `runtime.containers.archive`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any, BinaryIO, Iterator

from runtime import errdefs


class ArchivePart:
    def container_path_stat(self, ident: str, path: str) -> dict[str, Any]:
        from runtime.containers import archive
        with self._container_root(ident) as (root_fd, name):
            try:
                return archive.path_stat(root_fd, path)
            except (FileNotFoundError, NotADirectoryError):
                raise errdefs.NotFound(f"Could not find the file {path} in container {name}") from None

    def container_archive(self, ident: str, path: str) -> bytes:
        return b"".join(self.container_archive_stream(ident, path))

    def container_archive_stream(self, ident: str, path: str) -> Iterator[bytes]:
        """The tar of `path`, in chunks; the container's root stays open (and, for a stopped
        container, mounted) until the iterator is exhausted or closed. NotFound is raised at
        the call, before the first chunk."""
        from runtime.containers import archive
        stack = contextlib.ExitStack()
        try:
            root_fd, name = stack.enter_context(self._container_root(ident))
            try:
                chunks = archive.iter_archive(root_fd, path)
            except (FileNotFoundError, NotADirectoryError):
                raise errdefs.NotFound(f"Could not find the file {path} in container {name}") from None
        except BaseException:
            stack.close()
            raise

        def stream() -> Iterator[bytes]:
            with stack:
                try:
                    yield from chunks
                finally:
                    chunks.close()
        return stream()

    def container_extract(self, ident: str, path: str, stream: BinaryIO, no_overwrite: bool, copy_uid: bool) -> None:
        from runtime.containers import archive
        with self._container_root(ident) as (root_fd, name):
            try:
                archive.extract(root_fd, path, stream, no_overwrite_dir_non_dir=no_overwrite,
                                copy_uid_gid=copy_uid, what=f"copy to {path} in container {name}")
            except (FileNotFoundError, NotADirectoryError):
                raise errdefs.NotFound(f"Could not find the file {path} in container {name}") from None

    # -- the container's root ------------------------------------------------------------
    @contextlib.contextmanager
    def _container_root(self, ident: str) -> Iterator[tuple[int, str]]:
        """(fd of the container's root directory, the name the user gave) for one call."""
        info = self.containers.inspect(ident)  # NotFound: "No such container: …"
        state = info.get("State") or {}
        pid = state.get("Pid") or 0
        if state.get("Running") and pid > 0:
            try:
                fd = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                fd = -1  # exited just now: fall through to the snapshot
            if fd >= 0:
                try:
                    yield fd, ident
                finally:
                    os.close(fd)
                return
        with self._mounted_snapshot(info["Id"], info.get("Mounts") or []) as target:
            fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                yield fd, ident
            finally:
                os.close(fd)

    @contextlib.contextmanager
    def _mounted_snapshot(self, cid: str, mounts: list[dict]) -> Iterator[str]:
        from runtime.services.hooks import snapshot_key
        from runtime.snapshots.mount import mount_all, unmount
        base = os.path.join(self.config.exec_root, "archive")
        os.makedirs(base, mode=0o700, exist_ok=True)
        target = tempfile.mkdtemp(prefix=cid[:12] + "-", dir=base)
        mounted: list[str] = []
        try:
            mount_all(self.images.snapshots.mounts(snapshot_key(cid)), target)
            mounted.append(target)
            # Volumes and binds at their destinations, so `docker cp` of a stopped container
            # sees (and writes) what the container would. Shallow ones first.
            root_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                self._mount_volumes(root_fd, target, mounts, mounted)
            finally:
                os.close(root_fd)
            yield target
        finally:
            for where in reversed(mounted):
                with contextlib.suppress(errdefs.Internal, errdefs.Unavailable, OSError):
                    unmount(where)
            with contextlib.suppress(OSError):
                os.rmdir(target)  # empty once unmounted; never rmtree what may be a mount

    @staticmethod
    def _mount_volumes(root_fd: int, target: str, mounts: list[dict], mounted: list[str]) -> None:
        from runtime.containers.archive import clean
        from runtime.snapshots.mount import Mount, mount_one
        from runtime.snapshots.unpack import O_PATH, openat2
        for m in sorted(mounts, key=lambda m: clean(m.get("Destination") or "/").count("/")):
            source, dest = m.get("Source"), m.get("Destination")
            if not source or not dest or not os.path.exists(source):
                continue
            try:
                fd = openat2(root_fd, clean(dest), O_PATH)
            except OSError:
                continue  # no mountpoint in the image: the runtime makes it at start
            try:
                where = os.readlink(f"/proc/self/fd/{fd}")
                if not (where + "/").startswith(target + "/"):
                    continue
                if os.path.isdir(source) != os.path.isdir(where):
                    continue
                mount_one(Mount("bind", source, ["rbind"] + (["ro"] if m.get("RW") is False else [])), where)
                mounted.append(where)
            finally:
                os.close(fd)

