"""OCI distribution (registry) client: pull and push of manifests and blobs, auth, credentials.

Used by runtime/images (pull/push), the daemon and `stackyard login/logout`. Modules:
`client` (the API calls), `transport` (endpoints, TLS, retries), `auth` (tokens, Basic),
`credentials` (docker config file and helpers), `blobs` (resumable downloads), `upload`
(monolithic/chunked/mount), and the pure deciders `endpoints`, `retry`, `challenge`, `errcode`.
"""

from runtime.registry.blobs import BlobStream, download_blob
from runtime.registry.client import DEFAULT_USER_AGENT, RegistryClient
from runtime.registry.config import RegistryConfig
from runtime.registry.credentials import AuthConfig, erase_credentials, get_credentials, store_credentials
from runtime.registry.descriptor import Descriptor, DigestVerifier, compute_digest, is_digest

__all__ = [
    "AuthConfig", "BlobStream", "DEFAULT_USER_AGENT", "Descriptor", "DigestVerifier", "RegistryClient",
    "RegistryConfig", "compute_digest", "download_blob", "erase_credentials", "get_credentials",
    "is_digest", "store_credentials",
]
