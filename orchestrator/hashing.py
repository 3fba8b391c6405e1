"""The config hash: one string per service that changes iff its container must be recreated.

Written by the executor into the `io.stackyard.config-hash` label of every container, read back
by `observe`, compared by the `planner` (desired vs observed) to decide recreation.

What it covers: the service's canonical mapping (docs/canonical-form.md) minus what does not
change a running container (`build`, `pull_policy`, `scale`, `deploy.replicas`, `depends_on`,
`profiles`, `x-*` extensions); the definitions of the top-level secrets/configs it uses; the
*contents* of the files it references (`env_file`s, secret/config `file`s; a missing file is
hashed as absent); and the image's manifest digest when known.

Versioning: the result is `"<HASH_VERSION>:<sha256 hex>"`. Any change to the algorithm (what
is excluded, how the JSON is written, what goes into the payload) MUST bump `HASH_VERSION`.
The planner compares only hashes of the same version (`hash_version`); a container labelled
with another version is not recreated for that reason alone, so upgrading stackyard never
recreates containers by itself.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Mapping

from orchestrator.loader.tree import plain

HASH_VERSION = "v1"

# Top-level service keys that never change the container (Compose excludes the same set).
_EXCLUDED_KEYS = frozenset({"build", "pull_policy", "scale", "depends_on", "profiles"})


def config_hash(service_canonical: Mapping, *, file_contents: Mapping[str, bytes | None] = {},
                image_digest: str | None = None, resources: Mapping[str, Any] = {}) -> str:
    """Hash a service's canonical mapping with the files and image it depends on.

    `file_contents` maps each referenced path to its bytes (None: the file is absent);
    `resources` holds the top-level `secrets`/`configs` sections, of which only the entries
    the service uses are hashed (so an inline `content:` change recreates).
    """
    payload = {
        "service": _hashed_view(service_canonical),
        "files": {path: None if data is None else hashlib.sha256(data).hexdigest()
                  for path, data in file_contents.items()},
        "resources": _used_resources(service_canonical, resources),
        "image_digest": image_digest,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{HASH_VERSION}:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


def hash_version(value: str) -> str:
    """The version prefix of a config hash ("v1"); "" for an unversioned (foreign) hash."""
    version, sep, _ = value.partition(":")
    return version if sep else ""


def referenced_files(service_canonical: Mapping, top_level_secrets_configs: Mapping) -> list[str]:
    """Paths whose contents the service's hash covers, in a stable order, without duplicates.

    `top_level_secrets_configs` is a mapping with `secrets`/`configs` sections (the stack's
    canonical mapping will do). Bind-mount sources are not included: they are live, not config.
    """
    paths: list[str] = []
    for entry in service_canonical.get("env_file") or ():
        paths.append(entry if isinstance(entry, str) else entry["path"])
    for _, _, definition in _used_definitions(service_canonical, top_level_secrets_configs):
        if isinstance(definition, Mapping) and definition.get("file"):
            paths.append(str(definition["file"]))
    return list(dict.fromkeys(paths))


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def service_hash(stack_canonical: Mapping, service_name: str,
                 read: Callable[[str], bytes] = _read_bytes, *,
                 image_digest: str | None = None) -> str:
    """`config_hash` of one service of a canonical stack, reading its files through `read`.

    Raises:
        KeyError: no such service.
        OSError: a referenced file exists but cannot be read (a missing one is hashed as absent).
    """
    service = stack_canonical["services"][service_name]
    contents: dict[str, bytes | None] = {}
    for path in referenced_files(service, stack_canonical):
        try:
            contents[path] = read(path)
        except FileNotFoundError:
            contents[path] = None
    return config_hash(service, file_contents=contents, image_digest=image_digest,
                       resources=stack_canonical)


def _hashed_view(service: Mapping) -> dict:
    view = {k: v for k, v in plain(dict(service)).items()
            if k not in _EXCLUDED_KEYS and not k.startswith("x-")}
    deploy = view.get("deploy")
    if isinstance(deploy, dict):
        # replicas changes how many containers exist, not what each one is.
        deploy = {k: v for k, v in deploy.items() if k != "replicas"}
        if deploy:
            view["deploy"] = deploy
        else:
            del view["deploy"]
    return view


def _used_definitions(service: Mapping, top: Mapping) -> list[tuple[str, str, Any]]:
    """(section, source, definition) of each top-level secret/config the service uses."""
    used = []
    for section in ("secrets", "configs"):
        definitions = top.get(section) or {}
        for ref in service.get(section) or ():
            source = ref if isinstance(ref, str) else ref.get("source")
            if source in definitions:
                used.append((section, source, definitions[source]))
    return used


def _used_resources(service: Mapping, top: Mapping) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for section, source, definition in _used_definitions(service, top):
        definition = plain(definition)
        if isinstance(definition, dict):
            definition = {k: v for k, v in definition.items() if not k.startswith("x-")}
        out.setdefault(section, {})[source] = definition
    return out
