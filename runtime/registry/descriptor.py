"""The descriptor a registry reply describes: media type, digest, size (OCI image spec).

Returned by `RegistryClient.resolve`, `get_manifest` and `blob_exists`; callers in
runtime/images build on it. Also the digest helpers every download uses to check content.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from runtime import errdefs

_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int


def is_digest(value: str) -> bool:
    return bool(_DIGEST.match(value))


def check_digest(value: str, where: str) -> str:
    """The digest, or InvalidArgument naming `where` (also keeps it from being a URL path).

    Raises:
        errdefs.InvalidArgument: not `sha256:<64 hex>` or `sha512:<128 hex>`.
    """
    if not is_digest(value):
        raise errdefs.InvalidArgument(f"{where}: invalid digest {value!r} (want sha256:<64 hex digits>)")
    return value


def new_hasher(digest: str):
    """A hashlib object for the digest's algorithm."""
    return hashlib.new(digest.partition(":")[0])


def compute_digest(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


class DigestVerifier:
    """Counts and hashes the bytes of one blob, then checks them against the expected digest.

    `update` takes every byte in order (a resumed download feeds the bytes already on disk
    first); `verify` raises if the content is not what the digest names.
    """

    def __init__(self, digest: str, *, size: int | None = None, where: str = "") -> None:
        self.digest = digest
        self.size = size
        self.where = where
        self.hasher = new_hasher(digest)
        self.count = 0

    def update(self, data: bytes) -> None:
        self.hasher.update(data)
        self.count += len(data)

    def actual(self) -> str:
        return f"{self.digest.partition(':')[0]}:{self.hasher.hexdigest()}"

    def verify(self) -> None:
        """Raises:
            errdefs.InvalidArgument: size or digest differ (a corrupted or truncated blob).
        """
        prefix = f"{self.where}: " if self.where else ""
        if self.size is not None and self.count != self.size:
            raise errdefs.InvalidArgument(
                f"{prefix}blob {self.digest}: size mismatch: got {self.count} bytes, expected {self.size}")
        actual = self.actual()
        if actual != self.digest:
            raise errdefs.InvalidArgument(
                f"{prefix}blob {self.digest}: digest mismatch: content hashes to {actual}")
