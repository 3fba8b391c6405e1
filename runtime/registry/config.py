"""Registry client settings: insecure registries, docker.io mirrors, certificate and credential paths.

Built by whoever constructs a `RegistryClient` (the daemon from its configuration, the CLI with
defaults, tests with their own ports and short back-offs). Plain data, no I/O.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def default_docker_config_path() -> str:
    """`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (where the docker CLI keeps logins)."""
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


@dataclass
class RegistryConfig:
    # host[:port] entries or CIDRs (IP literals only: we never resolve names to decide this).
    insecure_registries: list[str] = field(default_factory=list)
    # Mirror URLs ("https://mirror:5000" or "mirror:5000") tried before Docker Hub, pulls only.
    mirrors: list[str] = field(default_factory=list)
    certs_dir: str = "/etc/docker/certs.d"
    docker_config_path: str = field(default_factory=default_docker_config_path)
    # Where "docker.io" really lives. Only tests change it (to a local registry), so that the
    # mirror fallback can be exercised without ever reaching the internet.
    docker_hub_url: str = "https://registry-1.docker.io"
    # Retries on 429/5xx/dropped connections: attempts in all, exponential back-off from
    # `backoff_base` seconds, each wait capped at `backoff_max` and all waits of one request
    # at `max_total_wait` (a Retry-After beyond that gives up rather than stalling a pull).
    attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 10.0
    max_total_wait: float = 30.0
    # Times a blob download resumes (Range) after the connection drops mid-stream.
    resume_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # Chunk size of chunked uploads (PATCH requests).
    upload_chunk_size: int = 8 * 1024 * 1024
