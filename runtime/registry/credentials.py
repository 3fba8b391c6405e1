"""Registry credentials in the docker CLI's config file and its credential helpers.

Called by `RegistryClient` (to find credentials for a registry) and by `stackyard login/logout`
(to store and erase them). Same file and rules as the docker CLI: `$DOCKER_CONFIG/config.json`
or `~/.docker/config.json`; per-registry `credHelpers`, else the `credsStore`, else `auths`
entries with base64 `user:password` in `auth`. Helpers are `docker-credential-<name>` programs
speaking get/store/erase on stdin/stdout. Docker Hub is keyed `https://index.docker.io/v1/`.
The file is rewritten atomically with mode 0600, keeping every key we do not manage.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

from runtime import errdefs
from runtime.registry.endpoints import is_docker_hub

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 30.0
# What helpers print when they have nothing for a server (docker-credential-helpers' ErrCredentialsNotFound).
_NOT_FOUND = "credentials not found in native keychain"


@dataclass(frozen=True)
class AuthConfig:
    username: str = ""
    password: str = ""
    identity_token: str = ""   # an OAuth refresh token (helpers return it as user "<token>")
    server_address: str = ""

    def __repr__(self) -> str:  # never print secrets in logs or test failures
        return f"AuthConfig(username={self.username!r}, server_address={self.server_address!r})"


def credentials_key(host: str) -> str:
    """The key docker uses in config.json for a registry host."""
    return DOCKER_HUB_KEY if is_docker_hub(host) else host


def normalize_key(key: str) -> str:
    """"https://127.0.0.1:5000/v1/" -> "127.0.0.1:5000", as docker matches `auths` keys."""
    if key == DOCKER_HUB_KEY:
        return key
    if "://" in key:
        key = key.partition("://")[2]
    host = key.split("/", 1)[0]
    return DOCKER_HUB_KEY if is_docker_hub(host) else host


def load_config(path: str) -> dict[str, Any]:
    """The parsed config file; {} when it does not exist.

    Raises:
        errdefs.InvalidArgument: the file is not a JSON object.
        errdefs.PermissionDenied/...: it cannot be read.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise errdefs.from_oserror(exc, f"docker config {path}") from exc
    except ValueError as exc:
        raise errdefs.InvalidArgument(f"docker config {path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise errdefs.InvalidArgument(f"docker config {path}: not a JSON object")
    return data


def write_config(path: str, data: dict[str, Any]) -> None:
    """Replace the file atomically (temp file + rename in the same directory), mode 0600."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=directory)
    except OSError as exc:
        raise errdefs.from_oserror(exc, f"docker config {path}") from exc
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent="\t")
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise errdefs.from_oserror(exc, f"docker config {path}") from exc


def helper_for(config: dict[str, Any], key: str) -> str | None:
    """The credential helper name for a registry key: credHelpers first, then credsStore."""
    helpers = config.get("credHelpers") or {}
    if isinstance(helpers, dict):
        for name, helper in helpers.items():
            if normalize_key(name) == key and helper:
                return str(helper)
    store = config.get("credsStore")
    return str(store) if store else None


def auth_from_entry(entry: Any, key: str, path: str) -> AuthConfig | None:
    """Credentials from one `auths` entry (base64 `auth`, or `identitytoken`)."""
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(entry["auth"], validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise errdefs.InvalidArgument(f"docker config {path}: auths[{key!r}].auth is not base64 user:password") from exc
        user, sep, password = decoded.partition(":")
        if not sep:
            raise errdefs.InvalidArgument(f"docker config {path}: auths[{key!r}].auth has no ':' between user and password")
        return AuthConfig(user, password, str(entry.get("identitytoken") or ""), key)
    if entry.get("identitytoken"):
        return AuthConfig(str(entry.get("username") or ""), "", str(entry["identitytoken"]), key)
    if entry.get("username") and entry.get("password"):
        return AuthConfig(str(entry["username"]), str(entry["password"]), "", key)
    return None


def merge_auth_entry(config: dict[str, Any], key: str, entry: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of `config` with `auths[key]` set (or removed when `entry` is None); other keys kept."""
    merged = dict(config)
    auths = {k: v for k, v in (config.get("auths") or {}).items() if normalize_key(k) != key}
    if entry is not None:
        auths[key] = entry
    merged["auths"] = auths
    return merged


def encode_auth(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


# ---- the docker-credential-<name> protocol -----------------------------------------------

def _run_helper(helper: str, action: str, payload: str) -> str:
    program = f"docker-credential-{helper}"
    try:
        proc = subprocess.run([program, action], input=payload.encode(), capture_output=True,
                              timeout=HELPER_TIMEOUT)
    except FileNotFoundError as exc:
        raise errdefs.FailedPrecondition(
            f"credential helper {program} not found in PATH (configured in the docker config)") from exc
    except subprocess.TimeoutExpired as exc:
        raise errdefs.Unavailable(f"credential helper {program} {action}: no answer in {HELPER_TIMEOUT:.0f}s") from exc
    except OSError as exc:
        raise errdefs.from_oserror(exc, f"credential helper {program}") from exc
    out = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        message = out or proc.stderr.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
        if _NOT_FOUND in message:
            raise errdefs.NotFound(f"credential helper {program}: {message}")
        raise errdefs.Unavailable(f"credential helper {program} {action}: {message.splitlines()[0]}")
    return out


def helper_get(helper: str, key: str) -> AuthConfig | None:
    """Credentials the helper holds for `key`, None if it has none.

    Raises:
        errdefs.FailedPrecondition: the helper program is missing.
        errdefs.Unavailable: the helper failed.
        errdefs.InvalidArgument: it answered something that is not its protocol.
    """
    try:
        out = _run_helper(helper, "get", key)
    except errdefs.NotFound:
        return None
    try:
        data = json.loads(out)
        username, secret = str(data.get("Username") or ""), str(data.get("Secret") or "")
    except (ValueError, AttributeError) as exc:
        raise errdefs.InvalidArgument(f"credential helper docker-credential-{helper} get: not a JSON object: {out[:80]!r}") from exc
    if not username and not secret:
        return None
    if username == "<token>":
        return AuthConfig("", "", secret, key)
    return AuthConfig(username, secret, "", key)


def helper_store(helper: str, key: str, username: str, secret: str) -> None:
    _run_helper(helper, "store", json.dumps({"ServerURL": key, "Username": username, "Secret": secret}))


def helper_erase(helper: str, key: str) -> bool:
    try:
        _run_helper(helper, "erase", key)
    except errdefs.NotFound:
        return False
    return True


# ---- what the client and the CLI call ----------------------------------------------------

def get_credentials(host: str, path: str) -> AuthConfig | None:
    """Credentials for a registry host from the config file or its helper, None if there are none.

    Raises:
        errdefs.InvalidArgument / FailedPrecondition / Unavailable: a broken file or helper.
    """
    config = load_config(path)
    key = credentials_key(host)
    helper = helper_for(config, key)
    if helper:
        found = helper_get(helper, key)
        if found is not None:
            return found
    for name, entry in (config.get("auths") or {}).items():
        if normalize_key(name) == key:
            found = auth_from_entry(entry, key, path)
            if found is not None:
                return found
    return None


def store_credentials(host: str, username: str, password: str, path: str) -> str:
    """Save credentials the way `docker login` does; returns where they went (helper or file)."""
    config = load_config(path)
    key = credentials_key(host)
    helper = helper_for(config, key)
    if helper:
        helper_store(helper, key, username, password)
        # docker keeps an empty entry so `auths` still lists the registry.
        write_config(path, merge_auth_entry(config, key, {}))
        return f"credential helper docker-credential-{helper}"
    write_config(path, merge_auth_entry(config, key, {"auth": encode_auth(username, password)}))
    return path


def erase_credentials(host: str, path: str) -> bool:
    """Forget credentials for a host (helper and file); False if there were none."""
    config = load_config(path)
    key = credentials_key(host)
    removed = False
    helper = helper_for(config, key)
    if helper:
        removed = helper_erase(helper, key)
    if any(normalize_key(name) == key for name in (config.get("auths") or {})):
        write_config(path, merge_auth_entry(config, key, None))
        removed = True
    return removed
