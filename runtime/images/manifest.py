"""Manifests and indexes: media types, parsing with clear refusals, platform selection.

Who calls it: `runtime.images.pull` (what to fetch), `push`, `archive` (load/save). Pure: no
I/O. Understands the OCI image manifest and index and Docker's schema 2 manifest and manifest
list; schema 1 and unknown media types are refused with an explanation.
"""

from __future__ import annotations

import json
import platform as _platform
from dataclasses import dataclass, field
from typing import Any, Optional

from runtime import errdefs
from runtime.images.reference import validate_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_ND = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_ND_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_ND_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
# What we send in Accept when resolving: both index kinds first, then single manifests.
ACCEPT = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST]

# Layer media type -> compression ("gzip", "zstd" or "" for a plain tar).
LAYER_COMPRESSION = {
    OCI_LAYER: "", OCI_LAYER_ND: "",
    OCI_LAYER_GZIP: "gzip", OCI_LAYER_ND_GZIP: "gzip",
    DOCKER_LAYER_GZIP: "gzip", DOCKER_LAYER_FOREIGN: "gzip",
    OCI_LAYER_ZSTD: "zstd", OCI_LAYER_ND_ZSTD: "zstd",
    # Some tools write the Docker type without the compression suffix for plain tars.
    "application/vnd.docker.image.rootfs.diff.tar": "",
}

_SCHEMA1_HELP = ("Docker Image Format v1 and Docker Image manifest version 2, schema 1 support is "
                 "removed: schema 1 manifests are deprecated and unsigned-verifiable; push the "
                 "image again with a current client (schema 2 or OCI)")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Optional[dict[str, Any]] = None
    annotations: Optional[dict[str, str]] = None
    urls: Optional[list[str]] = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            out["platform"] = self.platform
        if self.annotations:
            out["annotations"] = self.annotations
        if self.urls:
            out["urls"] = self.urls
        return out


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def _descriptor(raw: Any, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise errdefs.InvalidArgument(f"{where}: descriptor is not an object")
    try:
        media_type, digest, size = raw["mediaType"], raw["digest"], raw["size"]
    except KeyError as exc:
        raise errdefs.InvalidArgument(f"{where}: descriptor has no {exc.args[0]!r}") from None
    if not isinstance(media_type, str) or not isinstance(size, int) or size < 0:
        raise errdefs.InvalidArgument(f"{where}: descriptor has a bad mediaType or size")
    try:
        validate_digest(digest if isinstance(digest, str) else "")
    except errdefs.StackyardError as exc:
        raise type(exc)(f"{where}: {exc}") from None
    return Descriptor(media_type, digest, size, raw.get("platform"), raw.get("annotations"),
                      raw.get("urls"))


def detect_media_type(body: bytes, header_type: Optional[str]) -> str:
    """The media type of a manifest body: the document's own field, else the HTTP header's."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        if isinstance(doc.get("mediaType"), str):
            return doc["mediaType"]
        if doc.get("schemaVersion") == 1:
            return DOCKER_SCHEMA1
        if isinstance(doc.get("manifests"), list):
            return OCI_INDEX
        if "config" in doc and "layers" in doc:
            return OCI_MANIFEST
    return (header_type or "").split(";")[0].strip()


def parse(body: bytes, media_type: Optional[str], *, where: str) -> Manifest | Index:
    """Parse a manifest or index body. `where` names it in errors (e.g. the reference).

    Raises:
        errdefs.InvalidArgument: malformed JSON or descriptors.
        errdefs.Unsupported: schema 1 or an unknown media type.
    """
    kind = detect_media_type(body, media_type)
    if kind in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED) or kind.startswith(
            "application/vnd.docker.distribution.manifest.v1"):
        raise errdefs.Unsupported(f"{where}: {_SCHEMA1_HELP}")
    if kind not in MANIFEST_TYPES + INDEX_TYPES:
        raise errdefs.Unsupported(
            f"{where}: unsupported manifest media type {kind or '(none)'!r}; "
            f"supported: {', '.join(MANIFEST_TYPES + INDEX_TYPES)}")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise errdefs.InvalidArgument(f"{where}: manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise errdefs.InvalidArgument(f"{where}: manifest is not a JSON object")
    if kind in INDEX_TYPES:
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise errdefs.InvalidArgument(f"{where}: index has no manifests list")
        return Index(kind, tuple(_descriptor(m, f"{where}: manifests[{i}]") for i, m in enumerate(items)))
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise errdefs.InvalidArgument(f"{where}: manifest has no layers list")
    config = _descriptor(doc.get("config"), f"{where}: config")
    parsed = tuple(_descriptor(m, f"{where}: layers[{i}]") for i, m in enumerate(layers))
    for i, layer in enumerate(parsed):
        if layer.media_type not in LAYER_COMPRESSION:
            raise errdefs.Unsupported(f"{where}: layers[{i}] ({layer.digest}): unsupported layer "
                                      f"media type {layer.media_type!r}")
    return Manifest(kind, config, parsed, doc.get("annotations") or {})


_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm",
                 "armel": "arm", "i386": "386", "i686": "386"}


def normalize_platform(os_name: str, arch: str, variant: str = "") -> Platform:
    """containerd's platforms.Normalize: aliases, arm64 default variant v8, arm default v7."""
    os_name = os_name.lower()
    arch = _ARCH_ALIASES.get(arch.lower(), arch.lower())
    variant = variant.lower()
    if arch == "arm64" and variant in ("8", "v8"):
        variant = "v8"
    elif arch == "arm" and variant in ("", "7"):
        variant = "v7"
    elif arch == "arm" and variant in ("5", "6", "8"):
        variant = "v" + variant
    elif arch == "amd64" and variant == "v1":
        variant = ""
    return Platform(os_name, arch, variant)


def parse_platform(text: str) -> Platform:
    """`linux/arm64/v8`, `linux/amd64`, `arm64` (os defaults to linux).

    Raises:
        errdefs.InvalidArgument: empty parts or more than three.
    """
    parts = text.split("/")
    if not text or len(parts) > 3 or any(not p for p in parts):
        raise errdefs.InvalidArgument(f"invalid platform {text!r}: expected os/arch[/variant]")
    if len(parts) == 1:
        return normalize_platform("linux", parts[0])
    return normalize_platform(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def host_platform() -> Platform:
    machine = _platform.machine()
    variant = "v8" if _ARCH_ALIASES.get(machine, machine) == "arm64" else ""
    return normalize_platform("linux", machine, variant)


def config_platform_mismatch(want: Platform, config: dict[str, Any]) -> Optional[Platform]:
    """The config's platform when it cannot run as `want` (a `--platform` the image does not
    have), else None. A config naming no os/architecture is not judged."""
    os_name, arch = config.get("os"), config.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str) or not os_name or not arch:
        return None
    variant = config.get("variant")
    raw = {"os": os_name, "architecture": arch, "variant": variant if isinstance(variant, str) else ""}
    if _matches(want, raw):
        return None
    return normalize_platform(os_name, arch, raw["variant"])


def _matches(want: Platform, raw: Optional[dict[str, Any]]) -> bool:
    if not raw:
        return False
    have = normalize_platform(str(raw.get("os", "")), str(raw.get("architecture", "")),
                              str(raw.get("variant", "") or ""))
    if (have.os, have.architecture) != (want.os, want.architecture):
        return False
    if want.architecture == "arm64":
        # arm64 images without a variant run on v8 hosts and the other way round.
        return have.variant in ("", "v8") if want.variant in ("", "v8") else have.variant == want.variant
    return not want.variant or have.variant == want.variant or not have.variant


def select_manifest(index: Index, want: Platform, *, where: str) -> Descriptor:
    """Pick the manifest of `index` for platform `want`; prefer an exact variant match.

    Attestation manifests (BuildKit's "unknown/unknown") never match a real platform.

    Raises:
        errdefs.NotFound: no manifest for that platform; the message lists those available.
    """
    candidates = [d for d in index.manifests if d.media_type in MANIFEST_TYPES + ("",)
                  and _matches(want, d.platform)]
    exact = [d for d in candidates if normalize_platform(
        d.platform.get("os", ""), d.platform.get("architecture", ""),  # type: ignore[union-attr]
        d.platform.get("variant", "") or "") == want]  # type: ignore[union-attr]
    if exact or candidates:
        return (exact or candidates)[0]
    available = sorted({str(normalize_platform(str((d.platform or {}).get("os", "")),
                                               str((d.platform or {}).get("architecture", "")),
                                               str((d.platform or {}).get("variant", "") or "")))
                        for d in index.manifests if d.platform})
    raise errdefs.NotFound(f"{where}: no matching manifest for {want} in the manifest list entries"
                           f" (available: {', '.join(available) or 'none'})")


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI chain ids: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    import hashlib
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {diff_id}".encode()).hexdigest())
    return out


def config_diff_ids(config: dict[str, Any], *, where: str) -> list[str]:
    """rootfs.diff_ids of an image config, validated.

    Raises:
        errdefs.InvalidArgument: missing or malformed rootfs.
    """
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or (isinstance(rootfs, dict) and rootfs.get("type") != "layers"):
        raise errdefs.InvalidArgument(f"{where}: image config has no rootfs.diff_ids of type layers")
    for d in ids:
        try:
            validate_digest(d if isinstance(d, str) else "")
        except errdefs.StackyardError as exc:
            raise errdefs.InvalidArgument(f"{where}: image config rootfs.diff_ids: {exc}") from None
    return list(ids)
