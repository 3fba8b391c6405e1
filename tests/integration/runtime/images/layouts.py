"""Build OCI image layouts (and raw layer tars) for the image-store tests.

Who calls it: the tests in this directory and bench/pull.py. Writes blobs itself (tarfile +
gzip/zstd + JSON), so a test can make exactly the image it needs — including hostile layers —
and hand it to `skopeo copy oci:<dir>:<tag> docker://<registry>/<repo>:<tag>`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass, field
from typing import Optional

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
               "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
               "": "application/vnd.oci.image.layer.v1.tar"}


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Entry:
    """One tar member: kind is file, dir, symlink, hardlink, char, block, fifo."""
    name: str
    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    link: str = ""
    major: int = 0
    minor: int = 0
    mtime: int = 1_700_000_000
    xattrs: dict = field(default_factory=dict)


_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
          "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE,
          "fifo": tarfile.FIFOTYPE}


def layer_tar(entries: list[Entry]) -> bytes:
    """A tar of `entries`, written as given (names are not sanitised: tests need hostile ones)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = _TYPES[e.kind]
            info.mode, info.uid, info.gid, info.mtime = e.mode, e.uid, e.gid, e.mtime
            info.linkname = e.link
            info.devmajor, info.devminor = e.major, e.minor
            if e.xattrs:
                info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs.items()}
            if e.kind == "file":
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
            else:
                tar.addfile(info)
    return out.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=1, mtime=0)
    if compression == "zstd":
        import zstandard
        return zstandard.ZstdCompressor().compress(data)
    return data


class Layout:
    """An OCI image layout directory being filled with blobs."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.index: list[dict] = []

    def blob(self, data: bytes) -> str:
        digest = digest_of(data)
        with open(os.path.join(self.path, "blobs", "sha256", digest[7:]), "wb") as f:
            f.write(data)
        return digest

    def image(self, layers: list[bytes], *, compression: str = "gzip", arch: str = "amd64",
              variant: str = "", config_extra: Optional[dict] = None,
              raw_layers: Optional[list[tuple[bytes, str]]] = None) -> dict:
        """Write config, layers and manifest; returns the manifest descriptor (not indexed yet)."""
        descs, diff_ids = [], []
        for tar in layers:
            blob = compress(tar, compression)
            descs.append({"mediaType": LAYER_TYPES[compression], "digest": self.blob(blob), "size": len(blob)})
            diff_ids.append(digest_of(tar))
        for blob, diff_id in raw_layers or []:
            descs.append({"mediaType": LAYER_TYPES["gzip"], "digest": self.blob(blob), "size": len(blob)})
            diff_ids.append(diff_id)
        config = {"created": "2024-01-02T03:04:05Z", "architecture": arch, "os": "linux",
                  "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                             "Cmd": ["/bin/sh"]},
                  "rootfs": {"type": "layers", "diff_ids": diff_ids},
                  "history": [{"created": "2024-01-02T03:04:05Z", "created_by": f"layer {i}"}
                              for i in range(len(diff_ids))]}
        if variant:
            config["variant"] = variant
        config.update(config_extra or {})
        config_bytes = json.dumps(config).encode()
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": self.blob(config_bytes),
                               "size": len(config_bytes)},
                    "layers": descs}
        body = json.dumps(manifest).encode()
        desc = {"mediaType": OCI_MANIFEST, "digest": self.blob(body), "size": len(body),
                "platform": {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}}
        return desc

    def tag(self, desc: dict, tag: str) -> None:
        entry = dict(desc)
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.index.append(entry)
        self.write_index()

    def index_of(self, descs: list[dict]) -> dict:
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}).encode()
        return {"mediaType": OCI_INDEX, "digest": self.blob(body), "size": len(body)}

    def write_index(self) -> None:
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.index}, f)


def skopeo_push(layout_dir: str, tag: str, registry: str, repo: str, *, all_images: bool = False,
                manifest_format: str = "") -> None:
    """`manifest_format="v2s2"` makes skopeo convert to a Docker schema 2 manifest on the way."""
    args = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
    if all_images:
        args.append("--all")
    if manifest_format:
        args += ["--format", manifest_format]
    args += [f"oci:{layout_dir}:{tag}", f"docker://{registry}/{repo}:{tag}"]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
