"""Image references: Docker's grammar (distribution/reference), normalised and rendered.

Who calls it: `runtime.images` (pull, push, tag, lookup), the CLI and the daemon routes.
`parse_reference("busybox")` gives docker.io/library/busybox:latest; `familiar()` renders it
back the way Docker shows RepoTags ("busybox:latest"). Pure: no I/O.

Grammar (distribution/reference/reference.go):
    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path-component ["/" path-component]*
    domain     := host [":" port]          host: dotted DNS labels, "localhost" or [IPv6]
    path-comp  := [a-z0-9]+ (separator [a-z0-9]+)*   separator: "." "_" "__" "-"+
    tag        := [\\w][\\w.-]{0,127}
    digest     := algorithm ":" hex        (sha256: 64 lowercase hex)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from runtime import errdefs

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_NAME_RE = re.compile(rf"^(?:({_DOMAIN})/)?({_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_DIGEST_RE = re.compile(rf"^{_DIGEST}$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")
_ANCHORED_ID = re.compile(r"^(?:sha256:)?([a-f0-9]{64})$")


@dataclass(frozen=True)
class Reference:
    """A normalised image reference. `domain` is e.g. "docker.io" or "127.0.0.1:5000"."""

    domain: str
    path: str                      # "library/busybox"
    tag: Optional[str] = None
    digest: Optional[str] = None

    @property
    def name(self) -> str:
        """Fully qualified repository name, e.g. docker.io/library/busybox."""
        return f"{self.domain}/{self.path}"

    @property
    def repository(self) -> str:
        """Path inside the registry (what the distribution API calls the name)."""
        return self.path

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def with_tag(self, tag: str) -> "Reference":
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> "Reference":
        return Reference(self.domain, self.path, None, digest)

    def familiar_name(self) -> str:
        """Repository as Docker prints it: busybox, foo/bar, 127.0.0.1:5000/x."""
        if self.domain == DEFAULT_DOMAIN:
            if self.path.startswith(OFFICIAL_REPO_PREFIX) and self.path.count("/") == 1:
                return self.path[len(OFFICIAL_REPO_PREFIX):]
            return self.path
        return self.name

    def familiar(self) -> str:
        """Whole reference as Docker prints it: busybox:latest, busybox@sha256:…"""
        text = self.familiar_name()
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _invalid(text: str, why: str) -> errdefs.InvalidArgument:
    return errdefs.InvalidArgument(f'invalid reference format: {why} ("{text}")' if why
                                   else f'invalid reference format ("{text}")')


def split_domain(name: str) -> tuple[str, str]:
    """Split a repository name into (domain, path), applying Docker's defaults.

    The first component is a domain only if it has a '.' or ':', is "localhost", or has an
    uppercase letter (so the later lowercase check gives a clear error rather than treating an
    uppercase host as a path).
    """
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"
                   and first.lower() == first):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    return domain, path


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise an image reference; add ":latest" when neither tag nor digest is given.

    Raises:
        errdefs.InvalidArgument: the text is not a valid reference, with Docker's wording.
    """
    if not text:
        raise errdefs.InvalidArgument("invalid reference format: repository name must not be empty")
    if _HEX64_RE.match(text):
        raise errdefs.InvalidArgument(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    remainder, digest = text, None
    if "@" in remainder:
        remainder, _, digest = remainder.partition("@")
        if not _DIGEST_RE.match(digest):
            raise _invalid(text, "invalid digest")
        validate_digest(digest)
    tag = None
    # A ':' after the last '/' separates the tag; one before it belongs to a host:port.
    colon = remainder.rfind(":")
    if colon > remainder.rfind("/"):
        remainder, tag = remainder[:colon], remainder[colon + 1:]
        if not _TAG_RE.match(tag):
            raise _invalid(text, "invalid tag")
    if not remainder:
        raise _invalid(text, "repository name must not be empty")
    domain, path = split_domain(remainder)
    if path.lower() != path:
        raise errdefs.InvalidArgument("invalid reference format: repository name must be lowercase")
    full = f"{domain}/{path}"
    if len(full) > NAME_TOTAL_LENGTH_MAX:
        raise _invalid(text, f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    if not _NAME_RE.match(full):
        raise _invalid(text, "")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def validate_digest(digest: str) -> str:
    """Check a digest string ("sha256:<64 hex>"); other algorithms are refused as unsupported.

    Raises:
        errdefs.InvalidArgument: malformed digest.
        errdefs.Unsupported: an algorithm other than sha256.
    """
    algorithm, sep, hexpart = digest.partition(":")
    if not sep or not _DIGEST_RE.match(digest):
        raise errdefs.InvalidArgument(f"invalid digest {digest!r}")
    if algorithm != "sha256":
        raise errdefs.Unsupported(f"unsupported digest algorithm {algorithm!r} in {digest!r}")
    if not _HEX64_RE.match(hexpart):
        raise errdefs.InvalidArgument(f"invalid digest {digest!r}: sha256 needs 64 lowercase hex digits")
    return digest


def image_id_prefix(text: str) -> Optional[str]:
    """The hex of an image id or id prefix the user typed ("sha256:ab12…", "ab12…"), else None.

    Docker accepts an unambiguous prefix; it must be hex and at least one character long.
    """
    body = text[len("sha256:"):] if text.startswith("sha256:") else text
    if body and len(body) <= 64 and all(c in "0123456789abcdef" for c in body):
        return body
    return None


def is_full_image_id(text: str) -> bool:
    return bool(_ANCHORED_ID.match(text))
