"""Test helpers for the registry client tests: tiny blobs and manifests, client settings.

Used by the integration tests in this directory. Images are built in memory (a config blob,
one or two layer blobs, a schema 2 manifest) so no test depends on a network image.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from runtime.registry import RegistryClient, RegistryConfig

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ACCEPT = [MANIFEST_V2, OCI_MANIFEST, "application/vnd.oci.image.index.v1+json",
          "application/vnd.docker.distribution.manifest.list.v2+json"]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class TinyImage:
    config: bytes
    layers: list[bytes]
    manifest: bytes

    @property
    def manifest_digest(self) -> str:
        return digest_of(self.manifest)


def tiny_image(seed: str = "a", layer_sizes: tuple[int, ...] = (1000,)) -> TinyImage:
    """A schema 2 manifest over a config and random-looking layers (content fixed by `seed`)."""
    layers = [hashlib.sha256(f"{seed}-{i}".encode()).digest() * (size // 32 + 1) for i, size in enumerate(layer_sizes)]
    layers = [layer[:size] for layer, size in zip(layers, layer_sizes)]
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed,
                         "rootfs": {"type": "layers", "diff_ids": [digest_of(b) for b in layers]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_V2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": digest_of(b), "size": len(b)} for b in layers],
    }, indent=3).encode()
    return TinyImage(config, layers, manifest)


def push_image(client: RegistryClient, host: str, repository: str, tag: str, image: TinyImage, **kwargs) -> str:
    for blob in [image.config, *image.layers]:
        client.push_blob(host, repository, digest_of(blob), len(blob), blob, **kwargs)
    return client.put_manifest(host, repository, tag, MANIFEST_V2, image.manifest)


def client_config(tmp_path, **overrides) -> RegistryConfig:
    """Settings for tests: a temp docker config, no certs, short back-offs."""
    values = dict(docker_config_path=os.path.join(tmp_path, "docker", "config.json"),
                  certs_dir=os.path.join(tmp_path, "certs.d"), backoff_base=0.01, backoff_max=0.5,
                  max_total_wait=2.0, attempts=4)
    values.update(overrides)
    return RegistryConfig(**values)
