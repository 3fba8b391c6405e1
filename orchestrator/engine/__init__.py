"""httpx client for the Docker Engine API v1.41 (contract: docs/engine-interface.md).

`EngineClient` (one method per endpoint, plain dicts) is what `observe`, `executor` and the CLI
use; `DockerClient`/`from_env` are the docker-py compatible layer for ported code. The names
are resolved on first use (PEP 562), so importing `orchestrator.engine.client` alone does not
load the docker-py layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.engine.client import EngineClient
    from orchestrator.engine.highlevel import DockerClient, from_env

__all__ = ["EngineClient", "DockerClient", "from_env"]

_HOMES = {"EngineClient": "orchestrator.engine.client", "DockerClient": "orchestrator.engine.highlevel",
          "from_env": "orchestrator.engine.highlevel"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
