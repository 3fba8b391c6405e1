"""Phase 6: expand a merged, schema-valid stack into its canonical form (docs/canonical-form.md).

Called by `loader.load_stack` after schema validation and before the semantic checks
(`check.py`); `stackyard config` prints the result. Every short syntax is expanded, defaults are
filled in, durations and byte sizes are normalised and relative host paths made absolute.

The work is a table of rules keyed by path pattern (`RULES`), as compose-go's
`transform/canonical.go` does: `_walk` copies the tree and, at each node whose path matches a
pattern, applies the rule first and then walks the rule's result, so rules compose (the `build`
rule turns a string into a mapping, then `services.*.build.args` applies to it). Rules must
therefore accept their own output (they are idempotent).

The input is never mutated. Every container we create is positioned where the value it was
expanded from was written, so later phases report errors at the user's `file:line:column`.
Values the schema cannot reject (`"abc:80"`, `"12zz"`) are reported and left out; the phase
goes on so that all problems are reported at once.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Callable

from orchestrator.errors import Position, format_path
from orchestrator.loader import units
from orchestrator.loader.context import LoadContext
from orchestrator.loader.short_syntax import parse_port, parse_volume
from orchestrator.loader.tree import PList, PMap, deepcopy

Path = tuple
Rule = Callable[[Any, Path, Position, LoadContext], Any]


class _Drop:
    """Returned by a rule to leave the value out (it was invalid and has been reported)."""


DROP = _Drop()

# Maps whose keys are user-chosen names, not attributes: an `x-` key there is a name,
# not an extension.
_NAME_MAPS = {("services",), ("networks",), ("volumes",), ("secrets",), ("configs",), ("models",)}
_TOP_LEVEL_ORDER = ("name", "services", "networks", "volumes", "secrets", "configs", "models")
_TOP_LEVEL_DROPPED = {"version", "include"}
_RESOURCE_KINDS = ("networks", "volumes", "secrets", "configs")


def normalize(project: PMap, ctx: LoadContext) -> PMap:
    """Return the canonical form of `project` (a new tree); problems go to `ctx.report`.

    Raises: nothing; invalid values are reported and left out.
    """
    walked = PMap(project.pos)
    for key in project:
        if key in _TOP_LEVEL_DROPPED:
            continue
        value_pos = project.value_position(key)
        if key.startswith("x-"):
            walked.put(key, deepcopy(project[key]), project.key_position(key), value_pos)
            continue
        value = _walk(project[key], (key,), value_pos, ctx)
        if value is not DROP:
            walked.put(key, value, project.key_position(key), value_pos)
    if not isinstance(walked.get("services"), PMap):
        walked.put("services", PMap(project.pos), project.pos)
    _add_default_network(walked, ctx)
    # Top level in the order `docker compose config` prints it; empty resource maps go.
    out = PMap(project.pos)
    for key in _TOP_LEVEL_ORDER:
        if key in walked and (key in ("name", "services") or walked[key]):
            out.copy_entry(key, walked)
    for key in walked:
        if key not in _TOP_LEVEL_ORDER:
            out.copy_entry(key, walked)
    return out


# --- the walker -------------------------------------------------------------------------

def _walk(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    rule = _find_rule(path)
    if rule is not None:
        value = rule(value, path, pos, ctx)
        if value is DROP:
            return DROP
    return _walk_children(value, path, pos, ctx)


def _walk_children(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    if isinstance(value, dict):
        out = PMap(getattr(value, "pos", pos))
        extensions_allowed = path not in _NAME_MAPS
        for key, child in value.items():
            key_pos, child_pos = _entry_positions(value, key, pos)
            if extensions_allowed and isinstance(key, str) and key.startswith("x-"):
                out.put(key, deepcopy(child), key_pos, child_pos)
                continue
            new = _walk(child, path + (key,), child_pos, ctx)
            if new is not DROP:
                out.put(key, new, key_pos, child_pos)
                if isinstance(value, PMap) and key in value.tags:
                    out.tags[key] = value.tags[key]
        return out
    if isinstance(value, list):
        out_list = PList(getattr(value, "pos", pos))
        for index, child in enumerate(value):
            child_pos = value.item_position(index) if isinstance(value, PList) else pos
            new = _walk(child, path + (index,), child_pos, ctx)
            if new is not DROP:
                out_list.add(new, child_pos)
        return out_list
    return value


def _entry_positions(mapping: dict, key: str, pos: Position) -> tuple[Position, Position]:
    if isinstance(mapping, PMap):
        return mapping.key_position(key), mapping.value_position(key)
    return pos, pos


def _matches(pattern: tuple, path: Path) -> bool:
    for want, part in zip(pattern, path):
        if want == "[]":
            if not isinstance(part, int):
                return False
        elif want == "*":
            if not isinstance(part, str):
                return False
        elif want != part:
            return False
    return True


def _find_rule(path: Path) -> Rule | None:
    for pattern, rule in _RULES_BY_LENGTH.get(len(path), ()):
        if _matches(pattern, path):
            return rule
    return None


def _error(ctx: LoadContext, pos: Position, path: Path, message: str) -> None:
    ctx.report.error(pos, format_path(path), message)


# --- scalar helpers ---------------------------------------------------------------------

def _to_str(value: Any) -> str:
    """A YAML scalar as the string Compose would use (`true`, `1`, `1.5`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if value is None:
        return ""
    return str(value)


def _resolve(path: str, pos: Position, ctx: LoadContext) -> str:
    return ctx.resolve(path, pos) if ctx.options.resolve_paths else path


def _positions(value: Any, pos: Position) -> list[Position]:
    if isinstance(value, PList):
        return [value.item_position(i) for i in range(len(value))]
    return [pos] * (len(value) if isinstance(value, list) else 0)


def _new_map(pos: Position, items: dict[str, Any]) -> PMap:
    out = PMap(pos)
    for key, value in items.items():
        out.put(key, value, pos, pos)
    return out


# --- generic shapes ---------------------------------------------------------------------

def _mapping_rule(missing: str | None) -> Rule:
    """`k=v` lists and mappings -> mapping of strings; `k` alone / null -> `missing`."""

    def rule(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
        if isinstance(value, dict):
            out = PMap(getattr(value, "pos", pos))
            for key, item in value.items():
                key_pos, item_pos = _entry_positions(value, key, pos)
                if item is None:
                    converted: Any = missing
                elif isinstance(item, list):
                    converted = PList(getattr(item, "pos", item_pos), [_to_str(v) for v in item],
                                      _positions(item, item_pos))
                else:
                    converted = _to_str(item)
                out.put(key, converted, key_pos, item_pos)
            return out
        if isinstance(value, list):
            out = PMap(getattr(value, "pos", pos))
            for item, item_pos in zip(value, _positions(value, pos)):
                text = _to_str(item)
                key, sep, rest = text.partition("=")
                out.put(key, rest if sep else missing, item_pos, item_pos)
            return out
        return value

    return rule


def _str_list(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """A string or list -> list of strings (`dns: 8.8.8.8` -> `[8.8.8.8]`); null stays."""
    if value is None:
        return None
    if isinstance(value, list):
        return PList(getattr(value, "pos", pos), [_to_str(v) for v in value], _positions(value, pos))
    return PList(pos, [_to_str(value)], [pos])


def _command(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """`command`/`entrypoint`: a string is split with shell rules; `[]`/null kept."""
    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as exc:
            _error(ctx, pos, path, f"invalid {path[-1]} {value!r}: {exc}")
            return DROP
        return PList(pos, words, [pos] * len(words))
    return _str_list(value, path, pos, ctx)


def _duration(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    if value is None:
        return None
    try:
        return units.normalize_duration(value)
    except ValueError as exc:
        _error(ctx, pos, path, str(exc))
        return DROP


def _byte_size(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    if value is None:
        return None
    try:
        return units.parse_bytes(value)
    except ValueError as exc:
        _error(ctx, pos, path, str(exc))
        return DROP


def _float(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    if value is None or isinstance(value, float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        _error(ctx, pos, path, f"invalid number {value!r}")
        return DROP


def _int(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        _error(ctx, pos, path, f"invalid integer {value!r}")
        return DROP


# --- services ---------------------------------------------------------------------------

def _service(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """Service-wide defaults: label files, the default network, `deploy.replicas`."""
    if not isinstance(value, PMap):
        return value
    service = PMap(value.pos)
    for key in value:
        service.copy_entry(key, value)
    if "label_file" in service:
        _merge_label_files(service, path, ctx)
    # network_mode and networks are exclusive (check.py reports both set); only a service
    # with neither joins the default network.
    if "networks" not in service and "network_mode" not in service:
        service.put("networks", _new_map(service.pos, {"default": None}), service.pos, service.pos)
    _sync_replicas(service)
    return service


def _sync_replicas(service: PMap) -> None:
    """`scale` wins as written; `deploy.replicas` follows it. When both are set and differ
    they are left alone for check.py to report."""
    scale = service.get("scale")
    if scale is None:
        return
    deploy = service.get("deploy")
    if isinstance(deploy, PMap) and deploy.get("replicas") is not None:
        return
    scale_pos = service.value_position("scale")
    new_deploy = PMap(deploy.pos if isinstance(deploy, PMap) else scale_pos)
    if isinstance(deploy, PMap):
        for key in deploy:
            new_deploy.copy_entry(key, deploy)
    new_deploy.put("replicas", scale, scale_pos, scale_pos)
    if "deploy" in service:
        service.put("deploy", new_deploy, service.key_position("deploy"), service.value_position("deploy"))
    else:
        service.put("deploy", new_deploy, service.key_position("scale"), scale_pos)


def _merge_label_files(service: PMap, path: Path, ctx: LoadContext) -> None:
    """Read `label_file` entries into `labels`; labels written in the service win."""
    files = service["label_file"]
    files_pos = service.value_position("label_file")
    entries = files if isinstance(files, list) else [files]
    labels_pos = service.value_position("labels") if "labels" in service else files_pos
    explicit = _mapping_rule("")(service.get("labels", PMap(labels_pos)), path + ("labels",),
                                 labels_pos, ctx)
    merged = PMap(labels_pos)
    for index, (name, item_pos) in enumerate(zip(entries, _positions(files, files_pos) or [files_pos])):
        where = path + ("label_file",) + ((index,) if isinstance(files, list) else ())
        for key, val in _read_label_file(str(name), item_pos, where, ctx):
            merged.put(key, val, item_pos, item_pos)
    for key in explicit:
        merged.copy_entry(key, explicit)
    service.remove("label_file")
    service.put("labels", merged, service.key_position("labels") if "labels" in service else files_pos,
                labels_pos)


def _read_label_file(name: str, pos: Position, path: Path, ctx: LoadContext) -> list[tuple[str, str]]:
    file = ctx.resolve(name, pos)
    try:
        text = ctx.read_file(file).decode("utf-8")
    except FileNotFoundError:
        if ctx.options.hermetic:  # CI without the deployment's files: say so, go on
            ctx.report.warning(pos, format_path(path), f"label file {file} not found", code="label-file")
        else:
            _error(ctx, pos, path, f"label file {file} not found")
        return []
    except (OSError, UnicodeDecodeError) as exc:
        _error(ctx, pos, path, f"cannot read label file {file}: {exc}")
        return []
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, val = line.partition("=")
            pairs.append((key.strip(), val))
    return pairs


def _env_files(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """`env_file` -> list of `{path: <absolute>, required, format?}`."""
    items = value if isinstance(value, list) else [value]
    out = PList(getattr(value, "pos", pos))
    for item, item_pos in zip(items, _positions(value, pos) if isinstance(value, list) else [pos]):
        entry = PMap(getattr(item, "pos", item_pos))
        if isinstance(item, dict):
            for key in item:
                entry.put(key, item[key], *_entry_positions(item, key, item_pos))
            raw = item.get("path")
            raw_pos = item.value_position("path") if isinstance(item, PMap) else item_pos
        else:
            raw, raw_pos = item, item_pos
        entry.put("path", _resolve(_to_str(raw), raw_pos, ctx), raw_pos, raw_pos)
        entry.put("required", bool(entry.get("required", True)), entry.key_position("required"),
                  entry.value_position("required") if "required" in entry else entry.pos)
        out.add(entry, item_pos)
    return out


_HOST_SEPARATOR = re.compile(r"[=:]")


def _extra_hosts(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """`host:ip` / `host=ip` list -> `{host: ip}` (IPv6 kept, brackets dropped)."""
    if isinstance(value, dict):
        return _mapping_rule("")(value, path, pos, ctx)
    if not isinstance(value, list):
        return value
    out = PMap(getattr(value, "pos", pos))
    for index, (item, item_pos) in enumerate(zip(value, _positions(value, pos))):
        text = _to_str(item)
        sep = "=" if "=" in text else ":"
        host, found, address = text.partition(sep)
        if not found or not host:
            _error(ctx, item_pos, path + (index,), f"invalid extra host {text!r}: expected host:ip")
            continue
        if address.startswith("[") and address.endswith("]"):
            address = address[1:-1]
        if host in out:  # several addresses for one host: a list, as in the mapping form
            previous = out[host]
            addresses = list(previous) if isinstance(previous, list) else [previous]
            out.put(host, PList(item_pos, addresses + [address]), out.key_position(host), item_pos)
        else:
            out.put(host, address, item_pos, item_pos)
    return out


def _depends_on(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """List or mapping -> `{svc: {condition, required, restart}}` with Compose's defaults."""
    out = PMap(getattr(value, "pos", pos))
    if isinstance(value, list):
        for item, item_pos in zip(value, _positions(value, pos)):
            out.put(_to_str(item), _dependency(None, item_pos), item_pos, item_pos)
        return out
    if isinstance(value, dict):
        for key in value:
            key_pos, item_pos = _entry_positions(value, key, pos)
            out.put(key, _dependency(value[key], item_pos), key_pos, item_pos)
        return out
    return value


def _dependency(spec: Any, pos: Position) -> PMap:
    entry = PMap(getattr(spec, "pos", pos))
    if isinstance(spec, PMap):
        for key in spec:
            entry.copy_entry(key, spec)
    for key, default in (("condition", "service_started"), ("required", True), ("restart", False)):
        if entry.get(key) is None:
            entry.put(key, default, entry.pos, entry.pos)
    return entry


def _service_networks(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """List form -> `{net: null}`; the mapping form is kept."""
    if isinstance(value, list):
        out = PMap(getattr(value, "pos", pos))
        for item, item_pos in zip(value, _positions(value, pos)):
            out.put(_to_str(item), None, item_pos, item_pos)
        return out
    return value


def _file_reference(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """Service `secrets`/`configs` item: `s` -> `{source: s}`."""
    if isinstance(value, str):
        return _new_map(pos, {"source": value})
    return value


def _ulimit(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """`nofile: 1024` -> `{soft: 1024, hard: 1024}`; soft must not exceed hard."""
    if isinstance(value, dict):
        limits = {}
        for key in ("soft", "hard"):
            limit = _ulimit_number(value.get(key))
            if limit is None:
                _error(ctx, pos, path, f"invalid ulimit {path[-1]}: {key} must be an integer")
                return DROP
            limits[key] = limit
        if limits["soft"] > limits["hard"] and limits["hard"] != -1:
            _error(ctx, pos, path, "ulimit soft limit must be less than or equal to hard limit: "
                                   f"{limits['soft']} > {limits['hard']}")
            return DROP
        out = PMap(getattr(value, "pos", pos))
        for key in value:
            if isinstance(value, PMap):
                out.copy_entry(key, value)
        for key, limit in limits.items():
            key_pos, val_pos = _entry_positions(value, key, pos)
            out.put(key, limit, key_pos, val_pos)
        return out
    limit = _ulimit_number(value)
    if limit is None:
        _error(ctx, pos, path, f"invalid ulimit {path[-1]}: {value!r} is not an integer")
        return DROP
    return _new_map(pos, {"soft": limit, "hard": limit})


def _ulimit_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _healthcheck_test(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """`test: "curl x"` -> `["CMD-SHELL", "curl x"]`; lists are kept (as strings)."""
    if isinstance(value, str):
        return PList(pos, ["CMD-SHELL", value], [pos, pos])
    return _str_list(value, path, pos, ctx)


_DEVICE_MODE = re.compile(r"[rwm]{1,3}\Z")


def _device(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """`/dev/a:/dev/b:rwm` -> `{source, target, permissions}`."""
    if not isinstance(value, str):
        return value
    parts = value.split(":")
    if len(parts) == 2 and _DEVICE_MODE.match(parts[1]):
        parts = [parts[0], parts[0], parts[1]]
    if len(parts) > 3 or not parts[0] or (len(parts) == 3 and not _DEVICE_MODE.match(parts[2])):
        _error(ctx, pos, path, f"invalid device {value!r}: expected source[:target[:permissions]]")
        return DROP
    source = parts[0]
    target = parts[1] if len(parts) > 1 and parts[1] else source
    permissions = parts[2] if len(parts) > 2 else "rwm"
    return _new_map(pos, {"source": source, "target": target, "permissions": permissions})


def _device_request(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """GPU/device reservations: neither `count` nor `device_ids` means `count: all`."""
    if isinstance(value, PMap) and "count" not in value and "device_ids" not in value:
        out = PMap(value.pos)
        for key in value:
            out.copy_entry(key, value)
        out.put("count", "all", value.pos, value.pos)
        return out
    return value


# --- build --------------------------------------------------------------------------------

_REMOTE_CONTEXT = re.compile(r"^(git@|https?://|git://|github\.com/)")


def _build(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """`build: ./dir` -> `{context: <abs>, dockerfile: Dockerfile}`; mappings get the same
    defaults. URLs and inline Dockerfiles leave the context as written."""
    if isinstance(value, str):
        value = _new_map(pos, {"context": value})
    if not isinstance(value, PMap):
        return value
    out = PMap(value.pos)
    for key in value:
        out.copy_entry(key, value)
    if out.get("context") is None:
        out.put("context", ".", out.pos, out.pos)
    context = _to_str(out["context"])
    if not _REMOTE_CONTEXT.match(context) and "dockerfile_inline" not in out:
        context_pos = out.value_position("context")
        out.put("context", _resolve(context, context_pos, ctx), out.key_position("context"), context_pos)
    if "dockerfile" not in out and "dockerfile_inline" not in out:
        out.put("dockerfile", "Dockerfile", out.pos, out.pos)
    return out


# --- ports ------------------------------------------------------------------------------

def _ports(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """Short and long port syntax -> list of long entries; ranges give one entry per port."""
    if not isinstance(value, list):
        return value
    out = PList(getattr(value, "pos", pos))
    for index, (item, item_pos) in enumerate(zip(value, _positions(value, pos))):
        if isinstance(item, dict):
            entry = _long_port(item, item_pos)
            entries = [entry]
        else:
            try:
                entries = [_new_map(item_pos, spec) for spec in parse_port(_to_str(item))]
            except ValueError as exc:
                _error(ctx, item_pos, path + (index,), f"invalid port {_to_str(item)!r}: {exc}")
                continue
        for entry in entries:
            out.add(entry, item_pos)
    return out


def _long_port(item: dict, pos: Position) -> PMap:
    entry = PMap(getattr(item, "pos", pos))
    for key in item:
        if isinstance(item, PMap):
            entry.copy_entry(key, item)
        else:
            entry.put(key, item[key], pos)
    entry.put("mode", entry.get("mode") or "ingress", entry.key_position("mode"), entry.value_position("mode"))
    entry.put("protocol", entry.get("protocol") or "tcp", entry.key_position("protocol"),
              entry.value_position("protocol"))
    if isinstance(entry.get("target"), str) and entry["target"].strip().isdigit():
        entry.put("target", int(entry["target"]), entry.key_position("target"), entry.value_position("target"))
    published = entry.get("published")
    if published is None or published == "":
        entry.remove("published")
    else:
        entry.put("published", _to_str(published), entry.key_position("published"),
                  entry.value_position("published"))
    return entry


def _volume(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """A service volume: short syntax `src:dst:mode` -> long; bind sources made absolute."""
    if isinstance(value, str):
        try:
            spec, ignored = parse_volume(value)
        except ValueError as exc:
            _error(ctx, pos, path, f"invalid volume spec {value!r}: {exc}")
            return DROP
        for option in ignored:
            ctx.report.warning(pos, format_path(path), f"unknown volume mode {option!r} ignored")
        entry = PMap(pos)
        for key, item in spec.items():
            entry.put(key, _new_map(pos, item) if isinstance(item, dict) else item, pos, pos)
        value = entry
    if not isinstance(value, PMap):
        return value
    out = PMap(value.pos)
    for key in value:
        out.copy_entry(key, value)
    source = out.get("source")
    if out.get("type") == "bind" and isinstance(source, str) and source:
        source_pos = out.value_position("source")
        out.put("source", _resolve(source, source_pos, ctx), out.key_position("source"), source_pos)
    return out


def _resource(value: Any, path: Path, pos: Position, ctx: LoadContext) -> Any:
    """A network/volume/secret/config definition: default `name`, legacy `external.name`,
    absolute `file`."""
    kind, key = path[0], path[-1]
    source = value if isinstance(value, PMap) else PMap(pos)
    out = PMap(source.pos)
    out.put("name", None, source.pos)  # placeholder keeps `name` first
    for entry in source:
        out.copy_entry(entry, source)
    external = out.get("external")
    if isinstance(external, dict):
        legacy_name = external.get("name")
        ext_pos = out.value_position("external")
        if legacy_name is not None:
            if out.get("name") is not None and out["name"] != legacy_name:
                _error(ctx, ext_pos, path, "name and external.name conflict; only use name")
            elif out.get("name") is None:
                out.put("name", legacy_name, ext_pos, ext_pos)
                ctx.report.warning(ext_pos, format_path(path + ("external", "name")),
                                   "external.name is deprecated; set name and external: true")
        out.put("external", True, out.key_position("external"), ext_pos)
    elif external is False:
        out.remove("external")
    if out.get("name") is None:
        default = key if out.get("external") else _scoped_name(key, ctx)
        out.put("name", default, source.pos, source.pos)
    if kind in ("secrets", "configs") and isinstance(out.get("file"), str):
        file_pos = out.value_position("file")
        out.put("file", _resolve(out["file"], file_pos, ctx), out.key_position("file"), file_pos)
    return out


def _scoped_name(key: str, ctx: LoadContext) -> str:
    return f"{ctx.project_name}_{key}" if ctx.project_name else key


def _add_default_network(project: PMap, ctx: LoadContext) -> None:
    """Declare `default` when a service joins it and the file does not declare it."""
    networks = project.get("networks")
    if isinstance(networks, PMap) and "default" in networks:
        return
    for service in project["services"].values():
        joined = service.get("networks") if isinstance(service, PMap) else None
        if isinstance(joined, PMap) and "default" in joined:
            where = joined.key_position("default")
            new = PMap(networks.pos if isinstance(networks, PMap) else where)
            if isinstance(networks, PMap):
                for key in networks:
                    new.copy_entry(key, networks)
            new.put("default", _new_map(where, {"name": _scoped_name("default", ctx)}), where, where)
            project.put("networks", new, project.key_position("networks") if "networks" in project else where,
                        new.pos)
            return


# --- the table --------------------------------------------------------------------------

_LABELS = _mapping_rule("")
_NULLABLE_MAPPING = _mapping_rule(None)

RULES: dict[str, Rule] = {
    "services.*": _service,
    "services.*.command": _command,
    "services.*.entrypoint": _command,
    "services.*.environment": _NULLABLE_MAPPING,
    "services.*.env_file": _env_files,
    "services.*.labels": _LABELS,
    "services.*.annotations": _LABELS,
    "services.*.sysctls": _LABELS,
    "services.*.extra_hosts": _extra_hosts,
    "services.*.ports": _ports,
    "services.*.expose": _str_list,
    "services.*.volumes.[]": _volume,
    "services.*.volumes.[].tmpfs.size": _byte_size,
    "services.*.tmpfs": _str_list,
    "services.*.depends_on": _depends_on,
    "services.*.links": _str_list,
    "services.*.external_links": _str_list,
    "services.*.dns": _str_list,
    "services.*.dns_search": _str_list,
    "services.*.dns_opt": _str_list,
    "services.*.cap_add": _str_list,
    "services.*.cap_drop": _str_list,
    "services.*.security_opt": _str_list,
    "services.*.group_add": _str_list,
    "services.*.profiles": _str_list,
    "services.*.devices.[]": _device,
    "services.*.networks": _service_networks,
    "services.*.networks.*.aliases": _str_list,
    "services.*.networks.*.driver_opts": _LABELS,
    "services.*.secrets.[]": _file_reference,
    "services.*.configs.[]": _file_reference,
    "services.*.ulimits.*": _ulimit,
    "services.*.healthcheck.test": _healthcheck_test,
    "services.*.healthcheck.interval": _duration,
    "services.*.healthcheck.timeout": _duration,
    "services.*.healthcheck.start_period": _duration,
    "services.*.healthcheck.start_interval": _duration,
    "services.*.healthcheck.retries": _int,
    "services.*.stop_grace_period": _duration,
    "services.*.mem_limit": _byte_size,
    "services.*.mem_reservation": _byte_size,
    "services.*.memswap_limit": _byte_size,
    "services.*.shm_size": _byte_size,
    "services.*.cpus": _float,
    "services.*.build": _build,
    "services.*.build.args": _NULLABLE_MAPPING,
    "services.*.build.labels": _LABELS,
    "services.*.build.extra_hosts": _extra_hosts,
    "services.*.build.shm_size": _byte_size,
    "services.*.build.secrets.[]": _file_reference,
    "services.*.build.ulimits.*": _ulimit,
    "services.*.deploy.labels": _LABELS,
    "services.*.deploy.resources.limits.memory": _byte_size,
    "services.*.deploy.resources.reservations.memory": _byte_size,
    "services.*.deploy.resources.limits.cpus": _float,
    "services.*.deploy.resources.reservations.cpus": _float,
    "services.*.deploy.resources.reservations.devices.[]": _device_request,
    "services.*.deploy.restart_policy.delay": _duration,
    "services.*.deploy.restart_policy.window": _duration,
    "services.*.deploy.update_config.delay": _duration,
    "services.*.deploy.update_config.monitor": _duration,
    "services.*.deploy.rollback_config.delay": _duration,
    "services.*.deploy.rollback_config.monitor": _duration,
    **{f"{kind}.*": _resource for kind in _RESOURCE_KINDS},
    **{f"{kind}.*.labels": _LABELS for kind in _RESOURCE_KINDS},
    "networks.*.driver_opts": _LABELS,
    "volumes.*.driver_opts": _LABELS,
}


def _compile(rules: dict[str, Rule]) -> dict[int, list[tuple[tuple, Rule]]]:
    by_length: dict[int, list[tuple[tuple, Rule]]] = {}
    for pattern, rule in rules.items():
        parts = tuple(pattern.split("."))
        by_length.setdefault(len(parts), []).append((parts, rule))
    return by_length


_RULES_BY_LENGTH = _compile(RULES)
