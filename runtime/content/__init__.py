"""Content-addressed blob store: blobs/sha256/<hex>, written through an ingest area.

Who calls it: `runtime.images` (pull writes layers, configs and manifests; push, save and load
read them). Invariant: a file under blobs/ has exactly the size and sha256 its name says; it is
renamed there only after both were checked, so nothing unverified is ever visible.

An ingest (ingest/<hex>/data) survives an interrupted download: the next writer for the same
digest re-hashes the partial file (`Ingest.replay`) and continues from its end, so the caller
can ask the registry for the rest with a Range request. One writer per digest at a time, across
threads and processes (flock on ingest/<hex>/lock): a second pull of the same blob waits, then
finds it committed and reads it locally — concurrent pulls share one download.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import time
from typing import BinaryIO, Iterator, Optional

from runtime import errdefs
from runtime.writeback import start_writeback

CHUNK = 1 << 20
# Written blob data is queued for writeback every this many bytes (see writeback.py).
WRITEBACK_EVERY = 8 << 20


def _hex(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    if algorithm != "sha256" or len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise errdefs.InvalidArgument(f"invalid blob digest {digest!r}")
    return hexpart


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Ingest:
    """One in-progress blob write. Use through `ContentStore.ingest()`.

    `offset` is how many bytes a previous attempt left; call `replay()` to re-hash them (and get
    them back, e.g. to feed a decompressor) before `write`-ing the rest.
    """

    def __init__(self, store: "ContentStore", digest: str, size: Optional[int]) -> None:
        self.store, self.digest, self.size = store, digest, size
        self.dir = os.path.join(store.ingest_root, _hex(digest))
        self.path = os.path.join(self.dir, "data")
        self._hash = hashlib.sha256()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.offset = os.fstat(self._fd).st_size
        if size is not None and self.offset > size:
            # Longer than the blob can be: the partial data is wrong; start over.
            os.ftruncate(self._fd, 0)
            self.offset = 0
        self._replayed = self.offset == 0
        self.written = 0
        self._queued = self.offset   # bytes before this were handed to writeback already

    def replay(self, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """Yield the bytes a previous attempt stored, hashing them; then writes may continue."""
        done = 0
        while done < self.offset:
            data = os.pread(self._fd, min(chunk_size, self.offset - done), done)
            if not data:
                break
            self._hash.update(data)
            done += len(data)
            yield data
        if done != self.offset:  # file shrank under us
            os.ftruncate(self._fd, done)
            self.offset = done
        self._replayed = True

    def discard_partial(self) -> None:
        """Forget the partial data (e.g. the server ignored our Range request)."""
        os.ftruncate(self._fd, 0)
        self.offset = 0
        self._hash = hashlib.sha256()
        self._replayed = True

    @property
    def received(self) -> int:
        return self.offset + self.written

    def write(self, data: bytes | memoryview) -> None:
        if not self._replayed:
            raise errdefs.Internal(f"ingest {self.digest}: write before replay of {self.offset} bytes")
        if self._fd < 0:
            raise errdefs.Internal(f"ingest {self.digest}: write after commit or abort")
        self._hash.update(data)
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, self.offset + self.written)
            self.written += n
            view = view[n:]
        end = self.offset + self.written
        if end - self._queued >= WRITEBACK_EVERY:
            start_writeback(self._fd, self._queued, end - self._queued)
            self._queued = end

    def verify(self, *, what: str = "") -> None:
        """Check the size and digest of everything written, without moving the blob anywhere.

        Raises:
            errdefs.InvalidArgument: size or digest mismatch (the ingest is discarded).
        """
        name = what or f"blob {self.digest}"
        if not self._replayed:
            list(self.replay())
        total = self.received
        if self.size is not None and total != self.size:
            self.abort(keep=False)
            raise errdefs.InvalidArgument(f"{name}: size mismatch: expected {self.size} bytes, got {total}")
        actual = "sha256:" + self._hash.hexdigest()
        if actual != self.digest:
            self.abort(keep=False)
            raise errdefs.InvalidArgument(f"{name}: digest mismatch: expected {self.digest}, got {actual}")

    def commit(self, *, what: str = "") -> str:
        """Verify size and digest, then move the blob into place; returns its path.

        Raises:
            errdefs.InvalidArgument: size or digest mismatch (the ingest is discarded).
        """
        self.verify(what=what)
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = -1
        target = self.store.path(self.digest)
        os.rename(self.path, target)
        _fsync_dir(os.path.dirname(target))
        # The ingest dir (and its lock file) stays: waiters hold that lock's inode.
        # `clean_ingests` removes it when nobody holds it.
        return target

    def abort(self, *, keep: bool = True) -> None:
        """Stop writing. keep=True leaves the partial data for a resumed download."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if not keep:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ContentStore:
    """Local content store rooted at `root` (blobs/sha256/, ingest/)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.blob_root = os.path.join(root, "blobs", "sha256")
        self.ingest_root = os.path.join(root, "ingest")
        os.makedirs(self.blob_root, exist_ok=True)
        os.makedirs(self.ingest_root, exist_ok=True)

    def path(self, digest: str) -> str:
        return os.path.join(self.blob_root, _hex(digest))

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def size(self, digest: str) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise errdefs.NotFound(f"blob {digest} not found in the content store") from None

    def read(self, digest: str) -> bytes:
        """A whole (small) blob: manifests and configs. Raises errdefs.NotFound."""
        try:
            with open(self.path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise errdefs.NotFound(f"blob {digest} not found in the content store") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise errdefs.NotFound(f"blob {digest} not found in the content store") from None

    @contextlib.contextmanager
    def lock(self, digest: str) -> Iterator[None]:
        """Exclusive per-digest lock, across threads and processes (flock per open file)."""
        directory = os.path.join(self.ingest_root, _hex(digest))
        path = os.path.join(directory, "lock")
        while True:
            os.makedirs(directory, exist_ok=True)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:
                continue  # `clean_ingests` (another process) removed the dir meanwhile
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Locked a file that `clean_ingests` unlinked before we got it? Then lock anew.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            yield
        finally:
            os.close(fd)

    def ingest(self, digest: str, size: Optional[int]) -> Ingest:
        """Open (or resume) the ingest for `digest`. Hold `lock(digest)` around its use."""
        os.makedirs(os.path.join(self.ingest_root, _hex(digest)), exist_ok=True)
        return Ingest(self, digest, size)

    def ingest_offset(self, digest: str) -> int:
        try:
            return os.stat(os.path.join(self.ingest_root, _hex(digest), "data")).st_size
        except FileNotFoundError:
            return 0

    def write_blob(self, data: bytes, digest: Optional[str] = None, *, what: str = "",
                   locked: bool = False) -> str:
        """Store a small blob held in memory; returns its digest (checked if given).
        `locked=True`: the caller already holds `lock(digest)`.

        Raises:
            errdefs.InvalidArgument: `data` does not match `digest`.
        """
        actual = sha256_digest(data)
        if digest is not None and digest != actual:
            raise errdefs.InvalidArgument(f"{what or 'blob'}: digest mismatch: expected {digest}, got {actual}")
        if self.exists(actual):
            return actual
        with contextlib.nullcontext() if locked else self.lock(actual):
            if not self.exists(actual):
                ing = self.ingest(actual, len(data))
                ing.discard_partial()
                ing.write(data)
                ing.commit(what=what)
        return actual

    def writer(self) -> "BlobWriter":
        """A writer for a blob whose digest is computed as it is written."""
        return BlobWriter(self)

    def delete(self, digest: str) -> bool:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(digest))
            return True
        return False

    def list(self) -> list[str]:
        return sorted("sha256:" + name for name in os.listdir(self.blob_root) if len(name) == 64)

    def clean_ingests(self) -> None:
        """Remove ingest dirs nobody holds (startup hygiene). Partial data of held ones stays."""
        for name in os.listdir(self.ingest_root):
            directory = os.path.join(self.ingest_root, name)
            if name.startswith("tmp-"):
                # A BlobWriter's file: live ones are young; a day-old one was left by a crash.
                with contextlib.suppress(OSError):
                    if time.time() - os.stat(directory).st_mtime > 86400:
                        os.unlink(directory)
                continue
            lock_path = os.path.join(directory, "lock")
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                if not os.path.exists(os.path.join(directory, "data")):
                    shutil.rmtree(directory, ignore_errors=True)
            finally:
                os.close(fd)


class BlobWriter:
    """A blob whose digest is known only at the end (import, load): write, then `commit()`.

    Use through `ContentStore.writer()`. The data sits in ingest/tmp-* until it is verified
    (against `expected`, if given) and renamed into blobs/.
    """

    def __init__(self, store: "ContentStore") -> None:
        import tempfile
        self.store = store
        self._hash = hashlib.sha256()
        fd, self.path = tempfile.mkstemp(prefix="tmp-", dir=store.ingest_root)
        self._file = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self._file.write(data)
        self.size += len(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def commit(self, expected: Optional[str] = None, *, what: str = "") -> str:
        """Raises errdefs.InvalidArgument when `expected` is given and differs."""
        digest = self.digest
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if expected is not None and expected != digest:
            os.unlink(self.path)
            raise errdefs.InvalidArgument(f"{what or 'blob'}: digest mismatch: expected {expected}, got {digest}")
        target = self.store.path(digest)
        if os.path.exists(target):
            os.unlink(self.path)
        else:
            os.rename(self.path, target)
            _fsync_dir(os.path.dirname(target))
        return digest

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
