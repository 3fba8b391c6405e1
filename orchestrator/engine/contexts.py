"""Docker contexts: the engine address a `docker context` names, as the docker CLI finds it.

Called by `reconcile.engine_url` when no DOCKER_HOST is set. The context is `DOCKER_CONTEXT`,
else `currentContext` in `$DOCKER_CONFIG/config.json`; its metadata lives in
`contexts/meta/<sha256 of the name>/meta.json` under the same directory, with the address
at `Endpoints.docker.Host`. The `default` context means the default socket.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Mapping

from orchestrator import inputs
from orchestrator.engine.auth import config_path


def context_host(environ: Mapping[str, str]) -> str | None:
    """The Host of the active docker context, or None (default context, or none set)."""
    name = environ.get("DOCKER_CONTEXT")
    config_dir = os.path.dirname(config_path(environ))
    inputs.probe(os.path.join(config_dir, "config.json"))
    if not name:
        try:
            with open(os.path.join(config_dir, "config.json"), encoding="utf-8") as handle:
                name = json.load(handle).get("currentContext")
        except (OSError, ValueError):
            return None
    if not name or name == "default":
        return None
    digest = hashlib.sha256(name.encode()).hexdigest()
    inputs.probe(os.path.join(config_dir, "contexts", "meta", digest, "meta.json"))
    try:
        with open(os.path.join(config_dir, "contexts", "meta", digest, "meta.json"), encoding="utf-8") as handle:
            meta = json.load(handle)
    except (OSError, ValueError):
        raise ValueError(f'docker context "{name}" not found in {config_dir}/contexts') from None
    host = ((meta.get("Endpoints") or {}).get("docker") or {}).get("Host")
    if not host:
        raise ValueError(f'docker context "{name}" has no docker endpoint')
    return host
