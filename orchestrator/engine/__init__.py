"""httpx client for the Docker Engine API v1.41 (contract: docs/engine-interface.md).

`EngineClient` (one method per endpoint, plain dicts) is what `observe`, `executor` and the CLI
use; `DockerClient`/`from_env` are the docker-py compatible layer for ported code.
"""

from orchestrator.engine.client import EngineClient
from orchestrator.engine.highlevel import DockerClient, from_env

__all__ = ["EngineClient", "DockerClient", "from_env"]
