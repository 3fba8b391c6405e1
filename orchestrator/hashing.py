"""The config hash: one string per service that changes iff its container must be recreated.

Written by the executor into the `io.stackyard.config-hash` label of every container, read back
by `observe`, compared by the `planner` (desired vs observed) to decide recreation.

What it covers: the service's canonical mapping (docs/canonical-form.md) minus what does not
change a running container (`build`, `pull_policy`, `scale`, `deploy.replicas`, `depends_on`,
`profiles`, `x-*` extensions); the definitions of the top-level secrets/configs it uses; the
*contents* of the files it references (`env_file`s, secret/config `file`s; a missing file is
hashed as absent); and the image's manifest digest when known. A service that runs an image
the stack builds gets the built image's id added to its document (`image_id`, by
`planner.builds.with_image_ids`), so rebuilding it to a different image recreates it.

Versioning: the result is `"<HASH_VERSION>:<sha256 hex>"`. Any change to the algorithm (what
is excluded, how the JSON is written, what goes into the payload) MUST bump `HASH_VERSION`.
The planner compares only hashes of the same version (`hash_version`); a container labelled
with another version is not recreated for that reason alone, so upgrading stackyard never
recreates containers by itself.

What is hashed is a *config document* (`config_document`, `resource_document` for networks and
volumes): plain JSON that the executor also stores on the object (the planner's
`CONFIG_DOC_LABEL`), so the next plan can compare it with the desired one and name the cause
(`describe_changes`: `environment.FOO changed`, `content of /p/my.cnf (config "c") changed`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Mapping

from orchestrator import inputs
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
    return hash_document(_document(service_canonical, file_contents, image_digest, resources))


def config_document(stack_canonical: Mapping, service_name: str,
                    read: Callable[[str], bytes] | None = None, *,
                    image_digest: str | None = None) -> dict:
    """Exactly what `service_hash` hashes, as plain JSON-able data.

    `{"service": <canonical service minus the excluded keys>, "resources": {<section>:
    {<name>: <definition>}}, "files": {<absolute path>: "sha256:<hex>" | None}, "file_roles":
    {<path>: ['config "x"', 'secret "y"', "env_file"]}, "image_digest"?: <digest>}`.
    The executor stores it (as `document_json`) on the container, so the next plan can say
    *what* changed (`describe_changes`), not only that the hash differs.

    Raises:
        KeyError: no such service.
        OSError: a referenced file exists but cannot be read (a missing one is recorded as None).
    """
    read = read or _read_bytes
    service = stack_canonical["services"][service_name]
    contents: dict[str, bytes | None] = {}
    for path in referenced_files(service, stack_canonical):
        try:
            contents[path] = read(path)
        except FileNotFoundError:
            contents[path] = None
    return _document(service, contents, image_digest, stack_canonical)


def resource_document(kind: str, definition: Mapping) -> dict:
    """The hashed view of a top-level network or volume definition: `{kind: {...}}`.

    The engine-side `name` and `external` are identity, not configuration, and `x-*` keys
    are ours; everything else (driver, options, ipam, labels...) needs a new object to change.
    """
    view = {k: v for k, v in plain(dict(definition)).items()
            if k not in ("name", "external") and not k.startswith("x-")}
    return {kind: view}


def document_json(document: Mapping) -> str:
    """The one serialisation of a document: what is hashed and what is stored in labels."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hash_document(document: Mapping) -> str:
    """`"<HASH_VERSION>:<sha256 hex>"` of a document (`config_document`, `resource_document`)."""
    digest = hashlib.sha256(document_json(document).encode("utf-8")).hexdigest()
    return f"{HASH_VERSION}:{digest}"


def _document(service: Mapping, file_contents: Mapping[str, bytes | None],
              image_digest: str | None, top: Mapping) -> dict:
    roles = _file_roles(service, top)
    document: dict[str, Any] = {
        "service": _hashed_view(service),
        "resources": _used_resources(service, top),
        "files": {path: None if data is None else "sha256:" + hashlib.sha256(data).hexdigest()
                  for path, data in file_contents.items()},
        "file_roles": {path: roles.get(path, []) for path in file_contents},
    }
    if image_digest is not None:
        document["image_digest"] = image_digest
    return document


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
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        inputs.note(path, None)
        raise
    inputs.note(path, data)
    return data


def service_hash(stack_canonical: Mapping, service_name: str,
                 read: Callable[[str], bytes] = _read_bytes, *,
                 image_digest: str | None = None) -> str:
    """The config hash of one service of a canonical stack: `hash_document(config_document(…))`.

    Raises:
        KeyError: no such service.
        OSError: a referenced file exists but cannot be read (a missing one is hashed as absent).
    """
    return hash_document(config_document(stack_canonical, service_name, read,
                                         image_digest=image_digest))


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


def _file_roles(service: Mapping, top: Mapping) -> dict[str, list[str]]:
    """Path -> what the service uses it as (`env_file`, `config "x"`, `secret "y"`)."""
    roles: dict[str, list[str]] = {}
    for entry in service.get("env_file") or ():
        path = entry if isinstance(entry, str) else entry["path"]
        roles.setdefault(str(path), []).append("env_file")
    for section, source, definition in _used_definitions(service, top):
        if isinstance(definition, Mapping) and definition.get("file"):
            role = f'{section[:-1]} "{source}"'
            path_roles = roles.setdefault(str(definition["file"]), [])
            if role not in path_roles:
                path_roles.append(role)
    return roles


# ---- explaining a hash change --------------------------------------------------------------

# Sections of a document whose keys are shown without the section name (`environment.FOO`,
# not `service.environment.FOO`).
_CONTENT_SECTIONS = ("service", "network", "volume")
# Values under these keys are never shown: environment values are where secrets live.
_HIDDEN_VALUES = frozenset({"environment"})
_MAX_CAUSES = 5
_MAX_VALUE = 40


def describe_changes(old_doc: Mapping, new_doc: Mapping, *, limit: int = _MAX_CAUSES) -> list[str]:
    """Human causes for the difference between two documents, sorted, at most `limit` of them
    followed by `and N more`: `environment.FOO changed`, `image changed (nginx:1 -> nginx:2)`,
    `content of /p/my.cnf (config "mycnf") changed`. Empty when the documents are equal."""
    causes: list[str] = []
    roles = {**(old_doc.get("file_roles") or {}), **(new_doc.get("file_roles") or {})}
    for section in sorted(set(old_doc) | set(new_doc)):
        old, new = old_doc.get(section), new_doc.get(section)
        if old == new or section == "file_roles":
            continue
        if section in _CONTENT_SECTIONS:
            _diff_values("", _as_mapping(old), _as_mapping(new), causes)
        elif section == "files":
            causes.extend(_file_causes(_as_mapping(old), _as_mapping(new), roles))
        elif section == "resources":
            causes.extend(_resource_causes(_as_mapping(old), _as_mapping(new)))
        elif section == "image_digest":
            causes.append(f"image digest changed ({_short_digest(old)} -> {_short_digest(new)})")
        elif section == "image_id":  # the id of a built image (planner/builds.py)
            if old and new:
                causes.append(f"image rebuilt ({_short_digest(old)} -> {_short_digest(new)})")
            elif new:
                causes.append(f"image built ({_short_digest(new)})")
            else:  # a dry run before the build: the image it ran is gone
                causes.append(f"built image no longer present (was {_short_digest(old)})")
        else:
            _diff_values(section, old, new, causes)
    causes.sort()
    if len(causes) > limit + 1:
        causes[limit:] = [f"and {len(causes) - limit} more"]
    return causes


def _as_mapping(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _diff_values(path: str, old: Any, new: Any, out: list[str]) -> None:
    """Mappings are compared key by key (a path per key); lists and scalars as a whole."""
    if old == new:
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in set(old) | set(new):
            child = f"{path}.{key}" if path else str(key)
            if key not in old:
                shown = _shows_value(child, new[key])
                out.append(f"{child} added ({_show(new[key])})" if shown else f"{child} added")
            elif key not in new:
                out.append(f"{child} removed")
            else:
                _diff_values(child, old[key], new[key], out)
        return
    shown = _shows_value(path, old) and _shows_value(path, new)
    out.append(f"{path} changed ({_show(old)} -> {_show(new)})" if shown else f"{path} changed")


def _shows_value(path: str, value: Any) -> bool:
    return path.split(".", 1)[0] not in _HIDDEN_VALUES and _is_short_scalar(value)


def _is_short_scalar(value: Any) -> bool:
    return (value is None or isinstance(value, (bool, int, float))
            or (isinstance(value, str) and len(value) <= _MAX_VALUE and "\n" not in value))


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _file_causes(old: Mapping, new: Mapping, roles: Mapping) -> list[str]:
    causes = []
    for path in set(old) | set(new):
        if old.get(path) == new.get(path) and (path in old) == (path in new):
            continue
        role = ", ".join(roles.get(path) or ())
        name = f"{path} ({role})" if role else path
        if path not in old:
            causes.append(f"{name} now used")
        elif path not in new:
            causes.append(f"{name} no longer used")
        elif new[path] is None:
            causes.append(f"{name} no longer exists")
        elif old[path] is None:
            causes.append(f"{name} now exists")
        else:
            causes.append(f"content of {name} changed")
    return causes


def _resource_causes(old: Mapping, new: Mapping) -> list[str]:
    causes = []
    for section in set(old) | set(new):
        before, after = _as_mapping(old.get(section)), _as_mapping(new.get(section))
        for name in set(before) | set(after):
            if before.get(name) == after.get(name):
                continue
            what = f'{section[:-1]} "{name}"'
            if name not in before:
                causes.append(f"{what} now used")
            elif name not in after:
                causes.append(f"{what} no longer used")
            else:
                # Values are not shown: an inline `content:` can be a secret.
                causes.append(f"definition of {what} changed")
    return causes


def _short_digest(value: Any) -> str:
    if not isinstance(value, str):
        return "unknown"
    algorithm, sep, hexdigest = value.partition(":")
    return f"{algorithm}:{hexdigest[:12]}" if sep else value[:12]
