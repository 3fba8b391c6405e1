"""OCI distribution (registry) client: pull and push of manifests and blobs, auth, credentials.

Used by runtime/images (pull/push), the daemon and `stackyard login/logout`. Modules:
`client` (the API calls), `transport` (endpoints, TLS, retries), `auth` (tokens, Basic),
`credentials` (docker config file and helpers), `blobs` (resumable downloads), `upload`
(monolithic/chunked/mount), and the pure deciders `endpoints`, `retry`, `challenge`, `errcode`.
"""

import importlib
from typing import Any

# Names resolved on first use (PEP 562): importing `runtime.registry.config` or another light
# module must not pull in httpx (~100 ms, ~16 MiB), so an idle daemon and `--help` stay small.
_EXPORTS = {
    "BlobStream": "blobs", "download_blob": "blobs",
    "DEFAULT_USER_AGENT": "client", "RegistryClient": "client",
    "RegistryConfig": "config",
    "AuthConfig": "credentials", "erase_credentials": "credentials", "get_credentials": "credentials",
    "store_credentials": "credentials",
    "Descriptor": "descriptor", "DigestVerifier": "descriptor", "compute_digest": "descriptor",
    "is_digest": "descriptor",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime.registry' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"runtime.registry.{module}"), name)
    globals()[name] = value
    return value
