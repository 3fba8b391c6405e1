"""Registry credentials for pulls and pushes, read the way the docker CLI reads them.

Called by `reconcile` before pulling (reading files and running helpers is I/O, so it is done
there, not in the executor). Sources, in Docker's order: `credHelpers[<registry>]`, then
`credsStore`, then `auths[<registry>].auth` in `$DOCKER_CONFIG/config.json` (default
`~/.docker/config.json`). Helpers speak the `docker-credential-*` protocol: the registry on
stdin, `{"Username": …, "Secret": …}` on stdout.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from typing import Mapping

DOCKER_HUB = "https://index.docker.io/v1/"


def registry_of(reference: str) -> str:
    """The registry host of an image reference (`docker.io` images -> Docker Hub's key)."""
    first, sep, _ = reference.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def config_path(environ: Mapping[str, str]) -> str:
    base = environ.get("DOCKER_CONFIG") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def read_config(environ: Mapping[str, str]) -> dict | None:
    """The docker CLI's config.json as a dict, or None when absent or unreadable."""
    try:
        with open(config_path(environ), encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def auth_for(reference: str, environ: Mapping[str, str] | None = None) -> dict | None:
    """`{"username", "password", "serveraddress"}` for the image's registry, or None."""
    environ = os.environ if environ is None else environ
    config = read_config(environ)
    if config is None:
        return None
    registry = registry_of(reference)
    helper = (config.get("credHelpers") or {}).get(registry) or config.get("credsStore")
    if helper:
        found = _from_helper(helper, registry, environ)
        if found:
            return found
    entry = (config.get("auths") or {}).get(registry) or {}
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return {"username": user, "password": password, "serveraddress": registry}
    if entry.get("identitytoken"):
        return {"identitytoken": entry["identitytoken"], "serveraddress": registry}
    return None


def _from_helper(helper: str, registry: str, environ: Mapping[str, str]) -> dict | None:
    try:
        proc = subprocess.run([f"docker-credential-{helper}", "get"], input=registry.encode(),
                              capture_output=True, timeout=30, env=dict(environ))
        if proc.returncode != 0:
            return None
        data = json.loads(proc.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    if data.get("Username") == "<token>":
        return {"identitytoken": data.get("Secret", ""), "serveraddress": registry}
    return {"username": data.get("Username", ""), "password": data.get("Secret", ""), "serveraddress": registry}
