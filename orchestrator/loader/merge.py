"""Phase 4c: merging stack documents (`-f a.yaml -f b.yaml`, override files, `extends`).

Called by `loader.load_stack` to fold the documents of several files into one, and by
`extends` to lay a service over the service it extends. Rules (Compose spec, "Merge"):
mappings merge recursively and the later value wins; sequences are appended; `command`,
`entrypoint` and `healthcheck.test` are replaced; keys that accept a list or a mapping
(`environment`, `labels`, `depends_on`, service `networks`, ...) are brought to mapping form
first so `A=1` in one file and `A: 2` in the other meet; `ports`, `volumes`, `secrets`,
`configs` keep one entry per identity (volumes by target), the later one winning. A value
tagged `!reset` removes the key, `!override` replaces it without merging.

Positions travel with the values (see `tree`), so after merging every value still points
at the file that wrote it.
"""

from __future__ import annotations

from typing import Any, Callable

from orchestrator.errors import Position
from orchestrator.loader.tree import PList, PMap, deepcopy

_NOWHERE = Position("<merged>")

Merger = Callable[[Any, Any, tuple], Any]


def merge(base: PMap, override: PMap) -> PMap:
    """A new document: `override` laid over `base` (neither is modified)."""
    return _merge_value(base, override, ())


def merge_service(base: PMap, override: PMap, path: tuple = ("services", "_")) -> PMap:
    """`override` (a service) laid over `base` (the service it extends)."""
    return _merge_value(base, override, path)


def apply_reset_tags(document: Any) -> Any:
    """Drop keys tagged `!reset` (and forget `!override`) in a document that has no base."""
    if isinstance(document, PMap):
        for key, tag in list(document.tags.items()):
            if tag == "reset":
                document.remove(key)
        document.tags.clear()
        for value in document.values():
            apply_reset_tags(value)
    elif isinstance(document, PList):
        for value in document:
            apply_reset_tags(value)
    return document


# ---- rules ---------------------------------------------------------------------------------

def _replace(base: Any, override: Any, path: tuple) -> Any:
    return deepcopy(override)


def _append(base: Any, override: Any, path: tuple) -> Any:
    if not isinstance(base, PList) or not isinstance(override, PList):
        return deepcopy(override)
    out = PList(override.pos, (deepcopy(v) for v in base), base.item_pos)
    for index, value in enumerate(override):
        out.add(deepcopy(value), override.item_position(index))
    return out


def _append_unique(base: Any, override: Any, path: tuple) -> Any:
    base, override = _as_list(base), _as_list(override)
    if base is None or override is None:
        return deepcopy(override)
    out = PList(override.pos)
    seen: list[Any] = []
    for source in (base, override):
        for index, value in enumerate(source):
            if value not in seen:
                seen.append(value)
                out.add(deepcopy(value), source.item_position(index))
    return out


def _unique_by(identity: Callable[[Any], Any]) -> Merger:
    """Sequence merge keeping one entry per identity; the override's entry wins, in place."""

    def merger(base: Any, override: Any, path: tuple) -> Any:
        if not isinstance(base, PList) or not isinstance(override, PList):
            return deepcopy(override)
        out = PList(override.pos)
        index_of: dict[Any, int] = {}
        for source in (base, override):
            for index, value in enumerate(source):
                key = identity(value)
                if key is not None and key in index_of:
                    at = index_of[key]
                    out[at] = deepcopy(value)
                    out.item_pos[at] = source.item_position(index)
                    continue
                if key is not None:
                    index_of[key] = len(out)
                out.add(deepcopy(value), source.item_position(index))
        return out

    return merger


def _as_mapping_then_merge(separator: str) -> Merger:
    """For keys that take `["A=1"]` or `{A: 1}`: merge as mappings, later wins."""

    def merger(base: Any, override: Any, path: tuple) -> Any:
        base_map, over_map = _to_mapping(base, separator), _to_mapping(override, separator)
        if base_map is None or over_map is None:
            return deepcopy(override)
        return _merge_mapping(base_map, over_map, path)

    return merger


def _depends_on(base: Any, override: Any, path: tuple) -> Any:
    return _merge_mapping(_list_to_keys(base, {"condition": "service_started"}),
                          _list_to_keys(override, {"condition": "service_started"}), path)


def _service_networks(base: Any, override: Any, path: tuple) -> Any:
    return _merge_mapping(_list_to_keys(base, None), _list_to_keys(override, None), path)


def _build(base: Any, override: Any, path: tuple) -> Any:
    return _merge_value(_context_form(base), _context_form(override), path, skip_rules=True)


def _logging(base: Any, override: Any, path: tuple) -> Any:
    # A different driver makes the base's options meaningless: start from the override.
    if (isinstance(base, PMap) and isinstance(override, PMap)
            and "driver" in base and "driver" in override and base["driver"] != override["driver"]):
        return deepcopy(override)
    return _merge_value(base, override, path, skip_rules=True)


def _port_identity(value: Any) -> Any:
    if isinstance(value, (str, int)):
        return ("short", str(value))
    if isinstance(value, dict):
        return ("long", value.get("host_ip"), str(value.get("published")), value.get("target"),
                value.get("protocol", "tcp"), value.get("mode"))
    return None


def _volume_target(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("target")
    if isinstance(value, str):
        # SOURCE:TARGET[:MODE] or TARGET alone (anonymous volume).
        parts = value.split(":")
        return parts[0] if len(parts) == 1 else parts[1]
    return None


def _source_identity(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return (value.get("source"), value.get("target"))
    return None


_S = ("services", "*")
# Path pattern -> merge rule; "*" matches any key. The first match wins; no match = default.
RULES: dict[tuple, Merger] = {
    _S + ("command",): _replace,
    _S + ("entrypoint",): _replace,
    _S + ("healthcheck", "test"): _replace,
    _S + ("environment",): _as_mapping_then_merge("="),
    _S + ("labels",): _as_mapping_then_merge("="),
    _S + ("annotations",): _as_mapping_then_merge("="),
    _S + ("sysctls",): _as_mapping_then_merge("="),
    _S + ("build", "args"): _as_mapping_then_merge("="),
    _S + ("build", "labels"): _as_mapping_then_merge("="),
    _S + ("extra_hosts",): _append_unique,
    _S + ("depends_on",): _depends_on,
    _S + ("networks",): _service_networks,
    _S + ("build",): _build,
    _S + ("logging",): _logging,
    _S + ("ports",): _unique_by(_port_identity),
    _S + ("volumes",): _unique_by(_volume_target),
    _S + ("secrets",): _unique_by(_source_identity),
    _S + ("configs",): _unique_by(_source_identity),
    _S + ("dns",): _append_unique,
    _S + ("dns_search",): _append_unique,
    _S + ("dns_opt",): _append_unique,
    _S + ("tmpfs",): _append_unique,
    _S + ("env_file",): _append_unique,
    _S + ("label_file",): _append_unique,
    _S + ("expose",): _append_unique,
    _S + ("cap_add",): _append_unique,
    _S + ("cap_drop",): _append_unique,
    _S + ("security_opt",): _append_unique,
    _S + ("group_add",): _append_unique,
    _S + ("profiles",): _append_unique,
    _S + ("links",): _append_unique,
    _S + ("external_links",): _append_unique,
    _S + ("volumes_from",): _append_unique,
    _S + ("devices",): _append_unique,
}
_RULES_BY_LEN: dict[int, list[tuple[tuple, Merger]]] = {}
for _pattern, _rule in RULES.items():
    _RULES_BY_LEN.setdefault(len(_pattern), []).append((_pattern, _rule))


def _rule_for(path: tuple) -> Merger | None:
    for pattern, rule in _RULES_BY_LEN.get(len(path), ()):
        if all(p == "*" or p == q for p, q in zip(pattern, path)):
            return rule
    return None


# ---- the engine ----------------------------------------------------------------------------

def _merge_value(base: Any, override: Any, path: tuple, *, skip_rules: bool = False) -> Any:
    if not skip_rules and path:
        rule = _rule_for(path)
        if rule is not None and base is not None and override is not None:
            return rule(base, override, path)
    if isinstance(base, PMap) and isinstance(override, PMap):
        return _merge_mapping(base, override, path)
    if isinstance(base, PList) and isinstance(override, PList):
        return _append(base, override, path)
    return deepcopy(override)


def _merge_mapping(base: PMap, override: PMap, path: tuple) -> PMap:
    out = PMap(base.pos)
    for key in base:
        out.copy_entry(key, base)
        out[key] = deepcopy(base[key])
    out.tags = {k: v for k, v in base.tags.items() if v != "reset"}
    for key in override:
        tag = override.tags.get(key)
        if tag == "reset":
            out.remove(key)
            continue
        if tag == "override" or key not in out:
            out.copy_entry(key, override)
            out[key] = deepcopy(override[key])
            out.tags.pop(key, None)
            continue
        merged = _merge_value(out[key], override[key], path + (key,))
        out.put(key, merged, override.key_position(key), override.value_position(key))
    return out


def _as_list(value: Any) -> PList | None:
    if isinstance(value, PList):
        return value
    if isinstance(value, (str, dict)):
        return PList(getattr(value, "pos", None) or _NOWHERE, [value])
    return None


def _to_mapping(value: Any, separator: str) -> PMap | None:
    if isinstance(value, PMap):
        return value
    if not isinstance(value, PList):
        return None
    out = PMap(value.pos)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            return None
        key, sep, rest = item.partition(separator)
        pos = value.item_position(index)
        out.put(key, rest if sep else None, pos, pos)
    return out


def _list_to_keys(value: Any, default: Any) -> Any:
    if not isinstance(value, PList):
        return value
    out = PMap(value.pos)
    for index, item in enumerate(value):
        if isinstance(item, str):
            pos = value.item_position(index)
            filler = None
            if default is not None:
                filler = PMap(pos)
                for k, v in default.items():
                    filler.put(k, v, pos, pos)
            out.put(item, filler, pos, pos)
    return out


def _context_form(value: Any) -> Any:
    if isinstance(value, str):
        out = PMap(_NOWHERE)
        out.put("context", value)
        return out
    return value

